import { assert, assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import { Ip } from "../src/ip.ts";
import { Nft } from "../src/nft.ts";
import type { Runner } from "../src/runner.ts";
import { planPurge, type PurgeFacts, readRouteProtocol, renderPurge, runPurge } from "./purge.ts";

const FACTS: PurgeFacts = {
  veths: [],
  routes: [
    { table: 254, dst: "10.244.2.0/24", scope: "global", via: "10.98.0.2" },
    { table: 100, dst: "0.0.0.0/0", scope: "global", via: "10.0.0.1" },
  ],
  rules: [{ priority: 512, table: 254, dst: "10.244.1.0/24" }],
  table: true,
  daemonRunning: false,
  protocol: 116,
};

Deno.test("planPurge() removes the table, then every rule and route of tern's protocol", () => {
  const plan = planPurge(FACTS);
  assertEquals(plan.refused, undefined);
  assertEquals(plan.deleteTable, true);
  assertEquals(plan.lines, [
    "rule del to 10.244.1.0/24 lookup 254 priority 512 proto 116",
    "route del 10.244.2.0/24 table 254 proto 116",
    "route del 0.0.0.0/0 table 100 proto 116",
  ]);
});

Deno.test("planPurge() refuses while pods use tern's veths, saying how many and what to do", () => {
  const veths = ["tern0", "tern1", "tern2", "tern3", "tern4", "tern5"];
  const plan = planPurge({ ...FACTS, veths });
  assertEquals(
    plan.refused,
    "Cannot purge: 6 pods still use tern's network (veths tern0, tern1, tern2, tern3, tern4, …): delete them first (kubectl drain the node, or crictl rmp the pods), then purge again",
  );
  assertStringIncludes(planPurge({ ...FACTS, veths: ["tern0"] }).refused!, "1 pod still uses");
});

Deno.test("planPurge() refuses while ternd runs, except for a dry run", () => {
  assertStringIncludes(
    planPurge({ ...FACTS, daemonRunning: true }).refused!,
    "ternd is running and would put everything back: stop it first",
  );
  assertEquals(planPurge({ ...FACTS, daemonRunning: true }, { dryRun: true }).refused, undefined);
});

/** A kernel with tern's table, one peer route, one rule and the given links. */
function kernel(links: string[]) {
  const calls: string[] = [];
  const run: Runner = (argv, options) => {
    const text = argv.join(" ");
    calls.push(options?.stdin ? `${text}\n${options.stdin}` : text);
    const out = (stdout: string) => Promise.resolve({ code: 0, stdout, stderr: "" });
    if (text.includes("link show")) return out(JSON.stringify(links.map((ifname) => ({ ifname }))));
    if (text.includes("route show")) {
      return out(JSON.stringify([{ dst: "10.244.2.0/24", gateway: "10.98.0.2", protocol: "116" }]));
    }
    if (text.includes("rule show")) {
      return out(JSON.stringify([
        { priority: 0, src: "all", table: "local" },
        {
          priority: 512,
          src: "all",
          dst: "10.244.1.0",
          dstlen: 24,
          table: "main",
          protocol: "116",
        },
      ]));
    }
    if (text.includes("list table")) return out('{"nftables":[]}');
    return out("");
  };
  return { calls, ip: new Ip(run), nft: new Nft(run) };
}

Deno.test("runPurge() deletes the table, the rules and the routes, and reports them", async () => {
  const k = kernel(["lo", "eth0"]);
  const report = await runPurge(k.ip, k.nft, {
    protocol: 116,
    daemonRunning: false,
    dryRun: false,
  });
  assertEquals(report, {
    protocol: 116,
    dryRun: false,
    table: "deleted",
    routes: 1,
    rules: 1,
    failed: [],
  });
  assert(k.calls.includes("nft delete table inet tern"), k.calls.join("\n"));
  assert(
    k.calls.some((c) =>
      c.startsWith("ip -force -batch -") &&
      c.includes("rule del to 10.244.1.0/24 lookup 254 priority 512 proto 116") &&
      c.includes("route del 10.244.2.0/24 table 254 proto 116")
    ),
    k.calls.join("\n"),
  );
  assertEquals(
    renderPurge(report),
    "removed: table inet tern, 1 route and 1 rule of route protocol 116\n",
  );
});

Deno.test("runPurge() changes nothing when refused or on a dry run", async () => {
  const pods = kernel(["lo", "tern3f9a0c2b1d7"]);
  const refused = await runPurge(pods.ip, pods.nft, {
    protocol: 116,
    daemonRunning: false,
    dryRun: false,
  });
  assertStringIncludes(refused.refused!, "1 pod still uses tern's network (veths tern3f9a0c2b1d7)");
  const dry = kernel(["lo"]);
  const report = await runPurge(dry.ip, dry.nft, {
    protocol: 116,
    daemonRunning: true,
    dryRun: true,
  });
  assertEquals([report.refused, report.table, report.routes], [undefined, "kept", 1]);
  for (const calls of [pods.calls, dry.calls]) {
    assert(!calls.some((c) => c.includes("delete") || c.includes("-batch")), calls.join("\n"));
  }
  assertStringIncludes(renderPurge(report), "would remove: table inet tern, 1 route and 1 rule");
});

Deno.test("readRouteProtocol() reads routeProtocol, defaults to 116, and refuses a bad value", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertEquals(await readRouteProtocol(`${dir}/none.yaml`), 116);
    await Deno.writeTextFile(`${dir}/a.yaml`, "nodeName: n1\nrouteProtocol: 200\n");
    assertEquals(await readRouteProtocol(`${dir}/a.yaml`), 200);
    await Deno.writeTextFile(`${dir}/b.yaml`, "nodeName: n1\n");
    assertEquals(await readRouteProtocol(`${dir}/b.yaml`), 116);
    await Deno.writeTextFile(`${dir}/c.yaml`, "routeProtocol: 3\n");
    await assertRejects(
      () => readRouteProtocol(`${dir}/c.yaml`),
      Error,
      `Invalid config ${dir}/c.yaml: routeProtocol: must be an integer 5..255: got 3`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

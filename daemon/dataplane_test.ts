import { assert, assertEquals, assertRejects } from "../test/assert.ts";
import type { Endpoint } from "../src/api.ts";
import { Ip, type IpRoute } from "../src/ip.ts";
import { hostVethName } from "../src/names.ts";
import { CommandError, type Runner, type RunResult } from "../src/runner.ts";
import { Dataplane, planRoutes } from "./dataplane.ts";

function endpoint(ip: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    containerID: `c-${ip}`,
    ifname: "eth0",
    network: "tern",
    netns: `/var/run/netns/${ip}`,
    ip,
    podCIDR: "10.244.1.0/24",
    hostVeth: `tern${ip.split(".").join("").padEnd(11, "0")}`,
    podMac: "0a:58:00:00:00:01",
    state: "programmed",
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}

interface Call {
  argv: readonly string[];
  stdin: string | undefined;
}

/** A fake `ip`: answers by the joined argv, records every call. */
function fakeRunner(answers: Record<string, Partial<RunResult>> = {}) {
  const calls: Call[] = [];
  const run: Runner = (argv, options) => {
    calls.push({ argv, stdin: options?.stdin });
    const answer = answers[argv.join(" ")] ?? {};
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...answer });
  };
  return { run, calls };
}

Deno.test("planRoutes() installs missing and misdirected routes of programmed endpoints only", () => {
  const a = endpoint("10.244.1.2");
  const b = endpoint("10.244.1.3");
  const c = endpoint("10.244.1.4");
  const allocated = endpoint("10.244.1.5", { state: "allocated", hostVeth: "" });
  const have: IpRoute[] = [{ dst: "10.244.1.3", dev: "ternwrong00000" }, {
    dst: "10.244.1.4",
    dev: c.hostVeth,
  }];
  const plan = planRoutes(have, {
    endpoints: [a, b, c, allocated],
    veths: new Set([a.hostVeth, b.hostVeth, c.hostVeth]),
  });
  assertEquals(plan.install, [{ ip: a.ip, dev: a.hostVeth }, { ip: b.ip, dev: b.hostVeth }]);
  assertEquals(plan.remove, []);
});

Deno.test("planRoutes() skips endpoints whose veth is gone", () => {
  const a = endpoint("10.244.1.2");
  assertEquals(planRoutes([], { endpoints: [a], veths: new Set() }), { install: [], remove: [] });
});

Deno.test("planRoutes() removes owned /32 host routes that no endpoint holds, and nothing else", () => {
  const a = endpoint("10.244.1.2", { state: "allocated", hostVeth: "" });
  const have: IpRoute[] = [
    { dst: "10.244.1.9", dev: "tern00000000009" }, // stale: removed
    { dst: "10.244.1.10/32", dev: "tern0000000000a" }, // stale, written with /32: removed
    { dst: "10.244.1.2", dev: "tern00000000002" }, // held by an allocated endpoint: left
    { dst: "10.244.2.0/24", gateway: "192.168.0.2", dev: "eth0" }, // peer route: left
    { dst: "10.244.1.11", gateway: "192.168.0.2", dev: "eth0" }, // via a gateway: left
  ];
  const plan = planRoutes(have, { endpoints: [a], veths: new Set() });
  assertEquals(plan.install, []);
  assertEquals(plan.remove, [
    { ip: "10.244.1.9", dev: "tern00000000009" },
    { ip: "10.244.1.10", dev: "tern0000000000a" },
  ]);
});

Deno.test("programEndpoint() replaces the /32 route with tern's protocol through ip -batch", async () => {
  const { run, calls } = fakeRunner();
  const ep = endpoint("10.244.1.7");
  await new Dataplane(new Ip(run), { routeProtocol: 116 }).programEndpoint(ep);
  assertEquals(calls, [{
    argv: ["ip", "-batch", "-"],
    stdin: `route replace 10.244.1.7/32 dev ${ep.hostVeth} scope link proto 116\n`,
  }]);
});

Deno.test("programEndpoint() surfaces ip's error", async () => {
  const { run } = fakeRunner({
    "ip -batch -": { code: 1, stderr: 'Cannot find device "tern102441700000"' },
  });
  await assertRejects(
    () => new Dataplane(new Ip(run), { routeProtocol: 116 }).programEndpoint(endpoint("10.2.4.4")),
    CommandError,
    "Cannot find device",
  );
});

Deno.test("removeEndpoint() deletes only tern's route, then the veth; gone is success", async () => {
  const ep = endpoint("10.244.1.7");
  const { run, calls } = fakeRunner({
    "ip route del 10.244.1.7/32 proto 116": {
      code: 2,
      stderr: "RTNETLINK answers: No such process",
    },
    [`ip link del dev ${ep.hostVeth}`]: { code: 1, stderr: `Cannot find device "${ep.hostVeth}"` },
  });
  await new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(ep);
  assertEquals(calls.map((c) => c.argv.join(" ")), [
    "ip route del 10.244.1.7/32 proto 116",
    `ip link del dev ${ep.hostVeth}`,
  ]);
});

Deno.test("removeEndpoint() derives the veth name of an endpoint that was never programmed", async () => {
  const ep = endpoint("10.244.1.8", { state: "allocated", hostVeth: "", containerID: "abc" });
  const { run, calls } = fakeRunner();
  await new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(ep);
  assertEquals(calls[1]?.argv, ["ip", "link", "del", "dev", await hostVethName("abc", "eth0")]);
});

Deno.test("removeEndpoint() never deletes a link without tern's prefix", async () => {
  const { run, calls } = fakeRunner();
  await new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(
    endpoint("10.244.1.8", { hostVeth: "eth0" }),
  );
  assertEquals(calls.map((c) => c.argv.join(" ")), ["ip route del 10.244.1.8/32 proto 116"]);
});

Deno.test("removeEndpoint() throws on a real failure", async () => {
  const { run } = fakeRunner({
    "ip route del 10.244.1.7/32 proto 116": {
      code: 2,
      stderr: "RTNETLINK answers: Operation not permitted",
    },
  });
  await assertRejects(
    () => new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(endpoint("10.244.1.7")),
    CommandError,
    "Operation not permitted",
  );
});

Deno.test("syncRoutes() lists by protocol, installs, removes and reports failures", async () => {
  const a = endpoint("10.244.1.2");
  const b = endpoint("10.244.1.3");
  const routes = JSON.stringify([{ dst: "10.244.1.99", dev: "tern00000000099", scope: "link" }]);
  const links = JSON.stringify([
    { ifindex: 1, ifname: "lo" },
    { ifindex: 5, ifname: a.hostVeth },
    { ifindex: 6, ifname: b.hostVeth },
  ]);
  const calls: Call[] = [];
  const run: Runner = (argv, options) => {
    calls.push({ argv, stdin: options?.stdin });
    const key = argv.join(" ");
    if (key === "ip -json route show proto 200") {
      return Promise.resolve({ code: 0, stdout: routes, stderr: "" });
    }
    if (key === "ip -json link show") {
      return Promise.resolve({ code: 0, stdout: links, stderr: "" });
    }
    if (options?.stdin?.includes(b.ip)) {
      return Promise.resolve({
        code: 2,
        stdout: "",
        stderr: "RTNETLINK answers: Invalid argument",
      });
    }
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  };
  const result = await new Dataplane(new Ip(run), { routeProtocol: 200 }).syncRoutes([a, b]);
  assertEquals(result.install, [{ ip: a.ip, dev: a.hostVeth }, { ip: b.ip, dev: b.hostVeth }]);
  assertEquals(result.remove, [{ ip: "10.244.1.99", dev: "tern00000000099" }]);
  assertEquals(result.failed.length, 1);
  assert(result.failed[0]!.startsWith(`install ${b.ip}/32`));
  assertEquals(calls.map((c) => c.stdin ?? c.argv.join(" ")), [
    "ip -json route show proto 200",
    "ip -json link show",
    `route replace ${a.ip}/32 dev ${a.hostVeth} scope link proto 200\n`,
    `route replace ${b.ip}/32 dev ${b.hostVeth} scope link proto 200\n`,
    "ip route del 10.244.1.99/32 dev tern00000000099 proto 200",
  ]);
});

Deno.test("enableIpForward() writes 1 once and leaves an enabled switch alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ip_forward`;
    await Deno.writeTextFile(path, "0\n");
    const dataplane = new Dataplane(new Ip(fakeRunner().run), {
      routeProtocol: 116,
      ipForwardPath: path,
    });
    assertEquals(await dataplane.enableIpForward(), true);
    assertEquals(await Deno.readTextFile(path), "1\n");
    assertEquals(await dataplane.enableIpForward(), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import type { AllocateResponse } from "../src/api.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { type PodLink, renderPodSide, renderVethAdd } from "../src/ip.ts";
import { hostVethMac, hostVethName } from "../src/names.ts";
import { fakeContext, fakeDaemon, fakeRunner, type Script } from "./_testing.ts";
import { cmdAdd, failedBatchLine } from "./cmd_add.ts";
import type { AddCheckEnv } from "./env.ts";

const env: AddCheckEnv = {
  command: "ADD",
  containerId: "ctr1",
  ifname: "eth0",
  netns: "/var/run/netns/pod1",
  args: { ignoreUnknown: true, podNamespace: "default", podName: "web-0" },
};
const podMac = "0a:58:0a:f4:01:07";
const hostVeth = await hostVethName("ctr1", "eth0");
const hostMac = hostVethMac(hostVeth);
const link: PodLink = {
  hostVeth,
  hostMac,
  ifname: "eth0",
  podMac,
  netns: env.netns,
  ip: "10.244.1.7",
  mtu: 1500,
};
const vethBatch = ["ip", "-batch", "-"];
const podBatch = ["ip", "-n", "pod1", "-batch", "-"];
const linkDel = ["ip", "link", "del", "dev", hostVeth];

/** A runner and daemon that log into one list, so the test sees their relative order. */
function world(
  options: { script?: Script; created?: boolean; program?: () => Promise<never> } = {},
) {
  const events: string[] = [];
  const runner = fakeRunner((call) => {
    events.push(`run ${call.argv.join(" ")}`);
    return options.script?.(call);
  });
  const allocation: AllocateResponse = {
    ip: "10.244.1.7",
    podCIDR: "10.244.1.0/24",
    gateway: "169.254.1.1",
    created: options.created ?? true,
  };
  const daemon = fakeDaemon({
    allocate: () => (events.push("allocate"), Promise.resolve(allocation)),
    release: () => (events.push("release"), Promise.resolve({ released: true, ip: "10.244.1.7" })),
    ...(options.program ? { program: () => (events.push("program"), options.program!()) } : {}),
  });
  return { events, runner, daemon, ctx: fakeContext(env, { runner, daemon }) };
}

const fail = (stderr: string) => ({ code: 1, stderr });

Deno.test("cmdAdd() allocates, runs exactly two ip batches, programs the host side and returns the result", async () => {
  const { runner, daemon, ctx } = world();
  const result = await cmdAdd(ctx, { podMac });

  assertEquals(runner.calls, [
    { argv: vethBatch, stdin: renderVethAdd(link).join("\n") + "\n" },
    { argv: podBatch, stdin: renderPodSide(link).join("\n") + "\n" },
  ]);
  assertEquals(daemon.calls, [
    ["allocate", {
      network: "tern",
      containerID: "ctr1",
      ifname: "eth0",
      netns: "/var/run/netns/pod1",
      podNamespace: "default",
      podName: "web-0",
    }],
    ["program", {
      network: "tern",
      containerID: "ctr1",
      ifname: "eth0",
      netns: "/var/run/netns/pod1",
      hostVeth,
      podMac,
      ip: "10.244.1.7",
    }],
  ]);
  assertEquals(result, {
    interfaces: [
      { name: hostVeth, mac: hostMac, mtu: 1500 },
      { name: "eth0", mac: podMac, mtu: 1500, sandbox: "/var/run/netns/pod1" },
    ],
    ips: [{ address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
    dns: {},
  });
});

Deno.test("cmdAdd() uses the config's mtu and dns and a random pod MAC by default", async () => {
  const runner = fakeRunner();
  const ctx = fakeContext(env, { runner });
  ctx.conf = { ...ctx.conf, mtu: 1450, dns: { nameservers: ["10.96.0.10"] } };
  const result = await cmdAdd(ctx);
  assertStringIncludes(runner.calls[0]?.stdin ?? "", `link add ${hostVeth} mtu 1450`);
  assertEquals(result.dns, { nameservers: ["10.96.0.10"] });
  assertEquals(result.interfaces[1]?.mtu, 1450);
  const mac = result.interfaces[1]?.mac ?? "";
  assertEquals(parseInt(mac.slice(0, 2), 16) & 3, 2);
});

Deno.test("cmdAdd() rolls back the veth, then the allocation, when the pod-side batch fails", async () => {
  const { events, ctx } = world({
    script: (call) =>
      call.argv[1] === "-n"
        ? fail("RTNETLINK answers: Permission denied\nCommand failed -:1")
        : undefined,
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 5);
  assertEquals(
    err.message,
    "Cannot configure eth0 in /var/run/netns/pod1: RTNETLINK answers: Permission denied",
  );
  assertEquals(events, [
    "allocate",
    `run ${vethBatch.join(" ")}`,
    `run ${podBatch.join(" ")}`,
    `run ${linkDel.join(" ")}`,
    "release",
  ]);
});

Deno.test("cmdAdd() rolls back in reverse order when the daemon fails to program the host side", async () => {
  const { events, ctx } = world({
    program: () => Promise.reject(new DaemonApiError(500, "internal", "KV commit failed")),
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 11);
  assertEquals(err.message, "Daemon failed to program the host side: KV commit failed");
  assertEquals(events, [
    "allocate",
    `run ${vethBatch.join(" ")}`,
    `run ${podBatch.join(" ")}`,
    "program",
    `run ${linkDel.join(" ")}`,
    "release",
  ]);
});

Deno.test("cmdAdd() does not release an address it did not create when a later step fails", async () => {
  const { events, ctx } = world({
    created: false,
    script: (call) => call.argv[1] === "-n" ? fail("Command failed -:3") : undefined,
  });
  await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(events.includes("release"), false);
  assertEquals(events.at(-1), `run ${linkDel.join(" ")}`);
});

Deno.test("cmdAdd() keeps going with the rollback when one undo step fails", async () => {
  const { events, ctx } = world({
    script: (call) => {
      if (call.argv[1] === "-n") return fail("Command failed -:2");
      if (call.argv[1] === "link" && call.argv[2] === "del") return fail("RTNETLINK answers: Busy");
    },
  });
  await assertRejects(() => cmdAdd(ctx, { podMac }), CniError, "Cannot configure eth0");
  assertEquals(events.at(-1), "release");
});

const exists = "RTNETLINK answers: File exists\nCommand failed -:1\n";

Deno.test("cmdAdd() reports an existing host veth and neither deletes it nor releases its address", async () => {
  const { events, ctx } = world({
    created: false,
    script: (call) => {
      if (call.argv.join(" ") === vethBatch.join(" ")) return fail(exists);
      if (call.argv.includes("show")) {
        return { stdout: JSON.stringify([{ ifname: hostVeth, ifindex: 9, address: hostMac }]) };
      }
    },
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 4);
  assertEquals(
    err.message,
    `Attachment already exists: host veth ${hostVeth} for CNI_CONTAINERID and CNI_IFNAME eth0 is present`,
  );
  assertEquals(events, [
    "allocate",
    `run ${vethBatch.join(" ")}`,
    `run ip -json link show dev ${hostVeth}`,
  ]);
});

Deno.test("cmdAdd() reports an existing pod interface, releasing only the address it just claimed", async () => {
  const { events, ctx } = world({
    created: true,
    script: (call) => {
      if (call.argv.join(" ") === vethBatch.join(" ")) return fail(exists);
      if (call.argv.includes("show")) return fail(`Device "${hostVeth}" does not exist.`);
    },
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 4);
  assertEquals(
    err.message,
    "Interface already exists: CNI_IFNAME eth0 is present in /var/run/netns/pod1",
  );
  assertEquals(events.some((e) => e.includes(" del ")), false);
  assertEquals(events.at(-1), "release");
});

Deno.test("cmdAdd() deletes the veth when the first batch failed after creating it", async () => {
  const { events, ctx } = world({
    script: (call) =>
      call.argv.join(" ") === vethBatch.join(" ")
        ? fail("Error: mtu too big\nCommand failed -:2")
        : undefined,
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 5);
  assertEquals(err.message, `Cannot create veth pair ${hostVeth}/eth0: Error: mtu too big`);
  assertEquals(events.slice(-2), [`run ${linkDel.join(" ")}`, "release"]);
});

Deno.test("cmdAdd() deletes nothing when ip stopped on the first line of the veth batch", async () => {
  const { events, ctx } = world({
    script: (call) =>
      call.argv.join(" ") === vethBatch.join(" ")
        ? { code: 255, stderr: `Error: argument "/x" is wrong: Invalid "netns" value` }
        : undefined,
  });
  await assertRejects(() => cmdAdd(ctx, { podMac }), CniError, "Cannot create veth pair");
  assertEquals(events, ["allocate", `run ${vethBatch.join(" ")}`, "release"]);
});

Deno.test("cmdAdd() fails with code 11 naming the socket when the daemon is unreachable", async () => {
  const runner = fakeRunner();
  const daemon = fakeDaemon({
    allocate: () =>
      Promise.reject(
        new DaemonUnavailableError("/run/tern/ternd.sock", "No such file or directory"),
      ),
  });
  const err = await assertRejects(() => cmdAdd(fakeContext(env, { runner, daemon })), CniError);
  assertEquals(err.code, 11);
  assertStringIncludes(err.message, "/run/tern/ternd.sock");
  assertEquals(runner.calls.length, 0);
});

Deno.test("cmdAdd() fails with code 11 and a clear message when the pool is exhausted", async () => {
  const daemon = fakeDaemon({
    allocate: () =>
      Promise.reject(new DaemonApiError(503, "exhausted", "No free address in 10.244.1.0/24")),
  });
  const err = await assertRejects(() => cmdAdd(fakeContext(env, { daemon })), CniError);
  assertEquals(err.code, 11);
  assertEquals(err.message, "No free pod address on this node: No free address in 10.244.1.0/24");
});

Deno.test("failedBatchLine() reads the line number ip -batch reports", () => {
  assertEquals(failedBatchLine("RTNETLINK answers: File exists\nCommand failed -:1\n"), 1);
  assertEquals(failedBatchLine("Command failed -:12"), 12);
  assertEquals(failedBatchLine(`Error: argument "x" is wrong`), undefined);
});

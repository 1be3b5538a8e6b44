import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";
import type { Node } from "../../src/cluster/types.ts";
import { FakeClock } from "../../src/clock.ts";
import { Ip } from "../../src/ip.ts";
import type { Logger } from "../../src/log.ts";
import { FakeIp } from "./_fake_ip.ts";
import { desiredState, type DesiredStateInput } from "../../src/routing/desired_state.ts";
import type { LocalEndpoint } from "../../src/local_endpoints.ts";
import { missingDevice, type PassResult, Reconciler } from "./reconciler.ts";
import type { RoutingConfig } from "../../src/routing/routing_config.ts";

const routing: RoutingConfig = {
  mode: "routes",
  addressTypes: ["InternalIP"],
  clusterCIDRs: ["10.244.0.0/16"],
  egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1", dev: "eg0" }],
  egressBinding: { annotation: "tern.dev/egress-table", label: "tern.dev/egress-table" },
};

function node(name: string, cidr: string, address: string): Node {
  return {
    kind: "Node",
    name,
    labels: {},
    addresses: [{ type: "InternalIP", address }],
    podCIDRs: [cidr],
  };
}

function endpoint(n: number, pod?: string): LocalEndpoint {
  const ep: LocalEndpoint = {
    containerID: `c${n}`,
    ifname: "eth0",
    ip: `10.244.1.${n}`,
    hostVeth: `tern${String(n).padStart(11, "0")}`,
  };
  if (pod) {
    ep.podNamespace = "default";
    ep.podName = pod;
  }
  return ep;
}

/** A reconciler over a fake kernel; `input` can be edited between passes. */
function fixture(
  options: { clock?: FakeClock; log?: Logger; onPass?: (pass: PassResult) => void } = {},
) {
  const kernel = new FakeIp();
  const input: DesiredStateInput = {
    nodeName: "node-a",
    podCIDRs: ["10.244.1.0/24"],
    endpoints: [endpoint(2, "web"), endpoint(3)],
    nodes: [
      node("node-a", "10.244.1.0/24", "192.168.50.1"),
      node("node-b", "10.244.2.0/24", "192.168.50.2"),
      node("node-c", "10.244.3.0/24", "192.168.50.3"),
    ],
    pod: (namespace, name) =>
      namespace === "default" && name === "web"
        ? { labels: { "tern.dev/egress-table": "egress-a" }, annotations: {} }
        : undefined,
    routing,
    ownPodCIDRRoute: "unreachable",
    cluster: true,
  };
  const reconciler = new Reconciler({
    ip: new Ip(kernel.run),
    desired: () => desiredState(input),
    ...(options.log ? { log: options.log } : {}),
    ...(options.onPass ? { onPass: options.onPass } : {}),
  }, {
    protocol: 116,
    intervalMs: 60_000,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { kernel, input, reconciler };
}

const batchLines = (kernel: FakeIp) =>
  kernel.calls.filter((c) => c.startsWith("ip -force -batch -")).map((c) => c.split("\n").slice(1));

Deno.test("Reconciler.pass() applies the whole difference as one ip -force -batch, and a second pass changes nothing", async () => {
  const { kernel, reconciler } = fixture();
  const first = await reconciler.pass("start");
  // Routes, then rules, each in the order of their identity (table, destination; priority, selectors).
  assertEquals(batchLines(kernel), [[
    "route replace 0.0.0.0/0 via 10.97.0.1 dev eg0 table 100 proto 116",
    "route replace unreachable 10.244.1.0/24 table 254 proto 116",
    "route replace 10.244.1.2/32 dev tern00000000002 scope link table 254 proto 116",
    "route replace 10.244.1.3/32 dev tern00000000003 scope link table 254 proto 116",
    "route replace 10.244.2.0/24 via 192.168.50.2 table 254 proto 116",
    "route replace 10.244.3.0/24 via 192.168.50.3 table 254 proto 116",
    "rule add from 10.244.1.2/32 lookup 100 priority 1536 proto 116",
    "rule add to 10.244.0.0/16 lookup 254 priority 512 proto 116",
    "rule add to 10.244.1.0/24 lookup 254 priority 512 proto 116",
  ]]);
  assertEquals(
    [first.trigger, first.added, first.replaced, first.deleted, first.failed, first.applyRuns],
    ["start", 9, 0, 0, 0, 1],
  );
  const status = reconciler.status();
  assertEquals([status.ownedRoutes, status.ownedRules, status.passes], [6, 3, 1]);

  const second = await reconciler.pass("periodic");
  assertEquals([second.added, second.replaced, second.deleted, second.applyRuns], [0, 0, 0, 0]);
  assertEquals(batchLines(kernel).length, 1, "the second pass ran no batch");
  assertEquals(reconciler.status().lastChange?.trigger, "start");
});

Deno.test("Reconciler.pass() repairs deleted and changed entries and deletes its own strays, never foreign ones", async () => {
  const told: PassResult[] = [];
  const { kernel, input, reconciler } = fixture({ onPass: (pass) => told.push(pass) });
  await reconciler.pass("start");
  // Drift: a host route and a rule deleted, a peer route changed, a stray of ours, and foreign
  // entries (no protocol, or another) that overlap ours.
  kernel.routes = kernel.routes.filter((r) => r.dst !== "10.244.1.3/32");
  kernel.rules = kernel.rules.filter((r) => r.src !== "10.244.1.2/32");
  kernel.routes.find((r) => r.dst === "10.244.2.0/24")!.via = "192.168.50.99";
  kernel.routes.push({ table: 254, dst: "10.244.9.0/24", via: "192.168.50.9", proto: 116 });
  kernel.routes.push({ table: 254, dst: "10.244.7.0/24", via: "192.168.50.7", proto: 4 });
  kernel.routes.push({ table: 254, dst: "10.244.1.50/32", dev: "eth0", proto: 0 });
  kernel.rules.push({ priority: 512, dst: "10.244.1.50/32", table: 254, proto: 0 });
  kernel.rules.push({ priority: 1536, src: "10.244.1.3/32", table: 100, proto: 3 });
  input.nodes = input.nodes.filter((n) => n.name !== "node-c"); // node-c left

  const repair = await reconciler.pass("monitor");
  assertEquals(batchLines(kernel)[1], [
    "route replace 10.244.1.3/32 dev tern00000000003 scope link table 254 proto 116",
    "route replace 10.244.2.0/24 via 192.168.50.2 table 254 proto 116",
    "rule add from 10.244.1.2/32 lookup 100 priority 1536 proto 116",
    "route del 10.244.3.0/24 table 254 proto 116",
    "route del 10.244.9.0/24 table 254 proto 116",
  ]);
  assertEquals([repair.added, repair.replaced, repair.deleted], [2, 1, 2]);
  // By kind of object, for the metrics, which hear of every pass.
  assertEquals(repair.objects, {
    route: { added: 1, replaced: 1, deleted: 2, failed: 0 },
    rule: { added: 1, replaced: 0, deleted: 0, failed: 0 },
  });
  assertEquals(told.map((p) => p.trigger), ["start", "monitor"]);
  const after = await reconciler.pass("periodic");
  assertEquals(after.added + after.replaced + after.deleted, 0);
  assert(kernel.routes.some((r) => r.dst === "10.244.7.0/24" && r.proto === 4));
  assert(kernel.routes.some((r) => r.dst === "10.244.1.50/32" && r.proto === 0));
  assert(kernel.rules.some((r) => r.dst === "10.244.1.50/32" && r.proto === 0));
  assert(kernel.rules.some((r) => r.src === "10.244.1.3/32" && r.proto === 3));
  for (const lines of batchLines(kernel)) {
    for (const line of lines) assert(line.endsWith("proto 116"), line);
  }
});

Deno.test("Reconciler.pass() installs no rule without a binding, all of them with the first, and removes them with the last", async () => {
  const { kernel, input, reconciler } = fixture();
  const bound = input.pod!;
  input.pod = () => undefined;
  // What an earlier version left: a per-pod `to` rule of ours goes, a foreign one stays.
  kernel.rules.push({ priority: 512, dst: "10.244.1.3/32", table: 254, proto: 116 });
  kernel.rules.push({ priority: 512, dst: "10.244.1.50/32", table: 254, proto: 0 });
  await reconciler.pass("start");
  assertEquals(batchLines(kernel)[0]!.filter((l) => l.startsWith("rule ")), [
    "rule del to 10.244.1.3/32 lookup 254 priority 512 proto 116",
  ]);
  assertEquals(kernel.rules.filter((r) => r.proto === 116), []);
  assertEquals(reconciler.status().ownedRules, 0);

  input.pod = bound; // the pod's label arrives: the first binding
  const first = await reconciler.pass("cluster");
  assertEquals(batchLines(kernel)[1], [
    "rule add from 10.244.1.2/32 lookup 100 priority 1536 proto 116",
    "rule add to 10.244.0.0/16 lookup 254 priority 512 proto 116",
    "rule add to 10.244.1.0/24 lookup 254 priority 512 proto 116",
  ]);
  assertEquals([first.added, reconciler.status().ownedRules], [3, 3]);

  // Drift in the bound state: our CIDR rule deleted by hand comes back.
  kernel.rules = kernel.rules.filter((r) => r.dst !== "10.244.1.0/24");
  assertEquals(batchLines(kernel).length, 2);
  await reconciler.pass("monitor");
  assertEquals(batchLines(kernel)[2], [
    "rule add to 10.244.1.0/24 lookup 254 priority 512 proto 116",
  ]);

  input.endpoints = input.endpoints.filter((ep) => ep.ip !== "10.244.1.2"); // the bound pod goes
  const last = await reconciler.pass("endpoints");
  assertEquals(batchLines(kernel)[3]!.filter((l) => l.startsWith("rule ")), [
    "rule del from 10.244.1.2/32 lookup 100 priority 1536 proto 116",
    "rule del to 10.244.0.0/16 lookup 254 priority 512 proto 116",
    "rule del to 10.244.1.0/24 lookup 254 priority 512 proto 116",
  ]);
  assertEquals(last.failed, 0);
  assertEquals(kernel.rules.filter((r) => r.proto === 116), []);
  assertEquals(reconciler.status().ownedRules, 0);

  // Drift in the unbound state: a rule of ours that appears is taken away again.
  kernel.rules.push({ priority: 1536, src: "10.244.1.3/32", table: 100, proto: 116 });
  const stray = await reconciler.pass("monitor");
  assertEquals(stray.deleted, 1);
  assertEquals(kernel.rules.filter((r) => r.proto === 116), []);
  assert(kernel.rules.some((r) => r.dst === "10.244.1.50/32" && r.proto === 0));
});

Deno.test("Reconciler.pass() adds a rule's new table before deleting the old one", async () => {
  const { kernel, reconciler } = fixture();
  await reconciler.pass("start");
  kernel.rules.find((r) => r.src === "10.244.1.2/32")!.table = 101;
  const pass = await reconciler.pass("periodic");
  assertEquals(batchLines(kernel)[1], [
    "rule add from 10.244.1.2/32 lookup 100 priority 1536 proto 116",
    "rule del from 10.244.1.2/32 lookup 101 priority 1536 proto 116",
  ]);
  assertEquals([pass.added, pass.replaced, pass.deleted], [0, 1, 0]);
  assertEquals(reconciler.status().ownedRules, 3);
});

Deno.test("a failing change never blocks the others, stays failing and is retried with exponential backoff", async () => {
  const clock = new FakeClock(1_000_000);
  const warnings: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`),
    error() {},
  };
  const { kernel, reconciler } = fixture({ clock, log });
  kernel.failing.set("10.244.2.0/24", "Error: Nexthop has invalid gateway.");
  const first = await reconciler.pass("start");
  assertEquals([first.added, first.failed, first.applyRuns], [8, 1, 1]);
  assert(!kernel.routes.some((r) => r.dst === "10.244.2.0/24"));
  assert(kernel.routes.some((r) => r.dst === "10.244.3.0/24"), "the next line still ran");
  let failing = reconciler.status().failing;
  assertEquals(failing.map((f) => [f.item, f.error, f.attempts, f.retryAt - clock.now()]), [[
    "route replace 10.244.2.0/24 via 192.168.50.2 table 254 proto 116",
    "Error: Nexthop has invalid gateway.",
    1,
    1_000,
  ]]);
  assertStringIncludes(warnings.join("\n"), "Cannot apply change");

  // Before its retry time the item is not attempted at all...
  await clock.tick(500);
  const early = await reconciler.pass("cluster");
  assertEquals([early.deferred, early.failed, early.applyRuns], [1, 0, 0]);
  // ...unless a netlink event says the kernel changed: then it is tried at once.
  const eager = await reconciler.pass("cluster,monitor");
  assertEquals([eager.deferred, eager.failed, eager.applyRuns], [0, 1, 1]);
  assertEquals(reconciler.status().failing[0]!.attempts, 2);

  await clock.tick(2_000);
  await reconciler.pass("retry");
  failing = reconciler.status().failing;
  assertEquals([failing[0]!.attempts, failing[0]!.retryAt - clock.now()], [3, 4_000]);
  await clock.tick(4_000);
  await reconciler.pass("retry");
  assertEquals(reconciler.status().failing[0]!.retryAt - clock.now(), 8_000);

  kernel.failing.clear();
  await clock.tick(8_000);
  const fixed = await reconciler.pass("retry");
  assertEquals([fixed.added, fixed.failed], [1, 0]);
  assertEquals(reconciler.status().failing, []);
  assert(kernel.routes.some((r) => r.dst === "10.244.2.0/24"));
});

Deno.test("a failing change that is no longer wanted is forgotten", async () => {
  const { kernel, input, reconciler } = fixture();
  kernel.failing.set("10.244.2.0/24", "Error: Nexthop has invalid gateway.");
  await reconciler.pass("start");
  assertEquals(reconciler.status().failing.length, 1);
  input.nodes = input.nodes.filter((n) => n.name !== "node-b");
  await reconciler.pass("cluster");
  assertEquals(reconciler.status().failing, []);
});

Deno.test("a failed batch that names no line falls back to line by line, judging lines already applied", async () => {
  const { kernel, reconciler } = fixture();
  // `ip` applied every line, then died without reporting: line by line, the adds of rules that
  // exist and nothing else fail, and "File exists" means done.
  kernel.crashNext = { result: { code: 137, stdout: "", stderr: "" }, applied: true };
  const pass = await reconciler.pass("start");
  assertEquals([pass.failed, pass.added, pass.applyRuns], [0, 9, 10]);
  assertEquals(batchLines(kernel).length, 10);
  assertEquals(batchLines(kernel).slice(1).every((lines) => lines.length === 1), true);
  assertEquals((await reconciler.pass("periodic")).applyRuns, 0);

  // Died before applying anything: line by line applies everything, one bad line apart.
  const other = fixture();
  other.kernel.crashNext = { result: { code: 1, stdout: "", stderr: "Killed" }, applied: false };
  other.kernel.failing.set("0.0.0.0/0", 'Cannot find device "eg0"');
  const second = await other.reconciler.pass("start");
  assertEquals([second.failed, second.added], [1, 8]);
  assertEquals(other.reconciler.status().failing[0]!.error, 'Cannot find device "eg0"');
});

Deno.test("Reconciler.pass() records a pass that cannot list the kernel and retries it", async () => {
  const clock = new FakeClock();
  const log: string[] = [];
  const reconciler = new Reconciler({
    ip: new Ip(() => Promise.resolve({ code: 1, stdout: "", stderr: "ip: not permitted" })),
    desired: () => ({ routes: [], rules: [], problems: [], peers: [] }),
    log: {
      debug() {},
      info() {},
      warn() {},
      error: (message, fields) => log.push(`${message} ${JSON.stringify(fields)}`),
    },
  }, { protocol: 116, intervalMs: 60_000, backoff: { initialMs: 20 }, clock });
  reconciler.start();
  try {
    const pass = await reconciler.pass("start");
    assertStringIncludes(pass.error ?? "", "ip: not permitted");
    assertEquals(reconciler.status().lastPass?.error, pass.error);
    await clock.tick(19);
    assertEquals(reconciler.status().passes, 1, "not before the backoff's time");
    await clock.tick(1);
    assertEquals(reconciler.status().passes, 2, "the failed pass was retried");
    assertEquals(reconciler.status().lastPass?.trigger, "retry");
    await clock.tick(40);
    assertEquals(reconciler.status().passes, 3, "and again after twice the wait");
    assertStringIncludes(log[0]!, "Reconcile pass failed");
  } finally {
    await reconciler.stop();
  }
});

Deno.test("Reconciler.request() coalesces a burst into one pass and serves requests made during a pass after it", async () => {
  const clock = new FakeClock();
  const { kernel, reconciler } = fixture({ clock });
  await reconciler.pass("start");
  reconciler.start();
  try {
    reconciler.request("endpoints", 20);
    reconciler.request("cluster", 20);
    reconciler.request("monitor", 30);
    await clock.tick(19);
    assertEquals(reconciler.status().passes, 1);
    await clock.tick(80);
    let status = reconciler.status();
    assertEquals(status.passes, 2);
    assertEquals(status.lastPass?.trigger, "cluster,endpoints,monitor");

    // A request during a pass: the pass in flight ends, then one more runs.
    const running = reconciler.pass("manual");
    reconciler.request("monitor", 0);
    await running;
    await clock.tick(0);
    status = reconciler.status();
    assertEquals(status.passes, 4);
    assertEquals(status.lastPass?.trigger, "monitor");
    assertEquals(batchLines(kernel).length, 1, "nothing changed after the first pass");
  } finally {
    await reconciler.stop();
  }
  reconciler.request("cluster", 0);
  await clock.runAll();
  assertEquals(reconciler.status().passes, 4, "no pass after stop()");
  assertEquals(clock.pending, 0, "stop() leaves no timer");
});

Deno.test("Reconciler runs a periodic pass that repairs drift nobody reported", async () => {
  const clock = new FakeClock();
  const kernel = new FakeIp();
  const reconciler = new Reconciler({
    ip: new Ip(kernel.run),
    desired: () =>
      desiredState({
        nodeName: "node-a",
        podCIDRs: ["10.244.1.0/24"],
        endpoints: [endpoint(2)],
        nodes: [],
        routing,
        ownPodCIDRRoute: "none",
        cluster: false,
      }),
  }, { protocol: 116, intervalMs: 30_000, clock });
  await reconciler.pass("start");
  reconciler.start();
  try {
    kernel.routes = [];
    await clock.tick(29_999);
    assertEquals(kernel.routes, [], "not before the interval");
    await clock.tick(1);
    assert(kernel.routes.some((r) => r.dst === "10.244.1.2/32"), "repaired by the periodic pass");
    assertEquals(reconciler.status().lastChange?.trigger, "periodic");
  } finally {
    await reconciler.stop();
  }
});

Deno.test("Reconciler reports problems once when they appear and once when they go", async () => {
  const lines: string[] = [];
  const log: Logger = {
    debug() {},
    info: (message, fields) => lines.push(`info ${message} ${JSON.stringify(fields)}`),
    warn: (message) => lines.push(`warn ${message}`),
    error() {},
  };
  const { input, reconciler } = fixture({ log });
  input.nodes = [...input.nodes, node("node-d", "10.244.2.0/25", "192.168.50.4")];
  await reconciler.pass("start");
  await reconciler.pass("periodic");
  const conflict =
    "Pod CIDRs overlap: node-b 10.244.2.0/24 and node-d 10.244.2.0/25: neither is routed";
  assertEquals(lines.filter((l) => l === `warn ${conflict}`).length, 1);
  assertEquals(reconciler.status().problems, [{ kind: "cidr_conflict", message: conflict }]);
  assertEquals(reconciler.status().peers.find((p) => p.node === "node-b")?.routed, []);
  input.nodes = input.nodes.filter((n) => n.name !== "node-d");
  await reconciler.pass("cluster");
  assertEquals(reconciler.status().problems, []);
  assert(lines.some((l) => l.startsWith("info Problem resolved") && l.includes("node-d")));
});

Deno.test("a route whose device is missing is a debug line at first and a warning once it lasts", async () => {
  const clock = new FakeClock(1_000_000);
  const lines: string[] = [];
  const log: Logger = {
    debug: (message) => lines.push(`debug ${message}`),
    info() {},
    warn: (message) => lines.push(`warn ${message}`),
    error() {},
  };
  const { kernel, reconciler } = fixture({ clock, log });
  // A DEL's plugin deleted the veth pair; the daemon has not forgotten the endpoint yet.
  kernel.failing.set("10.244.2.0/24", 'Cannot find device "tern0123456789a"');
  await reconciler.pass("start");
  await clock.tick(1_000);
  await reconciler.pass("retry");
  const failures = () => lines.filter((l) => l.endsWith("Cannot apply change"));
  assertEquals(failures(), ["debug Cannot apply change", "debug Cannot apply change"]);
  await clock.tick(2_000);
  await reconciler.pass("retry"); // third attempt, ~3 s on: not a DEL under way
  assertEquals(failures().at(-1), "warn Cannot apply change");
});

Deno.test("missingDevice() tells ip's missing-device failure from others", () => {
  assert(missingDevice('Cannot find device "tern0123456789a"'));
  assert(!missingDevice("Error: Nexthop has invalid gateway."));
});

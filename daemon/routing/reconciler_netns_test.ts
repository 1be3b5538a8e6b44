/**
 * Kernel tests of the reconciler with the real `ip` and a real `ip monitor`, in a throwaway
 * network namespace (`ternt<pid>x…-rc`, found by `scripts/cleanup.sh` after a crash) that is
 * always deleted: a node with two pods' veths, a link to its peers (`fab0`, 192.168.50.1/24) and
 * an egress link (`eg0`, 10.97.0.2/24). Nothing runs in the root namespace. Needs root.
 */
import { assert, assertEquals } from "../../test/assert.ts";
import type { Node } from "../../src/cluster/types.ts";
import { Ip } from "../../src/ip.ts";
import { denoRunner, type Runner } from "../../src/runner.ts";
import { desiredState, type DesiredStateInput } from "../../src/routing/desired_state.ts";
import { denoSpawner, ProcessMonitor, type Spawner } from "../../src/lib/process_monitor.ts";
import { EchoFilter } from "./monitor_echo.ts";
import type { LocalEndpoint } from "../../src/local_endpoints.ts";
import { Reconciler } from "./reconciler.ts";

async function must(argv: string[]): Promise<string> {
  const result = await denoRunner(argv);
  if (result.code !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

interface Env {
  ns: string;
  run: Runner;
  spawn: Spawner;
  sh(...lines: string[]): Promise<void>;
}

async function withNode(fn: (env: Env) => Promise<void>): Promise<void> {
  const ns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-rc`;
  await must(["ip", "netns", "add", ns]);
  try {
    const env: Env = {
      ns,
      run: (argv, options) => denoRunner(["ip", "netns", "exec", ns, ...argv], options),
      spawn: (argv) => denoSpawner(["ip", "netns", "exec", ns, ...argv]),
      async sh(...lines) {
        const result = await denoRunner(["ip", "-n", ns, "-batch", "-"], {
          stdin: lines.join("\n") + "\n",
        });
        if (result.code !== 0) throw new Error(`${lines.join("; ")}: ${result.stderr}`);
      },
    };
    await env.sh(
      "link set lo up",
      "link add tern00000000002 type veth peer name p2",
      "link add tern00000000003 type veth peer name p3",
      "link add fab0 type veth peer name fab0p",
      "link add eg0 type veth peer name eg0p",
      "link set tern00000000002 up",
      "link set tern00000000003 up",
      "link set fab0 up",
      "link set fab0p up",
      "link set eg0 up",
      "link set eg0p up",
      "addr add 192.168.50.1/24 dev fab0",
      "addr add 10.97.0.2/24 dev eg0",
    );
    await fn(env);
  } finally {
    await must(["ip", "netns", "del", ns]);
  }
}

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
  return {
    containerID: `c${n}`,
    ifname: "eth0",
    ip: `10.244.1.${n}`,
    hostVeth: `tern${String(n).padStart(11, "0")}`,
    ...(pod ? { podNamespace: "default", podName: pod } : {}),
  };
}

function input(): DesiredStateInput {
  return {
    nodeName: "node-a",
    podCIDRs: ["10.244.1.0/24"],
    endpoints: [endpoint(2, "web"), endpoint(3)],
    nodes: [
      node("node-a", "10.244.1.0/24", "192.168.50.1"),
      node("node-b", "10.244.2.0/24", "192.168.50.2"),
      node("node-c", "10.244.3.0/24", "192.168.50.3"),
    ],
    pod: (_ns, name) =>
      name === "web"
        ? { labels: {}, annotations: { "tern.dev/egress-table": "egress-a" } }
        : undefined,
    routing: {
      mode: "routes",
      addressTypes: ["InternalIP"],
      clusterCIDRs: ["10.244.0.0/16"],
      egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1", dev: "eg0" }],
      egressBinding: { annotation: "tern.dev/egress-table" },
    },
    ownPodCIDRRoute: "unreachable",
    cluster: true,
  };
}

/** tern's routes (all tables) and rules as short strings, sorted. */
async function owned(ns: string): Promise<{ routes: string[]; rules: string[] }> {
  const routes = JSON.parse(
    await must([
      "ip",
      "-n",
      ns,
      "-json",
      "-4",
      "-N",
      "route",
      "show",
      "proto",
      "116",
      "table",
      "all",
    ]),
  ) as { type?: string; dst: string; gateway?: string; dev?: string; table?: string }[];
  const rules = JSON.parse(await must(["ip", "-n", ns, "-json", "-4", "-N", "rule", "show"])) as {
    priority: number;
    src: string;
    dst?: string;
    dstlen?: number;
    table: string;
    protocol?: string;
  }[];
  return {
    routes: routes.map((r) =>
      [
        r.type === "7" ? "unreachable" : "",
        r.dst,
        r.gateway ? `via ${r.gateway}` : "",
        r.dev ? `dev ${r.dev}` : "",
        r.table ? `table ${r.table}` : "",
      ].filter(Boolean).join(" ")
    ).sort(),
    rules: rules.filter((r) => r.protocol === "116").map((r) =>
      `${r.priority} from ${r.src} to ${r.dst ?? "all"}${
        r.dstlen ? `/${r.dstlen}` : ""
      } lookup ${r.table}`
    ).sort(),
  };
}

const WANT = {
  routes: [
    "10.244.1.2 dev tern00000000002",
    "10.244.1.3 dev tern00000000003",
    "10.244.2.0/24 via 192.168.50.2 dev fab0",
    "10.244.3.0/24 via 192.168.50.3 dev fab0",
    "default via 10.97.0.1 dev eg0 table 100",
    "unreachable 10.244.1.0/24",
  ],
  rules: [
    "1536 from 10.244.1.2 to all lookup 100",
    "512 from all to 10.244.0.0/16 lookup 254",
    "512 from all to 10.244.1.0/24 lookup 254",
  ],
};

/** The priorities of every rule in the namespace, tern's or not. */
async function priorities(ns: string): Promise<number[]> {
  const rules = JSON.parse(await must(["ip", "-n", ns, "-json", "-4", "rule", "show"])) as {
    priority: number;
  }[];
  return rules.map((r) => r.priority);
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return await check();
}

/**
 * Waits until the monitor reports a change of the test's own: a change made before `ip monitor`
 * has subscribed is never reported, so a foreign route is added and deleted in turn until one
 * shows (on a busy machine the subscription can take seconds).
 */
async function monitoring(sh: Env["sh"], events: string[]): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await sh(i % 2 === 0 ? "route add 10.9.9.0/24 dev fab0" : "route del 10.9.9.0/24 dev fab0");
    if (await until(() => Promise.resolve(events.length > 0), 250)) return;
  }
  throw new Error("ip monitor reported nothing within 10 s");
}

Deno.test("the reconciler makes a real kernel equal to the desired state, repairs deleted entries and leaves foreign ones", () =>
  withNode(async ({ ns, run, sh }) => {
    // Foreign entries, before and after tern: no protocol, or another one.
    await sh(
      "route add 10.9.0.0/16 via 192.168.50.9 dev fab0 proto static",
      "route add 10.244.1.50/32 dev tern00000000002",
      "rule add to 10.244.1.2 lookup main priority 512",
      "rule add from 10.244.1.3 lookup 7 priority 1536 proto 4",
    );
    const state = input();
    const reconciler = new Reconciler(
      { ip: new Ip(run), desired: () => desiredState(state) },
      { protocol: 116, intervalMs: 60_000 },
    );
    const first = await reconciler.pass("start");
    assertEquals([first.added, first.failed, first.applyRuns], [9, 0, 1]);
    assertEquals(await owned(ns), WANT);
    assertEquals((await reconciler.pass("periodic")).applyRuns, 0, "a second pass changes nothing");

    // Someone deletes a host route, a peer route and a rule, and changes a peer route.
    await sh(
      "route del 10.244.1.3/32",
      "route del 10.244.3.0/24",
      "route replace 10.244.2.0/24 via 192.168.50.22 dev fab0 proto 116",
      "rule del to 10.244.1.0/24 priority 512 proto 116",
    );
    const repair = await reconciler.pass("periodic");
    assertEquals([repair.added, repair.replaced, repair.deleted, repair.failed], [3, 1, 0, 0]);
    assertEquals(await owned(ns), WANT);
    const again = await reconciler.pass("periodic");
    assertEquals(again.added + again.replaced + again.deleted + again.applyRuns, 0);

    // A node leaves: its route goes with it; foreign entries survive every pass.
    state.nodes = state.nodes.filter((n) => n.name !== "node-c");
    const left = await reconciler.pass("cluster");
    assertEquals(left.deleted, 1);
    assertEquals(
      (await owned(ns)).routes,
      WANT.routes.filter((r) => !r.startsWith("10.244.3.0/24")),
    );
    const all = await must(["ip", "-n", ns, "-4", "route", "show"]);
    assert(all.includes("10.9.0.0/16 via 192.168.50.9 dev fab0 proto static"), all);
    assert(all.includes("10.244.1.50 dev tern00000000002"), all);
    const rules = await must(["ip", "-n", ns, "-4", "rule", "show"]);
    assert(/512:\s+from all to 10\.244\.1\.2 lookup main\s*$/m.test(rules), rules);
    assert(/1536:\s+from 10\.244\.1\.3 lookup 7 proto static/.test(rules), rules);
    assertEquals(reconciler.status().ownedRoutes, 5);
    assertEquals(reconciler.status().ownedRules, 3);
  }));

Deno.test("a node with no pod bound to an egress table has no rule at all; the first binding adds them, the last takes them away", () =>
  withNode(async ({ ns, run, spawn, sh }) => {
    const state = input();
    const bound = state.pod!;
    state.pod = () => undefined;
    const echo = new EchoFilter(116);
    const reconciler = new Reconciler(
      { ip: new Ip(run), desired: () => desiredState(state), echo },
      { protocol: 116, intervalMs: 600_000 },
    );
    const first = await reconciler.pass("start");
    assertEquals(first.failed, 0);
    // Not one rule was ever added: the kernel's three default rules only, so route lookups
    // here never walk a rule list.
    assertEquals(await priorities(ns), [0, 32766, 32767]);
    assertEquals((await owned(ns)).routes, WANT.routes);

    reconciler.start();
    const events: string[] = [];
    const monitor = new ProcessMonitor({
      spawn,
      argv: ["ip", "-4", "-N", "monitor", "route", "rule", "link"],
      onEvent: (line) => {
        events.push(line);
        if (echo.needsPass(line)) reconciler.request("monitor", 50);
      },
    });
    monitor.start();
    try {
      await monitoring(sh, events);
      // Drift while unbound: a rule of ours (an earlier version's per-pod rule) is taken away.
      await sh("rule add to 10.244.1.3 lookup main priority 512 proto 116");
      assert(
        await until(async () => (await owned(ns)).rules.length === 0, 3_000),
        JSON.stringify(await owned(ns)),
      );

      // The first binding: the pod CIDR's and the cluster's `to` rules, and the pod's `from`.
      state.pod = bound;
      reconciler.request("cluster", 0);
      assert(
        await until(
          async () => JSON.stringify((await owned(ns)).rules) === JSON.stringify(WANT.rules),
          3_000,
        ),
        JSON.stringify(await owned(ns)),
      );
      // Drift while bound: a deleted CIDR rule comes back.
      await sh("rule del to 10.244.1.0/24 priority 512 proto 116");
      assert(
        await until(
          async () => JSON.stringify((await owned(ns)).rules) === JSON.stringify(WANT.rules),
          3_000,
        ),
        JSON.stringify(await owned(ns)),
      );

      // The bound pod goes: every rule of ours goes with it.
      state.endpoints = state.endpoints.filter((ep) => ep.ip !== "10.244.1.2");
      reconciler.request("endpoints", 0);
      assert(
        await until(async () => (await owned(ns)).rules.length === 0, 3_000),
        JSON.stringify(await owned(ns)),
      );
      assertEquals(await priorities(ns), [0, 32766, 32767]);
      assertEquals(reconciler.status().ownedRules, 0);
    } finally {
      await monitor.stop();
      await reconciler.stop();
    }
  }));

Deno.test("an ip monitor event triggers a pass that repairs a deleted route without waiting for the interval, and its echo triggers none", () =>
  withNode(async ({ ns, run, spawn, sh }) => {
    const state = input();
    const echo = new EchoFilter(116);
    const reconciler = new Reconciler(
      { ip: new Ip(run), desired: () => desiredState(state), echo },
      { protocol: 116, intervalMs: 600_000 },
    );
    await reconciler.pass("start");
    reconciler.start();
    const events: string[] = [];
    const monitor = new ProcessMonitor({
      spawn,
      argv: ["ip", "-4", "-N", "monitor", "route", "rule", "link"],
      onEvent: (line) => {
        events.push(line);
        if (echo.needsPass(line)) reconciler.request("monitor", 50);
      },
    });
    monitor.start();
    try {
      // Subscribed: no change made from now on escapes it.
      await monitor.ready;
      const before = reconciler.status().passes;

      const deletedAt = performance.now();
      await sh("route del 10.244.2.0/24", "rule del from 10.244.1.2 priority 1536");
      const repaired = await until(
        async () => JSON.stringify(await owned(ns)) === JSON.stringify(WANT),
        3_000,
      );
      const ms = Math.round(performance.now() - deletedAt);
      // The interval is 10 minutes: a repair within 3 s is the monitor's (its trigger says so
      // too). No tighter bound: on a busy machine a pass may take a while.
      assert(repaired, `repaired within 3 s (${ms} ms)`);
      const status = reconciler.status();
      assert(status.passes > before);
      assert(status.lastChange?.trigger.includes("monitor"), JSON.stringify(status.lastChange));
      assertEquals(monitor.state, "running");

      // The repair's own events (a route and a rule added) were expected: no pass follows.
      await new Promise((r) => setTimeout(r, 400));
      assert(events.some((e) => e.includes("10.244.2.0/24") && !e.startsWith("Deleted")));
      assertEquals(reconciler.status().passes, status.passes, events.join("\n"));
    } finally {
      await monitor.stop();
      await reconciler.stop();
    }
    assertEquals(monitor.state, "off");
  }));

/**
 * How long a reconcile pass takes with `n` local endpoints, for `deno task bench` and for anyone
 * checking that the cost grows no faster than linearly. {@linkcode measureReconcile} builds a
 * node with `n` programmed endpoints (every tenth bound to an egress table), `peers` other nodes
 * and one egress table, and times: the pure part (desired state, diff and rendering, against an
 * empty kernel and against a converged one); whole passes on a fake `ip` (parsing included, no
 * processes); and, with `kernel: true` (root), whole passes against a real kernel in a throwaway
 * network namespace (`ternt<pid>x…-bench`, always deleted): the first pass that installs
 * everything, a pass that finds nothing to do, and a pass that repairs one deleted route and one
 * deleted rule. All host routes point at one veth, which the kernel allows.
 *
 * Run: `deno run -A scripts/reconcile_bench.ts [--no-kernel] [10 100 1000]`.
 * @module
 */
import { formatIp, parseIp } from "../src/cidr.ts";
import type { Node } from "../src/cluster/types.ts";
import { Ip } from "../src/ip.ts";
import { denoRunner, type Runner } from "../src/runner.ts";
import { FakeIp } from "../daemon/routing/_fake_ip.ts";
import { desiredState, type DesiredStateInput } from "../src/routing/desired_state.ts";
import type { LocalEndpoint } from "../src/local_endpoints.ts";
import { planChanges } from "../src/routing/reconcile_plan.ts";
import { type PassResult, Reconciler } from "../daemon/routing/reconciler.ts";

/** Times in milliseconds; the `steady` figures are medians of `runs`. */
export interface ReconcileMeasurement {
  endpoints: number;
  peers: number;
  /** Routes and rules the node wants. */
  wantedRoutes: number;
  wantedRules: number;
  /** Desired state + diff + render: against an empty kernel, and against a converged one. */
  pure: { initialMs: number; steadyMs: number };
  /** Whole passes on a fake `ip` (listing parsed, nothing spawned): first, then steady. */
  fake: { firstMs: number; steadyMs: number };
  /** Whole passes on a real kernel, when asked. */
  kernel?: {
    firstMs: number;
    steadyMs: number;
    /** Listing both tables, of the steady pass. */
    steadyListMs: number;
    repairMs: number;
    /** `ip` processes the first pass needed to apply everything. */
    firstApplyRuns: number;
  };
}

const PROTOCOL = 116;
const VETH = "ternbench00000";

/** The benchmark node's input with `n` endpoints and `peers` peers (pure). */
export function benchInput(n: number, peers: number): DesiredStateInput {
  const base = parseIp("10.244.0.0");
  const endpoints: LocalEndpoint[] = [];
  for (let i = 0; i < n; i++) {
    endpoints.push({
      containerID: `bench${i}`,
      ifname: "eth0",
      ip: formatIp(base + 2 + i),
      hostVeth: VETH,
      podNamespace: "bench",
      podName: `pod-${i}`,
    });
  }
  const nodes: Node[] = [{
    kind: "Node",
    name: "bench-0",
    labels: {},
    addresses: [{ type: "InternalIP", address: "192.168.50.1" }],
    podCIDRs: ["10.244.0.0/20"],
  }];
  for (let p = 1; p <= peers; p++) {
    nodes.push({
      kind: "Node",
      name: `bench-${p}`,
      labels: {},
      addresses: [{ type: "InternalIP", address: `192.168.50.${p + 1}` }],
      podCIDRs: [`10.${245 + (p >> 8)}.${p & 255}.0/24`],
    });
  }
  const bound = { labels: { "tern.dev/egress-table": "egress-a" }, annotations: {} };
  const unbound = { labels: {}, annotations: {} };
  return {
    nodeName: "bench-0",
    podCIDRs: ["10.244.0.0/20"],
    endpoints,
    nodes,
    pod: (_ns, name) => Number(name.slice(4)) % 10 === 0 ? bound : unbound,
    routing: {
      mode: "routes",
      addressTypes: ["InternalIP"],
      clusterCIDRs: ["10.244.0.0/14"],
      egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1", dev: "eg0" }],
      egressBinding: { label: "tern.dev/egress-table" },
    },
    ownPodCIDRRoute: "unreachable",
    cluster: true,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.floor(sorted.length / 2)]! * 100) / 100;
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function mustRun(argv: string[], stdin?: string): Promise<void> {
  const result = await denoRunner(argv, stdin === undefined ? {} : { stdin });
  if (result.code !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.trim()}`);
}

/**
 * Measures a reconcile pass with `n` endpoints. `options.peers` (default 10) other nodes,
 * `options.runs` (default 5) repetitions for the steady figures, `options.kernel` (default
 * false) adds the real-kernel passes (needs root; the namespace is always deleted).
 */
export async function measureReconcile(
  n: number,
  options: { peers?: number; runs?: number; kernel?: boolean } = {},
): Promise<ReconcileMeasurement> {
  const peers = options.peers ?? 10;
  const runs = options.runs ?? 5;
  const input = benchInput(n, peers);
  const empty = { routes: [], rules: [] };

  // Warm up the JIT on the same shapes so the first figures are not compile time.
  for (let i = 0; i < 3; i++) planChanges(empty, desiredState(input), { protocol: PROTOCOL });
  const want = desiredState(input);
  const initial = median(
    Array.from(
      { length: runs },
      () => time(() => planChanges(empty, desiredState(input), { protocol: PROTOCOL })),
    ),
  );
  const steady = median(
    Array.from(
      { length: runs },
      () => time(() => planChanges(want, desiredState(input), { protocol: PROTOCOL })),
    ),
  );

  const fakeIp = new FakeIp();
  const fake = new Reconciler({ ip: new Ip(fakeIp.run), desired: () => desiredState(input) }, {
    protocol: PROTOCOL,
    intervalMs: 3_600_000,
  });
  const fakeFirst = await fake.pass("bench");
  const fakeSteady: PassResult[] = [];
  for (let i = 0; i < runs; i++) fakeSteady.push(await fake.pass("bench"));

  const out: ReconcileMeasurement = {
    endpoints: n,
    peers,
    wantedRoutes: want.routes.length,
    wantedRules: want.rules.length,
    pure: { initialMs: initial, steadyMs: steady },
    fake: { firstMs: fakeFirst.durationMs, steadyMs: median(fakeSteady.map((p) => p.durationMs)) },
  };
  if (options.kernel) out.kernel = await measureKernel(input, runs);
  return out;
}

async function measureKernel(
  input: DesiredStateInput,
  runs: number,
): Promise<NonNullable<ReconcileMeasurement["kernel"]>> {
  const ns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-bench`;
  await mustRun(["ip", "netns", "add", ns]);
  try {
    await mustRun(
      ["ip", "-n", ns, "-batch", "-"],
      [
        "link set lo up",
        `link add ${VETH} type veth peer name pbench`,
        "link add fab0 type veth peer name fab0p",
        "link add eg0 type veth peer name eg0p",
        `link set ${VETH} up`,
        "link set fab0 up",
        "link set fab0p up",
        "link set eg0 up",
        "link set eg0p up",
        "addr add 192.168.50.1/24 dev fab0",
        "addr add 10.97.0.2/24 dev eg0",
      ].join("\n") + "\n",
    );
    // As the daemon runs `ip` in its own namespace: `ip -n NS …` costs the same exec.
    const run: Runner = (argv, o) => denoRunner([argv[0]!, "-n", ns, ...argv.slice(1)], o);
    const reconciler = new Reconciler({ ip: new Ip(run), desired: () => desiredState(input) }, {
      protocol: PROTOCOL,
      intervalMs: 3_600_000,
    });
    const first = await reconciler.pass("bench");
    if (first.failed > 0 || first.error) {
      throw new Error(`The first pass failed: ${JSON.stringify(reconciler.status().failing)}`);
    }
    const steady: PassResult[] = [];
    for (let i = 0; i < runs; i++) steady.push(await reconciler.pass("bench"));
    const repairs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const ip = input.endpoints[i % input.endpoints.length]!.ip;
      // A bound pod's (every tenth): only those have a rule of their own.
      const bound = input.endpoints[(i * 10) % input.endpoints.length]!.ip;
      await mustRun(
        ["ip", "-n", ns, "-batch", "-"],
        [
          `route del ${ip}/32 table 254 proto ${PROTOCOL}`,
          `rule del from ${bound}/32 priority 1536 proto ${PROTOCOL}`,
        ].join("\n") + "\n",
      );
      const repair = await reconciler.pass("bench");
      if (repair.added !== 2) throw new Error(`The repair pass added ${repair.added}, not 2`);
      repairs.push(repair.durationMs);
    }
    return {
      firstMs: first.durationMs,
      steadyMs: median(steady.map((p) => p.durationMs)),
      steadyListMs: median(steady.map((p) => p.listMs)),
      repairMs: median(repairs),
      firstApplyRuns: first.applyRuns,
    };
  } finally {
    await mustRun(["ip", "netns", "del", ns]);
  }
}

/** The measurements as a Markdown table, one row per size. */
export function formatMeasurements(rows: readonly ReconcileMeasurement[]): string {
  const header =
    "| endpoints | routes / rules wanted | pure: first / steady | fake ip pass: first / steady | kernel pass: first / steady (list) / repair |";
  const line = "| --- | --- | --- | --- | --- |";
  const body = rows.map((r) => {
    const k = r.kernel
      ? `${r.kernel.firstMs} / ${r.kernel.steadyMs} (${r.kernel.steadyListMs}) / ${r.kernel.repairMs} ms`
      : "-";
    return `| ${r.endpoints} | ${r.wantedRoutes} / ${r.wantedRules} | ${
      r.pure.initialMs.toFixed(2)
    } / ${r.pure.steadyMs.toFixed(2)} ms | ${r.fake.firstMs} / ${r.fake.steadyMs} ms | ${k} |`;
  });
  return [header, line, ...body].join("\n") + "\n";
}

if (import.meta.main) {
  const kernel = !Deno.args.includes("--no-kernel");
  const sizes = Deno.args.filter((a) => /^\d+$/.test(a)).map(Number);
  const rows: ReconcileMeasurement[] = [];
  for (const n of sizes.length > 0 ? sizes : [10, 100, 1000]) {
    rows.push(await measureReconcile(n, { kernel }));
  }
  console.log(formatMeasurements(rows));
}

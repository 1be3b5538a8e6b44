/**
 * `deno task bench`: tern against the reference plugins in the same run, on the same sandbox
 * nodes, through the same libcni driver a runtime uses. Reported as ratios, never as pass/fail.
 *
 * Benchmarks (`--only a,b`; default all, in this order):
 * - `pod-add-del`: sequential ADD then DEL of N pods (default 50), tern vs ptp + host-local;
 *   p50, p99 and their ratios, and tern's ADD after start-up from the plugin's log (`addMs`);
 *   then a burst of 30 concurrent ADDs of each (p99, failures) and tern's ADD p50 with 250 pods
 *   on the node against 10.
 * - `plugin-startup`: the plugin's VERSION command, tern vs ptp: the floor of every CNI call.
 * - `iperf`: iperf3 pod to pod on the same node and across nodes of a sandbox cluster, TCP and
 *   UDP, one stream and four; tern's pods on two tern nodes against ptp + host-local pods on two
 *   nodes of their own (hand-made routes between them) on the same fabric, alternating; the
 *   receiver's throughput, the ratio, UDP loss.
 * - `idle`: a tern daemon's CPU and RSS, idle on a cluster node with pods, beside a bare Deno
 *   process that only waits, over the same window.
 * - `reconcile`: one reconcile pass with 10, 100 and 1000 endpoints (`measureReconcile` of
 *   `scripts/reconcile_bench.ts`): the pure part, a pass on a fake `ip`, and passes on a real
 *   kernel in a throwaway namespace (first, steady, repair), with the growth from 100 to 1000.
 * - `ipam-burst`: bursts of 30 and 100 concurrent ADDs as the allocator sees them, node-cidr
 *   mode against blocks mode with the warm pool filled and empty (`scripts/ipam_burst_bench.ts`).
 * - `ipam-burst-e2e`: the same bursts end to end, through the plugin and the libcni driver on a
 *   sandbox node against the fake API server (`scripts/bench_ipam_e2e.ts`, also runnable alone).
 * - `policy`: throughput and new-connection rate between two pods with 0, 1k and 10k
 *   security-group rules, against the same 10k rules as a linear iptables chain, and policy
 *   programming latency (`scripts/bench_policy.ts`, also runnable alone).
 * - `table-repair`: how soon a tampered `inet tern` is repaired with and without following
 *   nftables commits, and what following them costs (`scripts/bench_table_repair.ts`, also
 *   runnable alone).
 * - `nft-maps`: what one change to a layer's map costs the kernel (one `nft -f`: add, replace a
 *   verdict, delete the newest or the oldest element) by shape (interval, 16 interval shards,
 *   hash) and size (1 000, 10 000, 30 000 elements) (`scripts/bench_nft_maps.ts`, also runnable
 *   alone).
 * - `kube-admit`: on the `kubernetes` source, from ADD on one node to a peer node's policy
 *   admitting the new pod, with ternd's `tern.dev/pod-ips` annotation and with only kubelet's
 *   status write (`scripts/bench_kube_admit.ts`, also runnable alone).
 * - `kube-scale`: one ternd against the fake API server at the Kubernetes envelope (5 000 nodes,
 *   150 000 pods, 10 000 NetworkPolicies): initial sync, RSS, CPU per 1 000 pod events/s, and
 *   event → kernel latency under churn (`scripts/bench_kube_scale.ts`, also runnable alone).
 *
 * Flags: `--pods N`, `--rounds R` (alternating tern and ptp to cancel drift), `--burst N`
 * (pod-add-del: concurrent ADDs, default 30; 0 skips), `--scale-pods N` (pod-add-del: the big
 * node, default 250; 0 skips), `--iperf-seconds S`
 * (default 2), `--iperf-rounds R` (default 5), `--udp-bitrate B` (default 2G, total per run),
 * `--idle-seconds S` (default 10), `--pin` (iperf3's sender and receiver on CPU 0),
 * `--no-policy` (iperf: tern's daemons with `policy.enabled: false`, no nftables table),
 * `--node-conntrack` (iperf and policy: every node of both plugins gets the same `ct state` rule,
 * in a table of the sandbox's own, standing in for kube-proxy, which keeps connection tracking on
 * for all traffic of a Kubernetes node; tern's policy layer stays on), `--ptp-conntrack` (iperf:
 * the same rule in ptp's nodes only),
 * `--isolated` (iperf: an allow-all ingress NetworkPolicy selects tern's pods, so their traffic
 * goes through policy chains and tern's table tracks connections; pair it with `--ptp-conntrack`),
 * `--policy-pairs N` (policy: alternating 0-rule/case pairs for 10k and 1k rules, default 6),
 * `--admit-pods N` (kube-admit: new pods per series, default 20), `--status-delay-ms MS`
 * (kube-admit: kubelet's status write after ADD, default 1000),
 * `--ipam-rounds R` (ipam-burst-e2e: rounds of every case, default 3),
 * `--kube-nodes N`, `--kube-pods N`, `--kube-policies N`, `--kube-samples N` (kube-scale's size,
 * default 5000, 150000, 10000 and 200 latency samples; smaller for a smoke run), `--keep-log FILE`
 * (kube-scale: ternd's log, and the samples' times in `FILE.samples.json`, kept after the run),
 * `--json FILE`. Uses the built `dist/tern` (the bench builds
 * it when missing or stale), so what is measured is what `install.sh` installs.
 * @module
 */
import { benchPolicy, formatPolicyBench } from "./bench_policy.ts";
import {
  benchTableRepair,
  formatTableRepair,
  medianMax,
  TAMPERINGS,
} from "./bench_table_repair.ts";
import { benchKubeAdmit, formatKubeAdmit, kubeAdmitSummary } from "./bench_kube_admit.ts";
import { benchKubeScale, formatKubeScale } from "./bench_kube_scale.ts";
import { parseArgs } from "node:util";
import { Sandbox, type SandboxNode, type SandboxPod } from "../test/sandbox.ts";
import { SandboxCluster } from "../test/sandbox_cluster.ts";
import { pollUntil } from "../test/poll.ts";
import {
  addPtpNode,
  addPtpPod,
  enableNodeConntrack,
  nodeConntrackTableName,
  setUpPtpReference,
} from "../test/ptp_reference.ts";
import { DIST, ensureDist } from "../test/dist.ts";
import {
  type IperfFlow,
  type IperfResult,
  type IperfServer,
  runIperf,
  startIperfServer,
  UDP_DATAGRAM_BYTES,
} from "./iperf.ts";
import { machineBusyPercent, parseRssParts, sampleUsage } from "./proc_usage.ts";
import { measureReconcile, type ReconcileMeasurement } from "./reconcile_bench.ts";

/** The p-th percentile (0..100) of `values` by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

interface Series {
  add: number[];
  del: number[];
}

async function ensureBuilt(): Promise<string> {
  const info = await ensureDist();
  console.error(`using dist/tern (${info.mode} build)`);
  return `${DIST}/tern`;
}

/** One `cnidriver bulk` run: each pod's time in ms and the failures' messages. */
async function runBulk(
  sb: Sandbox,
  node: SandboxNode,
  pods: SandboxPod[],
  options: { net: string; confDir: string; verb: "add" | "del"; concurrency: number },
): Promise<{ ms: number[]; failures: string[] }> {
  const list = `${sb.dir}/bench-${options.net}.json`;
  await Deno.writeTextFile(
    list,
    JSON.stringify(pods.map((p) => ({ id: `${p.containerID}${options.net}`, netns: p.netnsPath }))),
  );
  const out = await sb.driver(
    node,
    ["bulk", options.verb, "--pods", list, "--concurrency", String(options.concurrency)],
    options,
  );
  if (out.stdout.trim() === "") throw new Error(`${options.net} ${options.verb}: ${out.stderr}`);
  const results = JSON.parse(out.stdout).results as { ok: boolean; ms: number; error?: string }[];
  return {
    ms: results.filter((r) => r.ok).map((r) => r.ms),
    failures: results.filter((r) => !r.ok).map((r) => r.error ?? "failed"),
  };
}

async function runSeries(
  sb: Sandbox,
  node: SandboxNode,
  pods: SandboxPod[],
  options: { net: string; confDir: string },
): Promise<Series> {
  const series: Series = { add: [], del: [] };
  for (const verb of ["add", "del"] as const) {
    const out = await runBulk(sb, node, pods, { ...options, verb, concurrency: 1 });
    if (out.failures.length) {
      throw new Error(`${options.net} ${verb}: ${out.failures.length} failed: ${out.failures[0]}`);
    }
    series[verb].push(...out.ms);
  }
  return series;
}

/**
 * The phases of each `Added` line in the plugin's log, by name (`allocateMs`, ..., `addMs`: the
 * part of ADD after start-up).
 */
export function addedPhases(log: string): Record<string, number>[] {
  return loggedPhases(log, "Added");
}

/**
 * The phases of each `Deleted` line in the plugin's log, by name (`vethMs`, `releaseMs`, `delMs`:
 * the part of DEL after start-up).
 */
export function deletedPhases(log: string): Record<string, number>[] {
  return loggedPhases(log, "Deleted");
}

function loggedPhases(log: string, message: string): Record<string, number>[] {
  const pattern = new RegExp(` INFO ${message} `);
  return log.split("\n").filter((line) => pattern.test(line)).map((line) =>
    Object.fromEntries([...line.matchAll(/ (\w+Ms)=([\d.]+)/g)].map((m) => [m[1]!, Number(m[2])]))
  );
}

async function timeCommand(argv: string[], env: Record<string, string>, stdin: string, n: number) {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      env,
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
    await child.status;
    times.push(performance.now() - t0);
  }
  return times;
}

function row(cells: (string | number)[]): string {
  return cells.map((c, i) => (typeof c === "number" ? c.toFixed(1) : c).padEnd(i === 0 ? 26 : 10))
    .join(" ");
}

/** Every benchmark, in the order they run. */
export const BENCHMARKS = [
  "pod-add-del",
  "plugin-startup",
  "iperf",
  "idle",
  "reconcile",
  "policy",
  "ipam-burst",
  "ipam-burst-e2e",
  "table-repair",
  "nft-maps",
  "kube-admit",
  "kube-scale",
] as const;

/** One benchmark's name. */
export type Benchmark = typeof BENCHMARKS[number];

/** The benchmarks `--only` selects, in run order; all when `only` is absent or empty (pure). */
export function selectBenchmarks(only: string | undefined): Benchmark[] {
  if (!only?.trim()) return [...BENCHMARKS];
  const wanted = only.split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of wanted) {
    if (!(BENCHMARKS as readonly string[]).includes(name)) {
      throw new Error(`Unknown benchmark in --only: ${name}: expected ${BENCHMARKS.join(", ")}`);
    }
  }
  return BENCHMARKS.filter((b) => wanted.includes(b));
}

/** Bits per second from `2G`, `500M`, `100k` or a plain number (pure, decimal units as iperf3). */
export function parseBitrate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text.trim());
  if (!match) throw new Error(`Invalid bitrate: ${text}: expected a number and K, M or G`);
  const unit = { "": 1, k: 1e3, m: 1e6, g: 1e9 }[match[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Number(match[1]) * unit;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type Summary = Record<string, number>;

async function benchPodAddDel(
  options: { pods: number; rounds: number; burst: number; scalePods: number },
  summary: Summary,
): Promise<void> {
  const { pods: podCount, rounds } = options;
  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("bench", { podCIDR: "10.244.0.0/16" });
    await sb.startDaemon(node);
    const confDir = `${node.dir}/bench.d`;
    const pluginLog = `${node.dir}/tern-plugin.log`;
    await Deno.mkdir(confDir, { recursive: true });
    await Deno.writeTextFile(
      `${confDir}/10-ternbench.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "ternbench",
        plugins: [{ type: "tern", mtu: 1500, daemonSocket: node.socket, logFile: pluginLog }],
      }),
    );
    await Deno.writeTextFile(
      `${confDir}/20-ptpbench.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "ptpbench",
        plugins: [{
          type: "ptp",
          mtu: 1500,
          ipMasq: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.250.0.0/16" }]],
            dataDir: `${node.dir}/host-local`,
          },
        }],
      }),
    );
    const pods: SandboxPod[] = [];
    for (let i = 0; i < podCount; i++) pods.push(await sb.addPod(node, `b${i}`));

    const all: Record<string, Series> = {
      tern: { add: [], del: [] },
      "ptp+host-local": { add: [], del: [] },
    };
    const plugins = [["tern", "ternbench"], ["ptp+host-local", "ptpbench"]] as const;
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so drift over the round does not favour one.
      for (const [label, net] of r % 2 ? [...plugins].reverse() : plugins) {
        const s = await runSeries(sb, node, pods, { net, confDir });
        all[label]!.add.push(...s.add);
        all[label]!.del.push(...s.del);
      }
    }
    const logged = await Deno.readTextFile(pluginLog).catch(() => "");
    const phases = addedPhases(logged);
    const delPhases = deletedPhases(logged);
    const afterStart = phases.map((p) => p.addMs!).filter((ms) => ms !== undefined);

    console.log(`\npod-add-del: ${podCount} pods x ${rounds} rounds, sequential, via libcni (ms)`);
    console.log(row(["plugin / op", "p50", "p99", "mean"]));
    for (const [label, s] of Object.entries(all)) {
      for (const op of ["add", "del"] as const) {
        const v = s[op];
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        summary[`${label}.${op}.p50`] = percentile(v, 50);
        summary[`${label}.${op}.p99`] = percentile(v, 99);
        console.log(
          row([`${label} ${op.toUpperCase()}`, percentile(v, 50), percentile(v, 99), mean]),
        );
      }
    }
    console.log("\nratios tern / (ptp + host-local) (lower is better; goal p50 <= 2.0):");
    for (const op of ["add", "del"]) {
      for (const p of ["p50", "p99"]) {
        const ratio = summary[`tern.${op}.${p}`]! / summary[`ptp+host-local.${op}.${p}`]!;
        summary[`ratio.${op}.${p}`] = ratio;
        console.log(`  ${op.toUpperCase()} ${p}: ${ratio.toFixed(2)}x`);
      }
    }
    if (afterStart.length) {
      summary["tern.add.afterStart.p50"] = percentile(afterStart, 50);
      console.log(
        `  tern ADD after start-up (plugin log addMs, ${afterStart.length} ADDs): p50 ${
          percentile(afterStart, 50).toFixed(1)
        } ms, p99 ${percentile(afterStart, 99).toFixed(1)} ms (goal p50 <= 10)`,
      );
      console.log(`    ${phaseLine(phases)}`);
    }
    const delAfterStart = delPhases.map((p) => p.delMs!).filter((ms) => ms !== undefined);
    if (delAfterStart.length) {
      summary["tern.del.afterStart.p50"] = percentile(delAfterStart, 50);
      console.log(
        `  tern DEL after start-up (plugin log delMs, ${delAfterStart.length} DELs): p50 ${
          percentile(delAfterStart, 50).toFixed(1)
        } ms, p99 ${percentile(delAfterStart, 99).toFixed(1)} ms`,
      );
      console.log(`    ${phaseLine(delPhases, DEL_PHASES)}`);
    }
    if (options.burst > 0) {
      await burstCell(sb, node, pods, {
        confDir,
        pluginLog,
        rounds,
        burst: options.burst,
      }, summary);
    }
    if (options.scalePods > 0) {
      await scaleCell(sb, node, {
        confDir,
        pluginLog,
        rounds,
        scalePods: options.scalePods,
      }, summary);
    }
  } finally {
    await sb.cleanup();
  }
}

/**
 * ADD's phases as the plugin logs them: `attachMs` (the daemon's one request, veth pair and all),
 * `podMs`; a plugin that made the veth pair itself logged `vethMs` and `endpointMs`, and one from
 * before that request `allocateMs` and `programMs`.
 */
const PHASES = ["attachMs", "vethMs", "endpointMs", "allocateMs", "programMs", "podMs"];

/** DEL's phases as the plugin logs them: `vethMs` (the veth's deletion), `releaseMs`. */
const DEL_PHASES = ["vethMs", "releaseMs"];

/**
 * The p50 of each phase (of ADD by default) that `phases` hold, from {@linkcode addedPhases} or
 * {@linkcode deletedPhases}, as one line.
 */
function phaseLine(phases: Record<string, number>[], order = PHASES): string {
  const names = order.filter((n) => phases.some((p) => p[n] !== undefined));
  return `p50 of each phase: ${
    names.map((n) => `${n} ${percentile(phases.map((p) => p[n] ?? 0), 50).toFixed(1)}`).join(", ")
  }`;
}

/**
 * `burst` concurrent ADDs (then DELs) through libcni, tern and ptp + host-local alternating;
 * p99 over every ADD of every round, and the failures counted.
 */
async function burstCell(
  sb: Sandbox,
  node: SandboxNode,
  pods: SandboxPod[],
  options: { confDir: string; pluginLog: string; rounds: number; burst: number },
  summary: Summary,
): Promise<void> {
  await Deno.writeTextFile(options.pluginLog, "");
  while (pods.length < options.burst) pods.push(await sb.addPod(node, `b${pods.length}`));
  const burst = pods.slice(0, options.burst);
  const plugins = [["tern", "ternbench"], ["ptp+host-local", "ptpbench"]] as const;
  const adds: Record<string, number[]> = { tern: [], "ptp+host-local": [] };
  const failed: Record<string, number> = { tern: 0, "ptp+host-local": 0 };
  for (let r = 0; r < options.rounds; r++) {
    for (const [label, net] of r % 2 ? [...plugins].reverse() : plugins) {
      const common = { net, confDir: options.confDir, concurrency: options.burst };
      const add = await runBulk(sb, node, burst, { ...common, verb: "add" });
      adds[label]!.push(...add.ms);
      failed[label]! += add.failures.length;
      if (add.failures.length) console.log(`  ${label} burst ADD failure: ${add.failures[0]}`);
      const del = await runBulk(sb, node, burst, { ...common, verb: "del" });
      if (del.failures.length) throw new Error(`${label} burst DEL: ${del.failures[0]}`);
    }
  }
  console.log(
    `\npod-add-del burst: ${options.burst} concurrent ADDs x ${options.rounds} rounds (ms)`,
  );
  console.log(row(["plugin", "p50", "p99", "failures"]));
  for (const label of Object.keys(adds)) {
    summary[`burst.${label}.p99`] = percentile(adds[label]!, 99);
    summary[`burst.${label}.failures`] = failed[label]!;
    console.log(
      row([
        label,
        percentile(adds[label]!, 50),
        percentile(adds[label]!, 99),
        String(failed[label]),
      ]),
    );
  }
  const ratio = summary["burst.tern.p99"]! / summary["burst.ptp+host-local.p99"]!;
  summary["ratio.burst.p99"] = ratio;
  console.log(`  ratio p99: ${ratio.toFixed(2)}x (goal <= 2.0, no failures)`);
  const phases = addedPhases(await Deno.readTextFile(options.pluginLog).catch(() => ""));
  if (phases.length) {
    console.log(
      `  tern, ${phaseLine(phases)}, addMs ${
        percentile(phases.map((p) => p.addMs ?? 0), 50).toFixed(1)
      }`,
    );
  }
}

/**
 * tern's sequential ADD of 10 pods on a node that has no other pod, against the same with
 * `scalePods - 10` other pods attached: the node's size should not slow an ADD down.
 */
async function scaleCell(
  sb: Sandbox,
  node: SandboxNode,
  options: { confDir: string; pluginLog: string; rounds: number; scalePods: number },
  summary: Summary,
): Promise<void> {
  /** The ADD times of one sequential series, and the phases the plugin logged for it. */
  const measure = async (pods: SandboxPod[]) => {
    await Deno.writeTextFile(options.pluginLog, "");
    const { add } = await runSeries(sb, node, pods, common);
    return { add, phases: addedPhases(await Deno.readTextFile(options.pluginLog)) };
  };
  const measured: SandboxPod[] = [];
  for (let i = 0; i < 10; i++) measured.push(await sb.addPod(node, `m${i}`));
  const others: SandboxPod[] = [];
  for (let i = 0; i < options.scalePods - 10; i++) others.push(await sb.addPod(node, `o${i}`));
  const common = { net: "ternbench", confDir: options.confDir };
  const few: number[] = [], many: number[] = [];
  const fewPhases: Record<string, number>[] = [], manyPhases: Record<string, number>[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const small = await measure(measured);
    few.push(...small.add);
    fewPhases.push(...small.phases);
    const bg = { ...common, net: "ternbench", concurrency: 4 };
    const up = await runBulk(sb, node, others, { ...bg, verb: "add" });
    if (up.failures.length) throw new Error(`scale: background ADD: ${up.failures[0]}`);
    const big = await measure(measured);
    many.push(...big.add);
    manyPhases.push(...big.phases);
    const down = await runBulk(sb, node, others, { ...bg, verb: "del" });
    if (down.failures.length) throw new Error(`scale: background DEL: ${down.failures[0]}`);
  }
  const ratio = percentile(many, 50) / percentile(few, 50);
  summary["scale.add.p50.10"] = percentile(few, 50);
  summary[`scale.add.p50.${options.scalePods}`] = percentile(many, 50);
  summary["ratio.scale.p50"] = ratio;
  console.log(
    `\npod-add-del scale: tern ADD p50 with 10 pods on the node ${
      percentile(few, 50).toFixed(1)
    } ms, with ${options.scalePods} ${percentile(many, 50).toFixed(1)} ms: ratio ${
      ratio.toFixed(2)
    }x (goal <= 1.1)`,
  );
  console.log(`  10 pods, ${phaseLine(fewPhases)}`);
  console.log(`  ${options.scalePods} pods, ${phaseLine(manyPhases)}`);
}

async function benchPluginStartup(tern: string, summary: Summary): Promise<void> {
  const version = JSON.stringify({ cniVersion: "1.0.0", name: "x", type: "x" });
  const startup = {
    tern: await timeCommand([tern], { CNI_COMMAND: "VERSION" }, version, 20),
    ptp: await timeCommand(["/usr/lib/cni/ptp"], { CNI_COMMAND: "VERSION" }, version, 20),
  };
  console.log(`\nplugin-startup: VERSION, 20 runs (ms)`);
  console.log(row(["plugin", "p50", "p99"]));
  for (const [label, v] of Object.entries(startup)) {
    summary[`startup.${label}.p50`] = percentile(v, 50);
    console.log(row([label, percentile(v, 50), percentile(v, 99)]));
  }
  console.log(
    `  ratio p50: ${(summary["startup.tern.p50"]! / summary["startup.ptp.p50"]!).toFixed(2)}x`,
  );
}

/** The iperf cells: each flow, on the same node and across nodes. */
function iperfFlows(udpBps: number): { label: string; flow: IperfFlow }[] {
  return [
    { label: "TCP x1", flow: { protocol: "tcp", streams: 1 } },
    { label: "TCP x4", flow: { protocol: "tcp", streams: 4 } },
    { label: "UDP x1", flow: { protocol: "udp", streams: 1, udpBps } },
    { label: "UDP x4", flow: { protocol: "udp", streams: 4, udpBps } },
  ];
}

/** Selects every pod of `default` for ingress and allows all of it: isolation without a drop. */
const ISOLATING_POLICY = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "bench-isolated", namespace: "default" },
  spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{}] },
};

async function benchIperf(
  options: {
    seconds: number;
    rounds: number;
    udpBps: number;
    pin: boolean;
    policy: boolean;
    ptpConntrack: boolean;
    nodeConntrack: boolean;
    isolated: boolean;
  },
  summary: Summary,
): Promise<void> {
  // With --pin, sender and receiver both on CPU 0 for both plugins alike: one core then does
  // the whole path (send, veths, routing, bridge, receive), which measures the datapath's cost
  // per CPU, and spread less than unpinned runs in trials on the 2-core CI machine.
  // Splitting them across CPUs was tried: no steadier, and slower, since a veth delivers on the
  // sending CPU. Off by default, as the public benchmarks do not pin.
  const clientCpu = options.pin ? 0 : undefined;
  const serverCpu = clientCpu;
  const cluster = await SandboxCluster.create(
    options.policy ? {} : { daemonConfig: { policy: { enabled: false } } },
  );
  const servers: IperfServer[] = [];
  try {
    // tern's two nodes run ternd; the reference's two nodes, on the same fabric bridge, run
    // nothing of tern's (no daemon, rules, nftables or rp_filter in their packets' way), as in a
    // cluster whose CNI is ptp. Same kernel, same veths, same hops.
    const [n1, n2] = await cluster.addNodes(["node-1", "node-2"]) as [SandboxNode, SandboxNode];
    const r1 = await addPtpNode(cluster, "ptp-1");
    const r2 = await addPtpNode(cluster, "ptp-2");
    const ref = await setUpPtpReference(cluster, { nodes: [r1, r2] });
    // As kube-proxy does on every node of a real cluster: connection tracking on for every
    // packet, so that the policy layer's conntrack is compared with a node that has it too.
    // --node-conntrack: all four nodes (a cluster as Kubernetes runs it); --ptp-conntrack:
    // ptp's two only.
    const kubeProxyTable = nodeConntrackTableName(cluster.sb.prefix);
    const conntrackNodes = options.nodeConntrack
      ? [n1, n2, r1, r2]
      : options.ptpConntrack
      ? [r1, r2]
      : [];
    for (const node of conntrackNodes) await enableNodeConntrack(node, kubeProxyTable);
    // With --isolated, an allow-all ingress NetworkPolicy selects tern's pods: the traffic still
    // passes, but through the pods' policy chains, and with connection tracking on (the policy
    // layer tracks connections only while some local pod is isolated).
    if (options.isolated) {
      await cluster.apply(ISOLATING_POLICY);
    }
    // The same three placements for both plugins: a sender and a receiver on the first node, a
    // receiver on the second.
    const pods = {
      tern: {
        src: await cluster.addPod(n1, "tern-src"),
        same: await cluster.addPod(n1, "tern-same"),
        cross: await cluster.addPod(n2, "tern-cross"),
      },
      ptp: {
        src: await addPtpPod(cluster, ref, r1, "ptp-src"),
        same: await addPtpPod(cluster, ref, r1, "ptp-same"),
        cross: await addPtpPod(cluster, ref, r2, "ptp-cross"),
      },
    };
    for (const set of Object.values(pods)) {
      for (const to of [set.same, set.cross]) {
        servers.push(
          await startIperfServer(to.netns, serverCpu === undefined ? {} : { cpu: serverCpu }),
        );
        // tern's peer routes come from the daemons' reconcile: wait until the path works.
        const deadline = Date.now() + 10_000;
        while (!(await cluster.sb.ping(set.src.netns, to.ip!))) {
          if (Date.now() > deadline) {
            throw new Error(`${set.src.name} cannot reach ${to.name} (${to.ip}) after 10 s`);
          }
        }
      }
    }
    // One short untimed run per path first: the first packets of a path resolve neighbours
    // (ptp's gateway is ARP-learned) and warm caches, which would otherwise land in round 1.
    for (const set of Object.values(pods)) {
      for (const to of [set.same, set.cross]) {
        await runIperf(set.src.netns, to.ip!, { protocol: "tcp", streams: 1 }, {
          seconds: 1,
          ...(clientCpu === undefined ? {} : { cpu: clientCpu }),
        });
      }
    }
    const tracking = async (node: SandboxNode) =>
      (await cluster.sb.exec(node.netns, ["nft", "list", "chain", "inet", "tern", "forward"]))
        .stdout.includes("ct state");
    if (options.isolated) {
      await pollUntil(async () => await tracking(n1) && await tracking(n2), {
        what: "--isolated: tern's tables tracking connections",
        timeoutMs: 10_000,
      });
    }
    // Throughput on 2 cores is only comparable on an otherwise idle machine: say how busy it
    // was before, so that figures taken beside other work are recognised as such.
    const busyBefore = await machineBusyPercent(1000);
    // What the packets walk besides routes: tern's nftables table, when the daemon has one.
    const nftTables = async (node: SandboxNode) =>
      (await cluster.sb.exec(node.netns, ["nft", "list", "tables"])).stdout.trim().split("\n")
        .filter(Boolean).join(", ") || "none";
    const nftSeen = `${n1.name}: ${await nftTables(n1)}${
      options.policy ? `, connections tracked: ${await tracking(n1) ? "yes" : "no"}` : ""
    }; ${r1.name}: ${await nftTables(r1)}`;
    const flows = iperfFlows(options.udpBps);
    const results = new Map<string, { tern: IperfResult[]; ptp: IperfResult[] }>();
    for (let r = 0; r < options.rounds; r++) {
      for (const placement of ["same", "cross"] as const) {
        for (const { label, flow } of flows) {
          const key = `${placement === "same" ? "same node" : "cross node"} ${label}`;
          const cell = results.get(key) ?? { tern: [], ptp: [] };
          results.set(key, cell);
          // Alternate who goes first, so that drift (thermal, page cache) cancels out.
          const order = r % 2 === 0 ? (["tern", "ptp"] as const) : (["ptp", "tern"] as const);
          for (const plugin of order) {
            const set = pods[plugin];
            cell[plugin].push(
              await runIperf(set.src.netns, set[placement].ip!, flow, {
                seconds: options.seconds,
                ...(clientCpu === undefined ? {} : { cpu: clientCpu }),
              }),
            );
          }
        }
      }
    }

    const busyAfter = await machineBusyPercent(1000);
    const gbps = (v: IperfResult[]) => median(v.map((x) => x.receivedBps)) / 1e9;
    const loss = (v: IperfResult[]) => median(v.map((x) => x.lostPercent ?? NaN));
    console.log(
      `\niperf: iperf3 pod to pod, ${options.seconds} s per run, ${options.rounds} rounds, ` +
        `medians; Gbit/s received; ratio = median of the rounds' tern/ptp; UDP target ${
          options.udpBps / 1e9
        } Gbit/s per run, ` +
        `${UDP_DATAGRAM_BYTES}-byte datagrams; ${
          options.pin ? "sender and receiver pinned to CPU 0" : "not pinned"
        }; tern's policy layer ${options.policy ? "on" : "off"}${
          options.isolated ? ", tern's pods isolated by an allow-all NetworkPolicy" : ""
        }; ${
          options.nodeConntrack
            ? "conntrack on in every node (a kube-proxy stand-in); "
            : options.ptpConntrack
            ? "conntrack on in ptp's nodes; "
            : ""
        }goal ratio >= 0.95`,
    );
    console.log(
      row([
        "cell",
        "tern",
        "ptp",
        "ratio",
        "ratio p25-p75",
        "tern loss%",
        "ptp loss%",
        "spread tern | ptp",
      ]),
    );
    let worst = Infinity;
    const spread = (v: IperfResult[]) => {
      const g = v.map((x) => x.receivedBps / 1e9);
      return `${Math.min(...g).toFixed(1)}-${Math.max(...g).toFixed(1)}`;
    };
    for (const [key, cell] of results) {
      const t = gbps(cell.tern);
      const p = gbps(cell.ptp);
      // Each round measured tern and ptp back to back: the median of those paired ratios
      // cancels slow drift and other work that spans a pair, better than a ratio of medians.
      const ratios = cell.tern.map((x, i) => x.receivedBps / cell.ptp[i]!.receivedBps);
      const ratio = median(ratios);
      // How far the paired ratios spread: a cell whose quartiles straddle 0.95 is not decided.
      const [low, high] = [percentile(ratios, 25), percentile(ratios, 75)];
      worst = Math.min(worst, ratio);
      const id = `iperf.${key.replaceAll(" ", "-").toLowerCase()}`;
      summary[`${id}.tern.gbps`] = t;
      summary[`${id}.ptp.gbps`] = p;
      summary[`${id}.ratio`] = ratio;
      summary[`${id}.ratioP25`] = low;
      summary[`${id}.ratioP75`] = high;
      const udp = key.includes("UDP");
      if (udp) {
        summary[`${id}.tern.lossPercent`] = loss(cell.tern);
        summary[`${id}.ptp.lossPercent`] = loss(cell.ptp);
      }
      console.log(row([
        key,
        t.toFixed(2),
        p.toFixed(2),
        `${ratio.toFixed(2)}x`,
        `${low.toFixed(2)}-${high.toFixed(2)}`,
        udp ? loss(cell.tern).toFixed(2) : "",
        udp ? loss(cell.ptp).toFixed(2) : "",
        `${spread(cell.tern)} | ${spread(cell.ptp)}`,
      ]));
    }
    summary["iperf.worstRatio"] = worst;
    summary["iperf.busyBeforePercent"] = busyBefore;
    summary["iperf.busyAfterPercent"] = busyAfter;
    console.log(`  worst ratio: ${worst.toFixed(2)}x`);
    console.log(`  nftables tables: ${nftSeen}`);
    console.log(
      `  machine busy before the runs: ${busyBefore.toFixed(0)}% of all CPUs, after: ${
        busyAfter.toFixed(0)
      }%` +
        (Math.max(busyBefore, busyAfter) > 10
          ? " (other work was running: these figures are not reliable)"
          : ""),
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await cluster.cleanup();
  }
}

/**
 * The idle bench's floor process (plain JavaScript, run with the sandbox directory as its
 * argument): ternd's runtime features without tern, then it waits.
 */
const IDLE_FLOOR_SCRIPT = `const dir = Deno.args[0];
const kv = await Deno.openKv(dir + "/floor.kv");
await kv.set(["floor"], 1);
await new Deno.Command("true").output();
Deno.serve({ path: dir + "/floor.sock", onListen() {} }, () => new Response("ok"));
Deno.mkdirSync(dir + "/floor.d", { recursive: true });
(async () => { for await (const _ of Deno.watchFs(dir + "/floor.d")) { /* none come */ } })();
let x = 0;
for (let i = 0; i < 3e7; i++) x += Math.sqrt(i) | 0;
globalThis.floor = x;
setInterval(() => {}, 2 ** 30);
`;

async function benchIdle(options: { seconds: number }, summary: Summary): Promise<void> {
  const cluster = await SandboxCluster.create();
  let bare: Deno.ChildProcess | undefined;
  let floor: Deno.ChildProcess | undefined;
  try {
    const nodes = await cluster.addNodes(["node-1", "node-2", "node-3"]);
    for (const node of nodes) {
      for (let i = 1; i <= 3; i++) await cluster.addPod(node, `idle-${node.index}-${i}`);
    }
    const script = `${cluster.sb.dir}/idle.ts`;
    await Deno.writeTextFile(script, "setInterval(() => {}, 2 ** 30);\n");
    bare = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", script],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // The floor: a Deno process that uses the runtime features ternd needs and nothing of
    // tern's (a KV store, a child process, an HTTP server on a Unix socket, a directory watch,
    // a hot loop that the optimizing compiler takes), then waits.
    const floorScript = `${cluster.sb.dir}/floor.js`;
    await Deno.writeTextFile(floorScript, IDLE_FLOOR_SCRIPT);
    floor = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-all", "--unstable-kv", floorScript, cluster.sb.dir],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Let both settle: the daemons' first passes and the watches' start, the bare process's
    // start-up; what follows is idle.
    await new Promise((r) => setTimeout(r, 3000));
    const daemon = nodes[0]!.daemon!;
    const windowMs = options.seconds * 1000;
    const comm = (await Deno.readTextFile(`/proc/${daemon.pid}/comm`)).trim();
    const [tree, main, base, floorUse] = await Promise.all([
      sampleUsage(daemon.pid, { windowMs, children: true }),
      sampleUsage(daemon.pid, { windowMs }),
      sampleUsage(bare.pid, { windowMs }),
      sampleUsage(floor.pid, { windowMs }),
    ]);
    console.log(
      `\nidle: ${options.seconds} s window, node-1 of 3 nodes with 3 pods each; CPU from ` +
        `/proc/<pid>/stat (10 ms ticks), RSS from /proc/<pid>/status`,
    );
    console.log(row(["process", "CPU %", "CPU ms", "RSS MiB", "processes"]));
    const show = (label: string, s: typeof tree) =>
      console.log(row([
        label,
        s.cpuPercent.toFixed(2),
        s.cpuMs.toFixed(0),
        (s.rssKiB / 1024).toFixed(1),
        String(s.processes),
      ]));
    show(`ternd (${comm}, pid ${daemon.pid})`, main);
    show("ternd + children", tree);
    show("bare deno (waits)", base);
    show("deno, ternd's runtime features", floorUse);
    // Where the resident set is: anonymous memory (V8's heap, the allocator's) or pages of
    // mapped files (the Deno executable's code and snapshot as far as they were touched).
    const parts = async (pid: number) =>
      parseRssParts(await Deno.readTextFile(`/proc/${pid}/status`));
    const [dParts, bParts, fParts] = [
      await parts(daemon.pid),
      await parts(bare.pid),
      await parts(floor.pid),
    ];
    const mib = (kib: number) => (kib / 1024).toFixed(1);
    const split = (p: typeof dParts) => `${mib(p.anon)} / ${mib(p.file)} / ${mib(p.shmem)}`;
    console.log(
      `  RSS parts, MiB (anon / file / shmem): ternd ${split(dParts)}, bare deno ${
        split(bParts)
      }, runtime features ${split(fParts)}; ternd / bare deno: ${
        (main.rssKiB / base.rssKiB).toFixed(2)
      }x (goal 1.5x), runtime features / bare deno: ${
        (floorUse.rssKiB / base.rssKiB).toFixed(2)
      }x, ternd / runtime features: ${(main.rssKiB / floorUse.rssKiB).toFixed(2)}x`,
    );
    summary["idle.floor.rssMiB"] = floorUse.rssKiB / 1024;
    summary["idle.ternd.rssAnonMiB"] = dParts.anon / 1024;
    summary["idle.deno.rssAnonMiB"] = bParts.anon / 1024;
    summary["idle.ternd.cpuPercent"] = main.cpuPercent;
    summary["idle.ternd.rssMiB"] = main.rssKiB / 1024;
    summary["idle.terndTree.cpuPercent"] = tree.cpuPercent;
    summary["idle.terndTree.rssMiB"] = tree.rssKiB / 1024;
    summary["idle.deno.cpuPercent"] = base.cpuPercent;
    summary["idle.deno.rssMiB"] = base.rssKiB / 1024;
  } finally {
    for (const child of [bare, floor]) {
      if (child === undefined) continue;
      child.kill("SIGKILL");
      await child.status;
    }
    await cluster.cleanup();
  }
}

async function benchReconcile(summary: Summary): Promise<void> {
  console.log(
    "\nreconcile: one pass by local endpoints (10 peer nodes, every tenth endpoint bound to an " +
      "egress table; measureReconcile of scripts/reconcile_bench.ts; medians of 5; ms)",
  );
  console.log(
    row(["endpoints", "routes", "rules", "pure", "fake ip", "kernel 1st", "kernel", "repair"]),
  );
  const rows: ReconcileMeasurement[] = [];
  for (const n of [10, 100, 1000]) {
    const m = await measureReconcile(n, { kernel: true });
    rows.push(m);
    const k = m.kernel!;
    summary[`reconcile.${n}.pureSteadyMs`] = m.pure.steadyMs;
    summary[`reconcile.${n}.fakeSteadyMs`] = m.fake.steadyMs;
    summary[`reconcile.${n}.kernelFirstMs`] = k.firstMs;
    summary[`reconcile.${n}.kernelSteadyMs`] = k.steadyMs;
    summary[`reconcile.${n}.kernelRepairMs`] = k.repairMs;
    console.log(row([
      String(n),
      String(m.wantedRoutes),
      String(m.wantedRules),
      m.pure.steadyMs,
      m.fake.steadyMs,
      k.firstMs,
      k.steadyMs,
      k.repairMs,
    ]));
  }
  const [, hundred, thousand] = rows as [unknown, ReconcileMeasurement, ReconcileMeasurement];
  const growth = (pick: (m: ReconcileMeasurement) => number) =>
    (pick(thousand) / pick(hundred)).toFixed(1);
  console.log(
    `  1000 / 100 endpoints (linear is 10x): pure ${growth((m) => m.pure.steadyMs)}x, ` +
      `fake ip ${growth((m) => m.fake.steadyMs)}x, kernel ${
        growth((m) => m.kernel!.steadyMs)
      }x, repair ${growth((m) => m.kernel!.repairMs)}x`,
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      only: { type: "string" },
      pods: { type: "string", default: "50" },
      rounds: { type: "string", default: "2" },
      burst: { type: "string", default: "30" },
      "scale-pods": { type: "string", default: "250" },
      "iperf-seconds": { type: "string", default: "2" },
      "iperf-rounds": { type: "string", default: "5" },
      "udp-bitrate": { type: "string", default: "2G" },
      "idle-seconds": { type: "string", default: "10" },
      pin: { type: "boolean", default: false },
      "no-policy": { type: "boolean", default: false },
      "ptp-conntrack": { type: "boolean", default: false },
      "node-conntrack": { type: "boolean", default: false },
      isolated: { type: "boolean", default: false },
      "policy-pairs": { type: "string", default: "6" },
      "admit-pods": { type: "string", default: "20" },
      "status-delay-ms": { type: "string", default: "1000" },
      "ipam-rounds": { type: "string", default: "3" },
      "kube-nodes": { type: "string", default: "5000" },
      "kube-pods": { type: "string", default: "150000" },
      "kube-policies": { type: "string", default: "10000" },
      "kube-samples": { type: "string", default: "200" },
      "keep-log": { type: "string" },
      json: { type: "string" },
    },
  });
  const selected = selectBenchmarks(values.only);
  const tern = await ensureBuilt();
  Deno.env.set("TERN_BIN", tern);
  const summary: Summary = {};
  const started = performance.now();
  for (const bench of selected) {
    switch (bench) {
      case "pod-add-del":
        await benchPodAddDel({
          pods: Number(values.pods),
          rounds: Number(values.rounds),
          burst: Number(values.burst),
          scalePods: Number(values["scale-pods"]),
        }, summary);
        break;
      case "plugin-startup":
        await benchPluginStartup(tern, summary);
        break;
      case "iperf":
        await benchIperf({
          seconds: Number(values["iperf-seconds"]),
          rounds: Number(values["iperf-rounds"]),
          udpBps: parseBitrate(values["udp-bitrate"]),
          pin: values.pin,
          policy: !values["no-policy"],
          ptpConntrack: values["ptp-conntrack"],
          nodeConntrack: values["node-conntrack"],
          isolated: values.isolated,
        }, summary);
        break;
      case "idle":
        await benchIdle({ seconds: Number(values["idle-seconds"]) }, summary);
        break;
      case "reconcile":
        await benchReconcile(summary);
        break;
      case "ipam-burst": {
        const { benchIpamBurst, formatIpamBurst } = await import("./ipam_burst_bench.ts");
        const results = await benchIpamBurst({ rounds: 20 });
        console.log(
          "\nipam-burst: concurrent ADDs, time to address (allocator only, in process; the fake " +
            "API server adds 2 ms per request)\n" + formatIpamBurst(results),
        );
        for (const r of results) {
          summary[`ipamBurst.${r.burst}.${r.mode}.p50Ms`] = r.p50Ms;
          summary[`ipamBurst.${r.burst}.${r.mode}.p99Ms`] = r.p99Ms;
          summary[`ipamBurst.${r.burst}.${r.mode}.claims`] = r.claims;
        }
        break;
      }
      case "ipam-burst-e2e": {
        const { benchIpamE2e, formatIpamE2e } = await import("./bench_ipam_e2e.ts");
        const run = await benchIpamE2e({ rounds: Number(values["ipam-rounds"]) });
        console.log(
          "\nipam-burst-e2e: concurrent ADDs through the plugin and libcni, node-cidr vs blocks\n" +
            formatIpamE2e(run.results, { before: run.loadBefore, after: run.loadAfter }),
        );
        for (const r of run.results) {
          summary[`ipamBurstE2e.${r.burst}.${r.case}.p50Ms`] = r.p50Ms;
          summary[`ipamBurstE2e.${r.burst}.${r.case}.p99Ms`] = r.p99Ms;
          summary[`ipamBurstE2e.${r.burst}.${r.case}.p50Ratio`] = r.p50Ratio;
          summary[`ipamBurstE2e.${r.burst}.${r.case}.claimsMax`] = r.claimsMax;
        }
        break;
      }
      case "policy": {
        const result = await benchPolicy({
          pairs: Number(values["policy-pairs"]),
          nodeConntrack: values["node-conntrack"],
        });
        console.log(
          `\npolicy: throughput and connection rate by rules present\n${formatPolicyBench(result)}`,
        );
        for (const c of result.cases) {
          summary[`policy.${c.name}.gbps`] = c.bps / 1e9;
          summary[`policy.${c.name}.bpsRatio`] = c.bpsRatio;
          summary[`policy.${c.name}.connRatio`] = c.connRatio;
          if (c.bpsRatioP25 !== undefined) {
            summary[`policy.${c.name}.bpsRatioP25`] = c.bpsRatioP25;
            summary[`policy.${c.name}.bpsRatioP75`] = c.bpsRatioP75!;
            summary[`policy.${c.name}.connRatioP25`] = c.connRatioP25!;
            summary[`policy.${c.name}.connRatioP75`] = c.connRatioP75!;
          }
        }
        break;
      }
      case "table-repair": {
        const result = await benchTableRepair({
          rounds: 10,
          periodicRounds: 3,
          idleSeconds: Number(values["idle-seconds"]),
        });
        console.log(
          `\ntable-repair: a tampered inet tern, time to repair\n${formatTableRepair(result)}`,
        );
        for (const r of result.repairs) {
          for (const how of TAMPERINGS) {
            const key = `tableRepair.${r.monitor ? "commits" : "periodic"}.${how.replace(" ", "")}`;
            summary[`${key}.medianMs`] = medianMax(r.times[how]).median;
          }
        }
        summary["tableRepair.readUs"] = result.readUs;
        break;
      }
      case "kube-admit": {
        const result = await benchKubeAdmit({
          pods: Number(values["admit-pods"]),
          statusDelayMs: Number(values["status-delay-ms"]),
        });
        console.log(
          `\nkube-admit: ADD on node-1 → node-2's policy admits the pod\n${
            formatKubeAdmit(result)
          }`,
        );
        Object.assign(summary, kubeAdmitSummary(result));
        break;
      }
      case "nft-maps": {
        const { benchNftMaps, formatNftMaps } = await import("./bench_nft_maps.ts");
        const result = await benchNftMaps();
        console.log(
          `\nnft-maps: one change to a layer's map, by shape and size\n${formatNftMaps(result)}`,
        );
        for (const r of result.results) {
          for (const [op, times] of r.times) {
            summary[`nftMaps.${r.size}.${r.shape}.${op.replaceAll(" ", "-")}.p50Ms`] = median(
              times,
            );
          }
          summary[`nftMaps.${r.size}.${r.shape}.create.p50Ms`] = median(r.create);
        }
        break;
      }
      case "kube-scale": {
        const r = await benchKubeScale({
          nodes: Number(values["kube-nodes"]),
          pods: Number(values["kube-pods"]),
          policies: Number(values["kube-policies"]),
          samples: Number(values["kube-samples"]),
          ...(values["keep-log"] !== undefined ? { keepLog: values["keep-log"] } : {}),
        });
        console.log(`\n${formatKubeScale(r)}`);
        summary["kube.syncS"] = r.syncS;
        summary["kube.rssAfterSyncMiB"] = r.rssAfterSyncMiB;
        summary["kube.rssSettledMiB"] = r.rssSettledMiB;
        summary["kube.rssEndMiB"] = r.rssEndMiB;
        summary["kube.cpuPercentPer1000EventsPerSecond"] = r.cpuPercentPer1000EventsPerSecond;
        summary["kube.latency.p50Ms"] = r.all.p50Ms;
        summary["kube.latency.p99Ms"] = r.all.p99Ms;
        summary["kube.latency.lost"] = r.all.lost;
        break;
      }
    }
  }
  console.error(
    `\nbench: ${selected.join(", ")} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(summary, null, 2));
  return 0;
}

if (import.meta.main) Deno.exit(await main());

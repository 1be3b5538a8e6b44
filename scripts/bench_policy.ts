/**
 * Policy benchmark (issue 4, Speed), on a two-node sandbox cluster (root; nothing in the root
 * namespace): pod `srv/client` on node-1 talks to `srv/server` on node-2 while rules are present.
 *
 * - Cases: no policy; 1k and 10k SecurityGroup rules on other pods (`bench/loaded-<n>`, one per
 *   node, so both nodes' tables hold them: present, not on the pair's path); 10k rules in the
 *   server's own group (its own map holds them, plus one allow for the client); and the foil:
 *   no tern policy, but 10k non-matching rules in a linear iptables chain jumped to from FORWARD
 *   on both nodes, then ACCEPT.
 * - Each case is measured in alternating pairs with a 0-rule measurement next to it (ABBA: 0 then
 *   the case, the case then 0, …; `--pairs`, default 6 for 10k and 1k rules of other pods, half as
 *   many for the others): load the rules (written as JSON), wait until both daemons report them
 *   applied and use under 5% of a CPU, measure; unload likewise. A measurement: iperf3 TCP
 *   throughput (median of `--rounds` runs of `--seconds`, default 1 × 2 s) and the TCP connection
 *   rate (4 loops of connect, read, close for `--seconds`). Per case: the median of the pairs'
 *   ratios (case / its 0-rule partner) and their 25th–75th percentiles, which cancels the drift of
 *   this shared machine that a ratio of two separate medians does not.
 * - Programming latency with 10k rules present: `measurePolicyLatency` (the daemon's manager, change
 *   → nft returned, in a throwaway netns), and end to end: a deny NetworkPolicy written to the
 *   cluster directory → the send time of the first refused probe (the packet the new rule
 *   judged), then removed → the first passing probe, with 0 and 10k rules of other pods present;
 *   and the client's rule removed from / put back in the server's own 10k-rule group's file (YAML
 *   and JSON). Each change also reports the server's node's policy run and `files` source read.
 *
 * `deno run -A --unstable-kv scripts/bench_policy.ts [--seconds=2] [--rounds=1] [--pairs=6]
 * [--samples=10] [--only-latency | --only-throughput] [--node-conntrack] [--cases=a,b] [--json]`
 * (`--only-latency`: only the end-to-end series; `--only-throughput`: only the paired cases;
 * `--node-conntrack`: both nodes get the same `ct state` rule in a table of the sandbox's own, a
 * stand-in for kube-proxy, so that tracking is on in the 0-rule partner too; `--cases`: only the
 * paired cases whose name contains one of the words, e.g. `--cases=other,own`);
 * {@linkcode benchPolicy} is what `deno task bench` calls.
 * @module
 */
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { errorMessage } from "../src/lib/errors.ts";
import { SandboxCluster } from "../test/sandbox_cluster.ts";
import { must, type SandboxNode } from "../test/sandbox.ts";
import { Agent } from "../test/policy_lab.ts";
import { pollUntil } from "../test/poll.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import type { PolicyStatusResponse } from "../src/api.ts";
import { runIperf, startIperfServer } from "./iperf.ts";
import { CLK_TCK, descendants, machineBusyPercent, readUsage } from "./proc_usage.ts";
import { measurePolicyLatency, type PolicyLatencyResult } from "./policy_latency.ts";
import { Nft } from "../src/nft.ts";
import { Ip } from "../src/ip.ts";
import { IpVethGroups } from "../daemon/policy/veth_groups.ts";
import { denoRunner } from "../src/runner.ts";
import { enableNodeConntrack, nodeConntrackTableName } from "../test/ptp_reference.ts";

/** One case's figures. */
export interface PolicyBenchCase {
  name: string;
  /** Throughput, bits per second (median), and connections per second. */
  bps: number;
  connPerS: number;
  /** Ratios to the 0-rule case. */
  bpsRatio: number;
  connRatio: number;
  /** CPU the two daemons (with their children) used during the case, percent of one CPU. */
  daemonCpuPercent: number;
  /** How long the daemons stayed busy (over 5% of a CPU) before the case was measured, ms. */
  quietMs: number;
  /** Each node's policy transactions so far: `applies/whole/restores/checks`. */
  daemonCounters: string[];
  /** How long the rules took to be applied on both nodes (tern cases), ms. */
  applyMs?: number;
  /**
   * Paired cases: the 25th and 75th percentiles of the pairs' ratios (`bpsRatio` and `connRatio`
   * are their medians), the median of the 0-rule measurements next to them, and every pair.
   */
  bpsRatioP25?: number;
  bpsRatioP75?: number;
  connRatioP25?: number;
  connRatioP75?: number;
  baseBps?: number;
  baseConnPerS?: number;
  pairs?: PairSample[];
}

/** One measurement of one load. */
export interface Measured {
  bps: number;
  connPerS: number;
  /** Connection attempts of the rate loops that failed (1 s timeout each). */
  connFailed?: number;
  /** Each node's tracked connections after the loops (`nf_conntrack_count`; -1: not tracking). */
  conntrackEntries?: number[];
  daemonCpuPercent: number;
  quietMs: number;
  daemonCounters: string[];
  applyMs?: number;
}

/** A case measured next to a 0-rule measurement; `caseFirst` says which of the two came first. */
export interface PairSample {
  caseFirst: boolean;
  base: Measured;
  value: Measured;
}

/**
 * `cutime + cstime` in ticks from the text of `/proc/<pid>/stat`: the CPU time of the children
 * the process has waited for (pure).
 */
export function reapedChildTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17.
  const ticks = Number(fields[13]) + Number(fields[14]);
  if (!Number.isFinite(ticks)) throw new Error(`Cannot parse /proc stat: ${stat.slice(0, 80)}`);
  return ticks;
}

/** What is loaded during a measurement. */
export type Load =
  | { kind: "none" }
  | { kind: "tern"; rules: number; selector: "loaded" | "server" }
  | { kind: "iptables"; rules: number };

const NO_LOAD: Load = { kind: "none" };
/** The file the throughput cases' rules are written to (JSON: parsed in ms, not ~1 s of YAML). */
const LOAD_FILE = "policy-load.json";

function sameLoad(a: Load, b: Load): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The order of `n` pairs (pure): `true` when the case is measured before its 0-rule partner.
 * ABBA: 0 then case, case then 0, …, so that drift over a pair favours neither side and two
 * pairs in a row share a load (one load change per pair).
 */
export function pairOrder(n: number): boolean[] {
  return Array.from({ length: n }, (_, i) => i % 2 === 1);
}

/** The mean of the middle two for an even count (pure). */
export function medianOf(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The median of paired ratios `value / base` and their 25th and 75th percentiles (nearest rank),
 * rounded to 3 decimals (pure). A ratio per pair cancels drift that spans the pair, which a ratio
 * of two medians does not.
 */
export function pairedRatios(
  pairs: { base: number; value: number }[],
): { median: number; p25: number; p75: number } {
  const ratios = pairs.map((p) => p.value / p.base);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    median: r3(medianOf(ratios)),
    p25: r3(percentile(ratios, 25)),
    p75: r3(percentile(ratios, 75)),
  };
}

/** A paired case's figures from its pairs (pure). */
export function pairedCase(name: string, pairs: PairSample[]): PolicyBenchCase {
  const bps = pairedRatios(pairs.map((p) => ({ base: p.base.bps, value: p.value.bps })));
  const conn = pairedRatios(pairs.map((p) => ({ base: p.base.connPerS, value: p.value.connPerS })));
  const values = pairs.map((p) => p.value);
  const applied = values.flatMap((v) => v.applyMs !== undefined ? [v.applyMs] : []);
  return {
    name,
    bps: medianOf(values.map((v) => v.bps)),
    connPerS: medianOf(values.map((v) => v.connPerS)),
    bpsRatio: bps.median,
    bpsRatioP25: bps.p25,
    bpsRatioP75: bps.p75,
    connRatio: conn.median,
    connRatioP25: conn.p25,
    connRatioP75: conn.p75,
    baseBps: medianOf(pairs.map((p) => p.base.bps)),
    baseConnPerS: medianOf(pairs.map((p) => p.base.connPerS)),
    daemonCpuPercent: Math.max(...values.map((v) => v.daemonCpuPercent)),
    quietMs: Math.max(...values.map((v) => v.quietMs)),
    daemonCounters: values[values.length - 1]?.daemonCounters ?? [],
    ...(applied.length > 0 ? { applyMs: medianOf(applied) } : {}),
    pairs,
  };
}

/** The 0-rule row: the median of every 0-rule measurement of the paired cases (pure). */
export function baseCase(cases: PolicyBenchCase[]): PolicyBenchCase {
  const base = cases.flatMap((c) => (c.pairs ?? []).map((p) => p.base));
  return {
    name: "0 rules (every pair's partner)",
    bps: medianOf(base.map((b) => b.bps)),
    connPerS: medianOf(base.map((b) => b.connPerS)),
    bpsRatio: 1,
    connRatio: 1,
    daemonCpuPercent: Math.max(0, ...base.map((b) => b.daemonCpuPercent)),
    quietMs: Math.max(0, ...base.map((b) => b.quietMs)),
    daemonCounters: base[base.length - 1]?.daemonCounters ?? [],
  };
}

/**
 * The paired cases and how many pairs each gets (pure): `pairs` for the 10k and 1k rules of other
 * pods (issue 4's goal), half as many (at least 2) for the server's own 10k-rule group and the
 * linear iptables foil (whose ratio is far from 1), and for an A/A control (0 rules on both sides).
 */
export function pairedCaseList(pairs: number): { name: string; load: Load; pairs: number }[] {
  const fewer = Math.max(2, Math.floor(pairs / 2));
  return [
    {
      name: "10k rules, other pods",
      load: { kind: "tern", rules: 10_000, selector: "loaded" },
      pairs,
    },
    {
      name: "1k rules, other pods",
      load: { kind: "tern", rules: 1000, selector: "loaded" },
      pairs,
    },
    {
      name: "10k rules, the server's own group",
      load: { kind: "tern", rules: 10_000, selector: "server" },
      pairs: fewer,
    },
    {
      name: "10k rules, linear iptables FORWARD chain (foil)",
      load: { kind: "iptables", rules: 10_000 },
      pairs: fewer,
    },
    // Two 0-rule measurements paired the same way: the ratios' spread that is the machine's alone.
    { name: "0 rules again (A/A control)", load: NO_LOAD, pairs: fewer },
  ];
}

/** Everything the benchmark measured. */
export interface PolicyBenchResult {
  cases: PolicyBenchCase[];
  /** The manager's latency with 10k rules (change → nft returned). */
  manager: PolicyLatencyResult[];
  /** End to end: manifest written → first refused probe, and removed → first passing probe. */
  endToEnd?: EndToEnd;
  /** The same with no rules present. */
  endToEndNoRules?: EndToEnd;
  /** The client's allow rule removed from / put back in the server's own 10k-rule group's file (YAML). */
  endToEndOwnGroup?: EndToEnd;
  /** The same with the file written as JSON. */
  endToEndOwnGroupJson?: EndToEnd;
  iptables: string;
  /** Whether every node had the kube-proxy stand-in (`--node-conntrack`). */
  nodeConntrack?: boolean;
  /** How busy the machine was (all CPUs, percent) for 1 s before and after the paired cases. */
  machineBusyBeforePercent?: number | undefined;
  machineBusyAfterPercent?: number | undefined;
}

/**
 * One crossing of a change: the first probe with the new answer. ms after the manifest write
 * began: `sentMs` when that probe's SYN left (the packet judged by the new rule), `lowMs` when the
 * probe before it left (still judged by the old one), `returnedMs` when its answer came back.
 */
export interface Crossing {
  sentMs: number;
  lowMs: number;
  returnedMs: number;
}

/** A change made and reverted `n` times, each timed to the first probe judged by the new rules. */
export interface EndToEnd {
  /** What changed. */
  name: string;
  /** Rules present (other than the change). */
  rules: number;
  /** Change → first refused probe, revert → first passing probe. */
  deny: Crossing[];
  allow: Crossing[];
  /** p50 and p99 of `sentMs`, `lowMs` and `returnedMs` of the change. */
  denyP50: number;
  denyP99: number;
  denyLowP50: number;
  denyLowP99: number;
  denyReturnedP50: number;
  denyReturnedP99: number;
  allowP50: number;
  allowP99: number;
  /**
   * The server's node's policy run for each change (its status' `lastApply`), ms after the write:
   * when it started compiling (after the files source and the manager's debounce), when nft
   * returned, the compile time, and the table checks made meanwhile; per change, then medians.
   */
  runs: ServerRun[];
  /**
   * The server's node's `files` source reads that parsed the changed file (its `Read manifests`
   * debug lines): read, parse, merge and compare, ms, per read; with the file's size.
   */
  readMs?: number[];
  readBytes?: number;
  runStartP50?: number;
  runDoneP50?: number;
  computeP50?: number;
}

/** The server's node's policy run for one change, ms after the write. */
export interface ServerRun {
  startMs: number;
  doneMs: number;
  computeMs: number;
  /** Table checks (listing the whole table) made between the write and the run's end. */
  checks: number;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

/** The figures of a series (pure). */
export function endToEndFigures(
  what: { name: string; rules: number },
  deny: Crossing[],
  allow: Crossing[],
  runs: ServerRun[],
): EndToEnd {
  const p = (values: number[], q: number) => round1(percentile(values, q));
  const r = (c: Crossing) => ({
    sentMs: round1(c.sentMs),
    lowMs: round1(c.lowMs),
    returnedMs: round1(c.returnedMs),
  });
  const e: EndToEnd = {
    ...what,
    deny: deny.map(r),
    allow: allow.map(r),
    runs: runs.map((x) => ({
      startMs: round1(x.startMs),
      doneMs: round1(x.doneMs),
      computeMs: round1(x.computeMs),
      checks: x.checks,
    })),
    denyP50: p(deny.map((c) => c.sentMs), 50),
    denyP99: p(deny.map((c) => c.sentMs), 99),
    denyLowP50: p(deny.map((c) => c.lowMs), 50),
    denyLowP99: p(deny.map((c) => c.lowMs), 99),
    denyReturnedP50: p(deny.map((c) => c.returnedMs), 50),
    denyReturnedP99: p(deny.map((c) => c.returnedMs), 99),
    allowP50: p(allow.map((c) => c.sentMs), 50),
    allowP99: p(allow.map((c) => c.sentMs), 99),
  };
  if (runs.length > 0) {
    e.runStartP50 = p(runs.map((x) => x.startMs), 50);
    e.runDoneP50 = p(runs.map((x) => x.doneMs), 50);
    e.computeP50 = p(runs.map((x) => x.computeMs), 50);
  }
  return e;
}

/** One line for a series (pure). */
export function formatEndToEnd(e: EndToEnd): string {
  const reads = e.readMs === undefined || e.readMs.length === 0
    ? ""
    : `; the server's node's files source read the changed file (${e.readBytes} bytes) in ` +
      `p50 ${percentile(e.readMs, 50)} ms, max ${percentile(e.readMs, 100)} ms`;
  const run = e.runStartP50 === undefined ? "" : `; the server's node's policy run (p50): ` +
    `started ${e.runStartP50} ms after the write, nft returned at ${e.runDoneP50} ms, ` +
    `compile ${e.computeP50} ms`;
  return `end to end, ${e.name}, ${e.deny.length} samples: first refused probe sent ` +
    `p50 ${e.denyP50} ms, p99 ${e.denyP99} ms (the passing probe before it: p50 ${e.denyLowP50}, ` +
    `p99 ${e.denyLowP99}; refused answer returned: p50 ${e.denyReturnedP50}, ` +
    `p99 ${e.denyReturnedP99}); reverted → first passing probe sent p50 ${e.allowP50} ms, ` +
    `p99 ${e.allowP99} ms${run}${reads}`;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const median = (v: number[]) => percentile(v, 50);

/** `n` SecurityGroup rules, each TCP to one port from one address of 10.200.0.0/14. */
export function loadRules(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    action: "allow",
    protocol: "tcp",
    ports: [1024 + (i % 50_000)],
    from: [{ cidr: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32` }],
  }));
}

function list(items: Record<string, unknown>[]) {
  return { apiVersion: "v1", kind: "List", items };
}

function loadManifests(rules: number, selector: string, extra: Record<string, unknown>[] = []) {
  return list([
    {
      apiVersion: "vpcresources.k8s.aws/v1beta1",
      kind: "SecurityGroupPolicy",
      metadata: { name: "load", namespace: selector === "server" ? "srv" : "bench" },
      spec: {
        podSelector: { matchLabels: { role: selector } },
        securityGroups: { groupIds: ["sg-load"] },
      },
    },
    {
      apiVersion: "tern.dev/v1alpha1",
      kind: "SecurityGroup",
      metadata: { name: "sg-load" },
      spec: { ingress: [...extra, ...loadRules(rules)], egress: [{ action: "allow" }] },
    },
  ]);
}

/**
 * Waits until every node has `count` policies, applied and up to date, with a policy run that
 * ended at or after `since` (ms since the epoch; default 0).
 */
async function settled(nodes: SandboxNode[], count: number, timeoutMs = 60_000, since = 0) {
  const { ms } = await pollUntil(async () => {
    for (const node of nodes) {
      const s = await new DaemonClient(node.socket, { timeoutMs: 10_000 }).request<
        PolicyStatusResponse
      >("GET", "/v1/policy/status");
      const e = s.enforcement;
      if (
        s.policies.length !== count || !e.enabled || !e.upToDate || e.pending.length ||
        (e.lastApply?.at ?? 0) < since
      ) {
        return false;
      }
    }
    return true;
  }, { what: `${count} policies applied`, timeoutMs, intervalMs: 20 });
  return ms;
}

async function iptablesFoil(nodes: SandboxNode[], rules: number): Promise<string> {
  const lines = ["*filter", ":TERNBENCH - [0:0]"];
  for (let i = 0; i < rules; i++) {
    lines.push(
      `-A TERNBENCH -s 10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 -p tcp --dport ${
        1024 + (i % 50_000)
      } -j ACCEPT`,
    );
  }
  lines.push("-A FORWARD -j TERNBENCH", "-A FORWARD -j ACCEPT", "COMMIT", "");
  for (const binary of ["iptables-legacy", "iptables-nft"]) {
    try {
      for (const node of nodes) {
        await must(["ip", "netns", "exec", node.netns, `${binary}-restore`], {
          stdin: lines.join("\n"),
        });
      }
      return binary;
    } catch {
      for (const node of nodes) await clearFoil(node, binary);
    }
  }
  throw new Error("Neither iptables-legacy nor iptables-nft works in the node namespaces");
}

async function clearFoil(node: SandboxNode, binary: string) {
  await denoRunner(["ip", "netns", "exec", node.netns, `${binary}-restore`], {
    stdin: "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
  }).catch(() => {});
  await denoRunner(["ip", "netns", "exec", node.netns, binary, "-X", "TERNBENCH"]).catch(() => {});
}

/** `net.netfilter.nf_conntrack_count` in the node's namespace, -1 when it cannot be read. */
async function conntrackCount(node: SandboxNode): Promise<number> {
  const out = await denoRunner([
    "ip",
    "netns",
    "exec",
    node.netns,
    "cat",
    "/proc/sys/net/netfilter/nf_conntrack_count",
  ]).catch(() => undefined);
  const n = Number(out?.stdout.trim());
  return out?.code === 0 && Number.isFinite(n) ? n : -1;
}

/** Runs the benchmark; `log` gets progress lines. */
export async function benchPolicy(
  options: {
    seconds?: number;
    rounds?: number;
    samples?: number;
    /** Only the end-to-end latency series (no throughput cases, no manager latency). */
    onlyLatency?: boolean;
    /** Only the throughput and connection-rate cases (no latency series). */
    onlyThroughput?: boolean;
    /** Pairs (0 rules, case) per case for 10k and 1k rules; half as many for the others. */
    pairs?: number;
    /**
     * Both nodes get one `ct state` rule in a table of the sandbox's own, standing in for
     * kube-proxy (which keeps connection tracking on for all of a node's traffic), so that the
     * 0-rule partner tracks connections as the rule cases do.
     */
    nodeConntrack?: boolean;
    /** Only the paired cases whose name contains one of these (default: all). */
    cases?: string[];
    log?: (s: string) => void;
  } = {},
): Promise<PolicyBenchResult> {
  const seconds = options.seconds ?? 2;
  const rounds = options.rounds ?? 1;
  const pairs = options.pairs ?? 6;
  const samples = options.samples ?? 10;
  const log = options.log ?? ((s: string) => console.error(s));
  const cluster = await SandboxCluster.create();
  const agents: Agent[] = [];
  let iperf: { stop(): Promise<void> } | undefined;
  try {
    const [n1, n2] = await cluster.addNodes(["node-1", "node-2"]) as [SandboxNode, SandboxNode];
    const client = await cluster.addPod(n1, "client", {
      namespace: "srv",
      labels: { role: "client" },
    });
    const server = await cluster.addPod(n2, "server", {
      namespace: "srv",
      labels: { role: "server" },
    });
    await cluster.addPod(n1, "loaded-1", { namespace: "bench", labels: { role: "loaded" } });
    await cluster.addPod(n2, "loaded-2", { namespace: "bench", labels: { role: "loaded" } });
    const [ca, sa] = await Promise.all([Agent.start(client), Agent.start(server)]);
    agents.push(ca, sa);
    iperf = await startIperfServer(server.netns);
    const nodes = [n1, n2];
    if (options.nodeConntrack) {
      for (const node of nodes) {
        await enableNodeConntrack(node, nodeConntrackTableName(cluster.sb.prefix));
      }
    }
    await settled(nodes, 0);

    const daemonTicks = async () => {
      let ticks = 0;
      for (const node of nodes) {
        const pid = node.daemon?.pid;
        if (pid === undefined) continue;
        // The daemon's reaped children too (`nft` runs of ~0.3 s for a 10k-rule table check):
        // a child that exits between two samples would otherwise take its time with it.
        ticks += await Deno.readTextFile(`/proc/${pid}/stat`).then(reapedChildTicks, () => 0);
        for (const p of [pid, ...await descendants(pid)]) {
          ticks += await readUsage(p).then((u) => u.ticks, () => 0);
        }
      }
      return ticks;
    };
    /**
     * Waits until the daemons use under 5% of a CPU over 500 ms (at most 60 s) and returns how
     * long that took: after a big change they stay busy for a while, which on a small machine
     * takes CPU from the flows measured, and is not the datapath's cost.
     */
    const quiet = async () => {
      const t0 = performance.now();
      while (performance.now() - t0 < 60_000) {
        const before = await daemonTicks();
        await new Promise((r) => setTimeout(r, 500));
        if (((await daemonTicks()) - before) / CLK_TCK / 0.5 < 0.05) break;
      }
      return Math.round(performance.now() - t0);
    };
    const counters = async () =>
      await Promise.all(nodes.map(async (node) => {
        try {
          const e = (await new DaemonClient(node.socket, { timeoutMs: 10_000 }).request<
            PolicyStatusResponse
          >("GET", "/v1/policy/status")).enforcement;
          return e.enabled
            ? `${node.name}: ${e.applies} applies, ${e.wholeApplies} whole, ${e.restores} restores, ${e.checks} checks`
            : `${node.name}: disabled`;
        } catch (err) {
          // Only a figure for the log: a daemon slow to answer does not end the run.
          return `${node.name}: ${errorMessage(err)}`;
        }
      }));
    /** One measurement of the current load: after the daemons are quiet, iperf3 and connections. */
    const measure = async (name: string, applyMs?: number): Promise<Measured> => {
      const quietMs = await quiet();
      const ticks0 = await daemonTicks();
      const start = performance.now();
      const bps: number[] = [];
      for (let r = 0; r < rounds; r++) {
        bps.push(
          (await runIperf(client.netns, server.ip!, { protocol: "tcp", streams: 1 }, {
            seconds,
          })).receivedBps,
        );
      }
      const conns = await ca.connectRate(server.ip!, 80, seconds * 1000);
      const tracked = await Promise.all(nodes.map(conntrackCount));
      const cpu = ((await daemonTicks()) - ticks0) / CLK_TCK / ((performance.now() - start) / 1000);
      const m: Measured = {
        bps: median(bps),
        connPerS: conns.count / seconds,
        connFailed: conns.failed,
        conntrackEntries: tracked,
        daemonCpuPercent: Math.round(cpu * 1000) / 10,
        quietMs,
        daemonCounters: await counters(),
        ...(applyMs !== undefined ? { applyMs: Math.round(applyMs) } : {}),
      };
      log(
        `    ${name}: ${(m.bps / 1e9).toFixed(2)} Gbit/s, ${m.connPerS.toFixed(0)} conn/s ` +
          `(${m.connFailed} failed; conntrack entries ${tracked.join(", ")}), ` +
          `daemons ${m.daemonCpuPercent}% CPU (busy ${quietMs} ms before${
            applyMs !== undefined ? `, applied in ${Math.round(applyMs)} ms` : ""
          }); ${m.daemonCounters.join("; ")}`,
      );
      return m;
    };
    const deny = list([{
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "deny", namespace: "srv" },
      spec: { podSelector: { matchLabels: { role: "server" } }, policyTypes: ["Ingress"] },
    }]);
    /**
     * Probes (30 ms each) until one answers `want`. The packet that a rule judges is the probe's
     * SYN, sent when the probe starts: `sentMs` is when the first probe with the wanted answer was
     * sent, `lowMs` when the one before it was (the rule took effect in between), `returnedMs`
     * when the first wanted answer came back (up to 30 ms after the SYN was dropped). All are ms
     * after `t0`.
     */
    const until = async (want: boolean, t0: number): Promise<Crossing> => {
      let before = t0;
      while (true) {
        const sent = performance.now();
        if ((await ca.probe("tcp", server.ip!, 80, 30)) === want) {
          return { sentMs: sent - t0, lowMs: before - t0, returnedMs: performance.now() - t0 };
        }
        before = sent;
        if (sent - t0 > 10_000) throw new Error(`probe never became ${want}`);
      }
    };
    /** The server's node's `Read manifests` debug lines that parsed `file` (none before the daemon logged them). */
    const readsOf = async (file: string) => {
      const text = await Deno.readTextFile(n2.daemonLog).catch(() => "");
      const reads: { ms: number; bytes: number }[] = [];
      for (const m of text.matchAll(/Read manifests .*?parsed=(\S*) bytes=(\d+) ms=([\d.]+)/g)) {
        if (m[1]!.split(",").includes(file)) reads.push({ bytes: Number(m[2]), ms: Number(m[3]) });
      }
      return reads;
    };
    /** The server's node's policy enforcement status. */
    const serverStatus = async () => {
      const e = (await new DaemonClient(n2.socket, { timeoutMs: 10_000 }).request<
        PolicyStatusResponse
      >("GET", "/v1/policy/status")).enforcement;
      if (!e.enabled) throw new Error("Policy is disabled on the server's node");
      return e;
    };
    /**
     * The server's node's last policy run, as ms after `epoch` (the write), and how many table
     * checks (which hold up a run while they list the table) it made since `checks`.
     */
    const lastRun = async (epoch: number, checks: number): Promise<ServerRun | undefined> => {
      const e = await serverStatus();
      const a = e.lastApply;
      if (a === undefined || a.at < epoch) return undefined;
      return {
        startMs: a.at - a.durationMs - epoch,
        doneMs: a.at - epoch,
        computeMs: a.computeMs,
        checks: e.checks - checks,
      };
    };
    /**
     * `change` (which makes the client's probes fail) → first refused probe; `revert` → first
     * passing probe; `n` times, waiting for `present` policies applied after each step.
     */
    const endToEndLatency = async (
      what: { name: string; rules: number },
      steps: { file: string; change: () => Promise<void>; revert: () => Promise<void> },
      at: { n: number; present: number; presentAfterChange: number },
    ): Promise<EndToEnd> => {
      const deny: Crossing[] = [];
      const allow: Crossing[] = [];
      const runs: ServerRun[] = [];
      for (let i = 0; i < at.n; i++) {
        const checks = (await serverStatus()).checks;
        const epoch = Date.now();
        const t0 = performance.now();
        await steps.change();
        deny.push(await until(false, t0));
        await settled(nodes, at.presentAfterChange, 60_000, epoch);
        const run = await lastRun(epoch, checks);
        if (run) runs.push(run);
        const epoch1 = Date.now();
        const t1 = performance.now();
        await steps.revert();
        allow.push(await until(true, t1));
        await settled(nodes, at.present, 60_000, epoch1);
      }
      const e = endToEndFigures(what, deny, allow, runs);
      const reads = await readsOf(steps.file);
      if (reads.length > 0) {
        e.readMs = reads.slice(-2 * at.n).map((r) => r.ms);
        e.readBytes = Math.max(...reads.map((r) => r.bytes));
      }
      log(`  ${formatEndToEnd(e)}`);
      return e;
    };
    const denyStep = {
      file: "policy-deny.yaml",
      change: () => cluster.files.writeManifest("policy-deny.yaml", deny),
      revert: () => cluster.files.removeManifest("policy-deny.yaml"),
    };
    /**
     * The server's own group: 10k rules, with or without the one that lets the client in, as
     * YAML (1.4 MB) or as JSON.
     */
    const ownGroupText = (allowClient: boolean, format: "yaml" | "json") => {
      const doc = loadManifests(
        10_000,
        "server",
        allowClient
          ? [{ action: "allow", protocol: "tcp", from: [{ cidr: `${client.ip}/32` }] }]
          : [],
      );
      return format === "yaml" ? stringify(doc) : JSON.stringify(doc, null, 1);
    };
    /** Writes `text` as `file` atomically (the text is rendered before the clock starts). */
    const writeText = (file: string, text: string) => cluster.files.writeText(file, text);
    const ownGroupLatency = async (format: "yaml" | "json") => {
      const file = `policy-load.${format}`;
      const [withClient, without] = [ownGroupText(true, format), ownGroupText(false, format)];
      await writeText(file, withClient);
      await settled(nodes, 2);
      await quiet();
      const e = await endToEndLatency(
        {
          name: `the client's allow rule removed from its server's 10k-rule group (${format})`,
          rules: 10_000,
        },
        {
          file,
          change: () => writeText(file, without),
          revert: () => writeText(file, withClient),
        },
        { n: samples, present: 2, presentAfterChange: 2 },
      );
      await cluster.files.removeManifest(file);
      await settled(nodes, 0);
      return e;
    };
    const cases: PolicyBenchCase[] = [];
    let binary = "";
    let busyBefore: number | undefined;
    let busyAfter: number | undefined;
    if (!options.onlyLatency) {
      busyBefore = Math.round(await machineBusyPercent(1000));
      // One run not counted: the first iperf3 and connections of a fresh cluster are slower.
      await runIperf(client.netns, server.ip!, { protocol: "tcp", streams: 1 }, { seconds: 1 });
      await ca.connectRate(server.ip!, 80, 500);
      /** What is loaded now; `setLoad` goes through "none" between two loads. */
      let current: Load = NO_LOAD;
      const setLoad = async (target: Load): Promise<number | undefined> => {
        if (sameLoad(current, target)) return undefined;
        if (current.kind === "tern") {
          await cluster.files.removeManifest(LOAD_FILE);
          await settled(nodes, 0);
        } else if (current.kind === "iptables") {
          for (const node of nodes) await clearFoil(node, binary);
        }
        current = NO_LOAD;
        const t0 = performance.now();
        if (target.kind === "tern") {
          // As JSON: the files source parses 10k rules in ~6 ms instead of ~1 s of YAML.
          await writeText(
            LOAD_FILE,
            JSON.stringify(loadManifests(
              target.rules,
              target.selector,
              target.selector === "server"
                ? [{ action: "allow", protocol: "tcp", from: [{ cidr: `${client.ip}/32` }] }]
                : [],
            )),
          );
          await settled(nodes, 2);
        } else if (target.kind === "iptables") {
          binary = await iptablesFoil(nodes, target.rules);
        }
        current = target;
        return target.kind === "none" ? undefined : performance.now() - t0;
      };
      const wanted = pairedCaseList(pairs).filter((c) =>
        options.cases === undefined || options.cases.some((w) => c.name.includes(w))
      );
      log(`  node conntrack (a kube-proxy stand-in): ${options.nodeConntrack ? "on" : "off"}`);
      for (const c of wanted) {
        const samples: PairSample[] = [];
        for (const caseFirst of pairOrder(c.pairs)) {
          const got: Partial<Record<"base" | "value", Measured>> = {};
          for (const which of caseFirst ? ["value", "base"] as const : ["base", "value"] as const) {
            const applyMs = await setLoad(which === "base" ? NO_LOAD : c.load);
            got[which] = await measure(
              which === "base" ? "0 rules" : c.name.replace("iptables", binary),
              applyMs,
            );
          }
          samples.push({ caseFirst, base: got.base!, value: got.value! });
        }
        cases.push(pairedCase(c.name.replace("iptables", binary), samples));
      }
      await setLoad(NO_LOAD);
      busyAfter = Math.round(await machineBusyPercent(1000));
      log(`  machine busy ${busyBefore}% before the paired cases, ${busyAfter}% after (1 s each)`);
      cases.unshift(baseCase(cases));
      for (const c of cases) log(`  ${formatCaseLine(c)}`);
    }
    if (options.onlyThroughput) {
      return {
        cases,
        manager: [],
        iptables: binary,
        machineBusyBeforePercent: busyBefore,
        machineBusyAfterPercent: busyAfter,
      };
    }

    const endToEndNoRules = await endToEndLatency(
      { name: "deny NetworkPolicy written, 0 rules present", rules: 0 },
      denyStep,
      { n: samples, present: 0, presentAfterChange: 1 },
    );
    await cluster.files.writeManifest("policy-load.yaml", loadManifests(10_000, "loaded"));
    await settled(nodes, 2);
    await quiet();
    const endToEnd = await endToEndLatency(
      { name: "deny NetworkPolicy written, 10k rules of other pods present", rules: 10_000 },
      denyStep,
      { n: samples, present: 2, presentAfterChange: 3 },
    );
    await cluster.files.removeManifest("policy-load.yaml");
    await settled(nodes, 0);
    const endToEndOwnGroup = await ownGroupLatency("yaml");
    const endToEndOwnGroupJson = await ownGroupLatency("json");
    if (options.onlyLatency) {
      return {
        cases: [],
        manager: [],
        endToEnd,
        endToEndNoRules,
        endToEndOwnGroup,
        endToEndOwnGroupJson,
        iptables: "",
      };
    }

    // The manager's own latency, in a throwaway netns.
    const netns = `${cluster.sb.prefix}-latency`;
    await must(["ip", "netns", "add", netns]);
    const manager: PolicyLatencyResult[] = [];
    try {
      const nft = new Nft(denoRunner, { netns });
      for (const change of ["other-pod", "same-pod"] as const) {
        const r = await measurePolicyLatency(
          nft,
          new IpVethGroups(new Ip(denoRunner), { netns: `/run/netns/${netns}` }),
          {
            rules: 10_000,
            samples: 50,
            change,
          },
        );
        log(
          `  manager (${change}), 10k rules: p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms max ${r.maxMs} ms`,
        );
        manager.push({ ...r, latenciesMs: [] });
      }
    } finally {
      await denoRunner(["ip", "netns", "del", netns]);
    }
    return {
      cases,
      manager,
      endToEnd,
      endToEndNoRules,
      endToEndOwnGroup,
      endToEndOwnGroupJson,
      iptables: binary,
      nodeConntrack: options.nodeConntrack ?? false,
      machineBusyBeforePercent: busyBefore,
      machineBusyAfterPercent: busyAfter,
    };
  } catch (err) {
    // The cluster's directory goes with the cleanup: keep the end of each daemon's log.
    for (const node of cluster.sb.nodes.values()) {
      const text = await Deno.readTextFile(node.daemonLog).catch(() => "");
      log(`${node.name}'s daemon log, last lines:\n${text.split("\n").slice(-30).join("\n")}`);
    }
    throw err;
  } finally {
    await iperf?.stop();
    await Promise.all(agents.map((a) => a.stop()));
    await cluster.cleanup();
  }
}

/** A range of ratios, `p25–p75` (pure). */
function quartiles(low: number | undefined, high: number | undefined): string {
  return low === undefined || high === undefined ? "" : `${low.toFixed(3)}–${high.toFixed(3)}`;
}

/** One case as a line of the table (pure). */
export function formatCaseLine(c: PolicyBenchCase): string {
  return `${c.name.padEnd(48)}${(c.bps / 1e9).toFixed(2).padStart(6)}  ${c.bpsRatio.toFixed(3)}  ${
    quartiles(c.bpsRatioP25, c.bpsRatioP75).padEnd(11)
  }  ${c.connPerS.toFixed(0).padStart(6)}  ${c.connRatio.toFixed(3)}  ${
    quartiles(c.connRatioP25, c.connRatioP75).padEnd(11)
  }  ${String(c.pairs?.length ?? "").padStart(5)}  ${`${c.daemonCpuPercent}%`.padStart(9)}  ${
    (c.applyMs !== undefined ? `${Math.round(c.applyMs)} ms` : "").padStart(7)
  }  ${c.quietMs} ms`.trimEnd();
}

/**
 * Issue 12's goal for the connection rate as one line (pure): with 1k and 10k rules of tern's, at
 * least 0.95× tern's own rate with 0 rules, measured with node conntrack (without it the 0-rule
 * partner tracks nothing while every rule case does, so the ratio is conntrack's too). Undefined
 * when no rule case was measured.
 */
export function connRateGoalLine(
  cases: readonly PolicyBenchCase[],
  nodeConntrack: boolean,
): string | undefined {
  const ruled = cases.filter((c) =>
    /^(1|10)k rules, (other pods|the server's own group)$/.test(c.name)
  );
  if (ruled.length === 0) return undefined;
  const worst = ruled.reduce((a, b) => (b.connRatio < a.connRatio ? b : a));
  const verdict = !nodeConntrack
    ? "not judged: measured without --node-conntrack"
    : worst.connRatio >= 0.95
    ? "met"
    : "missed";
  return `connection rate with 1k and 10k rules / 0 rules (goal >= 0.95, with --node-conntrack): ` +
    `worst ${worst.connRatio.toFixed(3)} (${worst.name}): ${verdict}`;
}

/** The cases as a table (pure). */
export function formatPolicyBench(r: PolicyBenchResult): string {
  const lines = r.cases.length === 0 ? [] : [
    "ratio: median of the pairs' case / 0 rules next to it, p25–p75 of those ratios; Gbit/s and " +
    "conn/s: medians; ternd CPU, busy after: the most of any measurement; applied: median",
    `${
      "case".padEnd(48)
    }Gbit/s  ratio  p25–p75      conn/s  ratio  p25–p75      pairs  ternd CPU  applied  busy after`,
    ...r.cases.map(formatCaseLine),
  ];
  const goal = connRateGoalLine(r.cases, r.nodeConntrack ?? false);
  if (goal !== undefined) lines.push(goal);
  for (const m of r.manager) {
    lines.push(
      `programming (manager, ${m.change}, ${m.rules} rules, ${m.samples} samples): p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, max ${m.maxMs} ms`,
    );
  }
  for (const e of [r.endToEndNoRules, r.endToEnd, r.endToEndOwnGroup, r.endToEndOwnGroupJson]) {
    if (e !== undefined) lines.push(formatEndToEnd(e));
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "boolean" },
      seconds: { type: "string" },
      rounds: { type: "string" },
      samples: { type: "string" },
      "only-latency": { type: "boolean" },
      "only-throughput": { type: "boolean" },
      pairs: { type: "string" },
      "node-conntrack": { type: "boolean" },
      cases: { type: "string" },
    },
  });
  const result = await benchPolicy({
    ...(args.seconds ? { seconds: Number(args.seconds) } : {}),
    ...(args.rounds ? { rounds: Number(args.rounds) } : {}),
    ...(args.samples ? { samples: Number(args.samples) } : {}),
    ...(args["only-latency"] ? { onlyLatency: true } : {}),
    ...(args["only-throughput"] ? { onlyThroughput: true } : {}),
    ...(args.pairs ? { pairs: Number(args.pairs) } : {}),
    ...(args["node-conntrack"] ? { nodeConntrack: true } : {}),
    ...(args.cases ? { cases: args.cases.split(",") } : {}),
  });
  console.log(args.json ? JSON.stringify(result, null, 2) : formatPolicyBench(result));
}

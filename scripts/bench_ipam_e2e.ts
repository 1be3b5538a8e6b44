/**
 * The `ipam-burst-e2e` benchmark (issue 14): bursts of concurrent ADDs through the real plugin,
 * end to end, in `ipam.mode: node-cidr` and in `blocks` mode with the warm pool filled and empty,
 * in the same run. Where `ipam-burst` (`scripts/ipam_burst_bench.ts`) times the allocator alone in
 * process, this one times what a runtime sees: the libcni driver's `bulk add` with `--concurrency`
 * equal to the burst, so every ADD starts at once and each one's time is from the burst's start to
 * its result (veth, routes, the daemon's allocation and, in blocks mode, any claim through the API
 * server).
 *
 * Layout: three sandbox clusters on the `kubernetes` source (the fake API server in each fabric
 * netns), one per case, each with one node: `node-cidr` (its pod CIDR on its Node), `blocks-warm`
 * (`warmIPTarget` the largest burst; before each burst the bench waits until the daemon's status
 * shows that many free addresses) and `blocks-empty` (`warmIPTarget: 0`, `minimumIPTarget: 0`: a
 * fresh node per burst, so it holds no block when the burst starts). The blocks clusters share one
 * IPPool shape. The claims of a burst are the node's IPAMBlocks listed after it minus before it.
 * Cases alternate within each round (A B C A B C …) to cancel drift; the Pods exist (Pending) on
 * the API server before their ADD, as kubelet's would. Every burst is followed by a `bulk del`.
 *
 * `deno run -A --unstable-kv scripts/bench_ipam_e2e.ts [--rounds 3] [--sizes 30,100] [--json FILE]` under
 * `flock -o /tmp/tern-bench.lock`; {@linkcode benchIpamE2e} is what `deno task bench` calls. The
 * pure parts (the round plan, the figures, the table) are exported and unit-tested.
 * @module
 */
import { parseArgs } from "node:util";
import { nearestRank as percentile } from "./bench_kube_scale.ts";
import { SandboxCluster } from "../test/sandbox_cluster.ts";
import type { SandboxNode, SandboxPod } from "../test/sandbox.ts";
import { pollUntil } from "../test/poll.ts";
import { DIST, ensureDist } from "../test/dist.ts";
import { KubeClient } from "../src/kube/client.ts";
import { IPAMBLOCKS } from "../src/ipam/ipam_objects.ts";

/** The cases compared, in the order they alternate. */
export const E2E_CASES = ["node-cidr", "blocks-warm", "blocks-empty"] as const;

/** One case's name. */
export type E2eCase = typeof E2E_CASES[number];

/** The pool the blocks clusters claim from: beside the node CIDRs (10.244.<index>.0/24). */
export const E2E_POOL = { cidr: "10.244.128.0/17", blockSize: 26 };

/** One burst of the plan. */
export interface E2eStep {
  round: number;
  burst: number;
  case: E2eCase;
}

/** Every burst in run order: per round, per size, the cases alternating (pure). */
export function planE2eRounds(sizes: number[], rounds: number): E2eStep[] {
  const steps: E2eStep[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const burst of sizes) {
      for (const c of E2E_CASES) steps.push({ round, burst, case: c });
    }
  }
  return steps;
}

/** What one burst measured. */
export interface E2eSample {
  burst: number;
  case: E2eCase;
  /** Each ADD's time from the burst's start to its result, ms. */
  addMs: number[];
  /** The driver's wall time of the whole burst, ms. */
  wallMs: number;
  /** IPAMBlocks the node created during the burst. */
  claims: number;
}

/** One case at one burst size, over every round. */
export interface E2eResult {
  burst: number;
  case: E2eCase;
  rounds: number;
  p50Ms: number;
  p99Ms: number;
  /** p50 and p99 over node-cidr's at the same size (1 for node-cidr itself). */
  p50Ratio: number;
  p99Ratio: number;
  /**
   * The median over rounds of this case's p50 over node-cidr's p50 in the same round (the i-th
   * burst of each pairs with node-cidr's i-th): drift between rounds cancels out of it.
   */
  pairedP50Ratio: number;
  /** Median wall time of a burst, ms. */
  wallMs: number;
  /** Claims per burst: the smallest and largest seen. */
  claimsMin: number;
  claimsMax: number;
}

/** The figures per size and case, pooling every round's ADDs (pure). */
export function summarizeE2e(samples: E2eSample[]): E2eResult[] {
  const sizes = [...new Set(samples.map((s) => s.burst))].sort((a, b) => a - b);
  const out: E2eResult[] = [];
  for (const burst of sizes) {
    const baseRounds = samples.filter((s) => s.burst === burst && s.case === "node-cidr");
    const base = baseRounds.flatMap((s) => s.addMs);
    const baseP50 = percentile(base, 50);
    const baseP99 = percentile(base, 99);
    for (const c of E2E_CASES) {
      const mine = samples.filter((s) => s.burst === burst && s.case === c);
      if (mine.length === 0) continue;
      const all = mine.flatMap((s) => s.addMs);
      const walls = mine.map((s) => s.wallMs).sort((a, b) => a - b);
      const claims = mine.map((s) => s.claims);
      const p50 = percentile(all, 50);
      const p99 = percentile(all, 99);
      const paired = mine.slice(0, baseRounds.length).map((s, i) =>
        percentile(s.addMs, 50) / percentile(baseRounds[i]!.addMs, 50)
      );
      out.push({
        burst,
        case: c,
        rounds: mine.length,
        p50Ms: p50,
        p99Ms: p99,
        p50Ratio: p50 / baseP50,
        p99Ratio: p99 / baseP99,
        pairedP50Ratio: median(paired),
        wallMs: percentile(walls, 50),
        claimsMin: Math.min(...claims),
        claimsMax: Math.max(...claims),
      });
    }
  }
  return out;
}

/** The median of `values` (the mean of the middle two for an even count; pure). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The results as a table, with the machine's load before and after (pure). */
export function formatIpamE2e(
  results: E2eResult[],
  load: { before: string; after: string },
): string {
  const head =
    "burst  case          rounds  p50 ms  p99 ms  p50 ratio  p99 ratio  paired p50  wall ms  claims";
  const lines = results.map((r) =>
    [
      String(r.burst).padEnd(5),
      r.case.padEnd(12),
      String(r.rounds).padStart(6),
      r.p50Ms.toFixed(1).padStart(6),
      r.p99Ms.toFixed(1).padStart(6),
      r.p50Ratio.toFixed(2).padStart(9),
      r.p99Ratio.toFixed(2).padStart(9),
      r.pairedP50Ratio.toFixed(2).padStart(10),
      r.wallMs.toFixed(0).padStart(7),
      (r.claimsMin === r.claimsMax ? `${r.claimsMin}` : `${r.claimsMin}-${r.claimsMax}`)
        .padStart(6),
    ].join("  ")
  );
  return [head, ...lines, `load average: before ${load.before}, after ${load.after}`].join("\n");
}

/** The 1, 5 and 15 minute load averages, as `/proc/loadavg` says them. */
export async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

interface CaseCluster {
  cluster: SandboxCluster;
  client: KubeClient | undefined;
  node: SandboxNode;
  /** Unwired pods of `node`, as many as the largest burst. */
  pods: SandboxPod[];
}

function blocksConfig(warmIPTarget: number): Record<string, unknown> {
  return { ipam: { mode: "blocks", blocks: { warmIPTarget, minimumIPTarget: 0 } } };
}

async function makeCluster(c: E2eCase, largest: number): Promise<CaseCluster> {
  const cluster = await SandboxCluster.create({
    source: "kubernetes",
    reconcileInterval: "30s",
    daemonConfig: {
      policy: { enabled: false },
      ...(c === "node-cidr" ? {} : blocksConfig(c === "blocks-warm" ? largest : 0)),
    },
  });
  try {
    let client: KubeClient | undefined;
    if (c !== "node-cidr") {
      const api = cluster.apiServer!;
      client = new KubeClient({
        server: api.localUrl,
        caCerts: api.caPem ? [api.caPem] : [],
        token: api.token,
        namespace: "default",
        origin: "bench",
      });
      await cluster.apply({
        apiVersion: "tern.dev/v1alpha1",
        kind: "IPPool",
        metadata: { name: "bench" },
        spec: E2E_POOL,
      });
    }
    const { node, pods } = await addNodeWithPods(cluster, `${c}-0`, largest);
    return { cluster, client, node, pods };
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
}

async function addNodeWithPods(cluster: SandboxCluster, name: string, count: number) {
  const node = await cluster.addNode(name);
  const pods: SandboxPod[] = [];
  for (let i = 0; i < count; i++) {
    pods.push(await cluster.addPod(node, `${name}-p${i}`, { wire: false }));
  }
  return { node, pods };
}

async function nodeBlocks(client: KubeClient | undefined, node: string): Promise<number> {
  if (!client) return 0;
  const list = await client.listAll<{ spec: { node: string } }>(IPAMBLOCKS);
  return list.items.filter((b) => b.spec.node === node).length;
}

async function bulk(
  cc: CaseCluster,
  verb: "add" | "del",
  pods: SandboxPod[],
): Promise<{ ms: number[]; wallMs: number }> {
  const sb = cc.cluster.sb;
  const list = `${sb.dir}/burst-${cc.node.name}.json`;
  await Deno.writeTextFile(
    list,
    JSON.stringify(pods.map((p) => ({
      id: p.containerID,
      netns: p.netnsPath,
      ifname: p.ifname,
      args: sb.cniArgs(p),
    }))),
  );
  const out = await sb.driver(cc.node, [
    "bulk",
    verb,
    "--pods",
    list,
    "--concurrency",
    String(pods.length),
  ]);
  if (out.code !== 0) throw new Error(`Bulk ${verb} on ${cc.node.name} failed: ${out.stderr}`);
  const report = JSON.parse(out.stdout) as {
    results: { ok: boolean; ms: number; error?: string }[];
    wallMs: number;
  };
  const failed = report.results.filter((r) => !r.ok);
  if (failed.length) {
    throw new Error(
      `Bulk ${verb} on ${cc.node.name}: ${failed.length} of ${pods.length} failed: ${
        failed[0]!.error
      }`,
    );
  }
  return { ms: report.results.map((r) => r.ms), wallMs: report.wallMs };
}

/** Options of {@linkcode benchIpamE2e}. */
export interface IpamE2eOptions {
  /** Burst sizes. Default 30 and 100. */
  sizes?: number[];
  /** Rounds of every case at every size. Default 3. */
  rounds?: number;
  /** Print progress to stderr. Default true. */
  verbose?: boolean;
}

/** What {@linkcode benchIpamE2e} measured. */
export interface IpamE2eRun {
  results: E2eResult[];
  samples: E2eSample[];
  loadBefore: string;
  loadAfter: string;
}

/** Runs the plan: three clusters, the bursts alternating between them. Needs root. */
export async function benchIpamE2e(options: IpamE2eOptions = {}): Promise<IpamE2eRun> {
  const sizes = options.sizes ?? [30, 100];
  const rounds = options.rounds ?? 3;
  const verbose = options.verbose ?? true;
  const largest = Math.max(...sizes);
  const loadBefore = await loadAverage();
  const clusters = new Map<E2eCase, CaseCluster>();
  const samples: E2eSample[] = [];
  try {
    for (const c of E2E_CASES) clusters.set(c, await makeCluster(c, largest));
    let fresh = 0;
    for (const step of planE2eRounds(sizes, rounds)) {
      const cc = clusters.get(step.case)!;
      if (step.case === "blocks-empty" && (await nodeBlocks(cc.client, cc.node.name)) > 0) {
        // A node that holds no block yet: the previous one goes (its blocks stay, unused).
        await cc.cluster.removeNode(cc.node);
        const next = await addNodeWithPods(cc.cluster, `blocks-empty-${++fresh}`, largest);
        cc.node = next.node;
        cc.pods = next.pods;
      }
      if (step.case === "blocks-warm") {
        await pollUntil(async () => (await cc.cluster.status(cc.node)).free >= largest, {
          what: `${largest} free addresses on ${cc.node.name}`,
          timeoutMs: 30_000,
        });
      }
      const pods = cc.pods.slice(0, step.burst);
      const before = await nodeBlocks(cc.client, cc.node.name);
      const add = await bulk(cc, "add", pods);
      const claims = (await nodeBlocks(cc.client, cc.node.name)) - before;
      await bulk(cc, "del", pods);
      samples.push({
        burst: step.burst,
        case: step.case,
        addMs: add.ms,
        wallMs: add.wallMs,
        claims,
      });
      if (verbose) {
        console.error(
          `ipam-burst-e2e: round ${step.round} ${step.case} ${step.burst}: p50 ${
            percentile(add.ms, 50).toFixed(1)
          } ms, p99 ${percentile(add.ms, 99).toFixed(1)} ms, ${claims} claims`,
        );
      }
    }
  } finally {
    for (const cc of clusters.values()) {
      cc.client?.close();
      await cc.cluster.cleanup();
    }
  }
  return { results: summarizeE2e(samples), samples, loadBefore, loadAfter: await loadAverage() };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "3" },
      sizes: { type: "string", default: "30,100" },
      json: { type: "string" },
    },
  });
  await ensureDist();
  Deno.env.set("TERN_BIN", `${DIST}/tern`);
  const run = await benchIpamE2e({
    rounds: Number(values.rounds),
    sizes: values.sizes.split(",").map(Number),
  });
  console.log(formatIpamE2e(run.results, { before: run.loadBefore, after: run.loadAfter }));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(run, null, 2));
  return 0;
}

if (import.meta.main) Deno.exit(await main());

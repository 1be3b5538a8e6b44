/**
 * The `kube-scale` benchmark (issue 11, Scale): one real ternd against the fake API server
 * serving the Kubernetes scalability envelope (5 000 Nodes, 150 000 realistic Pods of a few KB,
 * 10 000 NetworkPolicies by default), measuring the initial sync, the daemon's memory after it,
 * its CPU per 1 000 pod events/s, and the time from an API write to the node's nftables table.
 *
 * Layout (root; nothing in the root namespace): a sandbox fabric netns holds the fake API server,
 * run as its own process (so its CPU and memory are not the daemon's) on an address of the
 * fabric's bridge, 172.16.255.253/16, and driven by the bench over a unix socket (its admin
 * API). The node is the last of the generated Nodes: its netns is linked to the fabric with the
 * Node's own InternalIP (172.16.x.y/16, on-link with every other node's, so the 4 999 peer routes
 * of `routes` mode are real routes), and runs one ternd (`cluster.source: kubernetes`,
 * `policy.enabled: true`, log level info). The generated pods of that node are deleted before the
 * daemon starts, and `--local-pods` pods take their place (in namespace `team-000`, labelled as
 * the generated `web` pods, so the generated policies of that namespace select them too), wired by
 * the CNI plugin through the libcni driver once the daemon is synced, as kubelet would.
 *
 * Two policies of the bench select the local pods: `bench-peers` admits TCP 7777 from any pod
 * labelled `bench.tern.dev/peer=yes`, `bench-blocks` admits TCP 7778 from one ipBlock. A sample
 * of the event → kernel latency is one API write followed by the first nftables commit in the
 * node's netns after which one local pod's ingress map holds the element it implies
 * (`nft_map_probe.ts`: commits followed over netlink, the map listed after each): a remote pod labelled `bench.tern.dev/peer=yes` (its address
 * enters the 7777 boxes: a Pod change), or `bench-blocks` given a new ipBlock (a policy change),
 * alternately, while the fake churns pods at `--events-per-second` (default 1 000). The CPU of
 * the daemon (with its children, live and reaped) is taken over `--cpu-seconds` of that churn
 * before the samples.
 *
 * `deno run -A --unstable-kv scripts/bench_kube_scale.ts [--kube-nodes 5000] [--kube-pods 150000]
 * [--kube-policies 10000] [--local-pods 4] [--events-per-second 1000] [--cpu-seconds 20]
 * [--samples 200] [--json FILE] [--keep-log FILE]` (`--keep-log`: ternd's log and the samples'
 * times, kept after the run); {@linkcode benchKubeScale} is what `deno task bench` calls.
 * The pure parts (the plan of what to generate and delete, the
 * figures) are exported and unit-tested.
 * @module
 */
import { parseArgs } from "node:util";
import { errorMessage } from "../src/lib/errors.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import type { PolicyStatusResponse, StatusResponse } from "../src/api.ts";
import { must, Sandbox, type SandboxNode, type SandboxPod } from "../test/sandbox.ts";
import {
  namespaceName,
  nodeAddresses,
  nodeName,
  realisticPod,
} from "../test/fake_apiserver/realistic.ts";
import type { KubeObject } from "../test/fake_apiserver/api_objects.ts";
import { CLK_TCK, descendants, machineBusyPercent, parseStatTicks } from "./proc_usage.ts";
import { reapedChildTicks } from "./bench_policy.ts";
import { DIST, ensureDist } from "../test/dist.ts";
import { ingressL4Maps, NftMapProbe } from "./nft_map_probe.ts";
import {
  formatSampleStages,
  type GcPause,
  parseGcPauses,
  parseLoggedRuns,
  parseLoopStalls,
  type SampleStages,
  sampleStages,
} from "./kube_scale_stages.ts";

/** The size of the run and its knobs; every field documents its default. */
export interface KubeScaleOptions {
  /** Nodes in the cluster, this node included. Default 5 000. */
  nodes?: number;
  /** Pods in the cluster, the local ones included. Default 150 000. */
  pods?: number;
  /** Generated NetworkPolicies (the bench adds two). Default 10 000. */
  policies?: number;
  /** Pods of this node, wired by the CNI plugin. Default 4. */
  localPods?: number;
  /** The churn's rate. Default 1 000. */
  eventsPerSecond?: number;
  /** The window of the CPU measurement under churn. Default 20 s. */
  cpuSeconds?: number;
  /** Latency samples (half Pod changes, half policy changes). Default 200. */
  samples?: number;
  /** How long a sample may take before it counts as lost. Default 5 000 ms. */
  sampleTimeoutMs?: number;
  /** How long the initial sync may take before the bench gives up. Default 600 000 ms. */
  syncTimeoutMs?: number;
  /** The wait after the sync before the second RSS reading. Default 10 000 ms. */
  settleMs?: number;
  /** The window of the idle CPU measurement. Default 5 000 ms. */
  idleMs?: number;
  /** Print progress to stderr. Default true. */
  verbose?: boolean;
  /**
   * Where to copy ternd's log before the sandbox goes, to read its slow runs afterwards, with the
   * samples' write and commit times (wall-clock ms) in `<keepLog>.samples.json` and the fake's
   * output, run with `--trace-gc`, in `<keepLog>.fake.log` (its collections, ms since it was
   * spawned, which its first line gives). Default: none.
   */
  keepLog?: string;
}

/** Latency figures of one kind of change, ms. */
export interface LatencySummary {
  samples: number;
  lost: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** What {@linkcode benchKubeScale} measured. */
export interface KubeScaleResult {
  nodes: number;
  pods: number;
  policies: number;
  localPods: number;
  /** The fake's process: generation and load time, RSS after. */
  fakeLoadS: number;
  fakeRssMiB: number;
  /** Daemon start → answering ready (every kind's first list in and applied). */
  readyS: number;
  /** Daemon start → status says synced and policy up to date. */
  syncS: number;
  /** The daemon's RSS and peak RSS (VmHWM) right after the sync, and after 10 s more. */
  rssAfterSyncMiB: number;
  hwmAfterSyncMiB: number;
  rssSettledMiB: number;
  /**
   * Samples timed by the end of a map listing rather than by their commit, because another
   * commit came while the map was listed (an upper bound still).
   */
  boundedSamples: number;
  /** ADDs of the local pods that failed and were tried again, as kubelet would. */
  addRetries: number;
  /** Objects the daemon holds after the sync, by kind (its status). */
  objects: Record<string, number>;
  /** The daemon's CPU with no churn, percent of one core, once it was quiet (see `quietAfterMs`). */
  idleCpuPercent: number;
  /**
   * How long after the local pods were wired the daemon took to go quiet (a second with at most
   * one 10 ms tick: their first compile and the collections after it are done); the idle window
   * starts then. Capped at 30 000 ms.
   */
  quietAfterMs: number;
  /** Churn actually delivered over the CPU window, events/s. */
  churnEventsPerSecond: number;
  /** The daemon's CPU under that churn, percent of one core; and per 1 000 events/s. */
  churnCpuPercent: number;
  cpuPercentPer1000EventsPerSecond: number;
  /** The daemon's RSS at the end of the run. */
  rssEndMiB: number;
  pod: LatencySummary;
  policy: LatencySummary;
  /** Both kinds together. */
  all: LatencySummary;
  /** Policy transactions the daemon applied during the whole run, and how many were whole tables. */
  policyApplies: number;
  policyWholeApplies: number;
  /** The machine: load average at start and end, and busy percent of all CPUs during the churn. */
  loadAverageStart: string;
  loadAverageEnd: string;
  machineBusyPercent: number;
  /** Every sample: kind, ms (undefined: lost). */
  latencies: { kind: "pod" | "policy"; ms: number | undefined }[];
  /**
   * The samples slower than the goal split into stages by ternd's log of slow runs (and V8's
   * `--trace-gc` lines when `TERND_V8_FLAGS` asks for them): `kube_scale_stages.ts`.
   */
  slowStages: SampleStages[];
  /**
   * With `--trace-gc` in `TERND_V8_FLAGS`: each full collection of ternd after the sync (the
   * churn and the samples), its work on the main thread in ms (incremental marking steps and
   * final pause), in order; undefined without the trace.
   */
  fullCollectionsMs?: number[];
}

/** The port the bench's peer policy admits; its boxes hold only the bench's peers. */
export const PEER_PORT = 7777;
/** The port of the bench's ipBlock policy. */
export const BLOCK_PORT = 7778;
/** The label that makes a pod a peer of the local pods. */
export const PEER_LABEL = "bench.tern.dev/peer";
/** The label of the local pods. */
export const LOCAL_LABEL = "bench.tern.dev/local";
/** The namespace of the local pods and the bench's policies. */
export const LOCAL_NAMESPACE = namespaceName(0);

/** What the fake generates and what the bench changes in it (pure). */
export interface KubeScalePlan {
  /** `--generate` of the fake: nodes, pods, networkPolicies. */
  generate: { nodes: number; pods: number; networkPolicies: number };
  /** This node's index among the generated nodes, and its name. */
  nodeIndex: number;
  nodeName: string;
  /** The generated pods of this node, deleted before the daemon starts. */
  deletePods: { namespace: string; name: string }[];
}

/** The number of namespaces the realistic generator spreads pods over (its default). */
const NAMESPACES = 50;

/**
 * The plan for a cluster of `nodes` nodes and `pods` pods of which `localPods` run here (pure):
 * the last node is this one; the generator makes `pods - localPods + (its pods on this node)`
 * pods so that, once those are deleted and the local ones added, the cluster has `pods` pods.
 */
export function kubeScalePlan(
  shape: { nodes: number; pods: number; policies: number; localPods: number },
): KubeScalePlan {
  if (shape.nodes < 2) throw new Error(`Invalid --kube-nodes: ${shape.nodes}: at least 2`);
  if (shape.pods < shape.localPods + shape.nodes) {
    throw new Error(`Invalid --kube-pods: ${shape.pods}: at least one pod per node`);
  }
  const nodeIndex = shape.nodes - 1;
  // Generated pod i goes to node i % nodes: find how many land here for a given total.
  const onNode = (total: number) =>
    total > nodeIndex ? Math.floor((total - 1 - nodeIndex) / shape.nodes) + 1 : 0;
  let generated = shape.pods - shape.localPods;
  while (generated - onNode(generated) < shape.pods - shape.localPods) generated++;
  const deletePods: { namespace: string; name: string }[] = [];
  for (let i = nodeIndex; i < generated; i += shape.nodes) {
    const pod = podAt(i, shape.nodes);
    deletePods.push({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name! });
  }
  return {
    generate: { nodes: shape.nodes, pods: generated, networkPolicies: shape.policies },
    nodeIndex,
    nodeName: nodeName(nodeIndex),
    deletePods,
  };
}

/** Generated pod `i` of a cluster of `nodes` nodes, as the fake generates it (pure). */
export function podAt(i: number, nodes: number): KubeObject {
  return realisticPod(i, i % nodes, Math.floor(i / nodes), namespaceName(i % NAMESPACES));
}

/**
 * The generated pod used by Pod-change sample `n` (pure): one on another node each time, in
 * any namespace, never one of this node's, and never the address next to an earlier sample's
 * (every other pod of a node), so that no two samples' addresses merge into one box.
 */
export function samplePodIndex(n: number, plan: KubeScalePlan): number {
  const nodes = plan.generate.nodes;
  const others = nodes - 1;
  const node = n % others; // 0 .. nodes-2: never the last (this) node
  const round = Math.floor(n / others);
  const i = node + 2 * round * nodes;
  if (i >= plan.generate.pods) {
    throw new Error(`Too many samples for the cluster: ${n}: only ${plan.generate.pods} pods`);
  }
  return i;
}

/** The address of a policy-change sample `n` (pure): none adjacent to another, none a pod's. */
export function sampleBlockAddress(n: number): string {
  return `198.${18 + ((n >> 8) & 1)}.${n & 255}.${1 + ((n >> 9) & 127) * 2}`;
}

/** A local pod's object: a `web` pod of `team-000` on this node, not yet given an address. */
export function localPodObject(k: number, plan: KubeScalePlan): KubeObject {
  const pod = structuredClone(realisticPod(0, plan.nodeIndex, 0, LOCAL_NAMESPACE));
  const meta = pod.metadata!;
  meta.name = `bench-local-${k}`;
  delete meta.uid;
  delete meta.resourceVersion;
  meta.labels = { ...meta.labels, [LOCAL_LABEL]: "true" };
  pod.status = { phase: "Pending" };
  return pod;
}

/** The bench's two policies; `block` is the ipBlock address of `bench-blocks`. */
export function benchPolicies(block: string): KubeObject[] {
  const selector = { matchLabels: { [LOCAL_LABEL]: "true" } };
  const policy = (name: string, ingress: unknown[]): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: LOCAL_NAMESPACE },
    spec: { podSelector: selector, policyTypes: ["Ingress"], ingress },
  });
  return [
    policy("bench-peers", [{
      from: [{ namespaceSelector: {}, podSelector: { matchLabels: { [PEER_LABEL]: "yes" } } }],
      ports: [{ protocol: "TCP", port: PEER_PORT }],
    }]),
    policy("bench-blocks", [{
      from: [{ ipBlock: { cidr: `${block}/32` } }],
      ports: [{ protocol: "TCP", port: BLOCK_PORT }],
    }]),
  ];
}

/** The p-th percentile (0..100) by nearest rank (pure). */
export function nearestRank(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

/** The figures of a series of samples; lost ones count as slower than any (pure). */
export function summarizeLatency(values: readonly (number | undefined)[]): LatencySummary {
  const got = values.filter((v): v is number => v !== undefined);
  const lost = values.length - got.length;
  const withLost = [...got, ...Array<number>(lost).fill(Infinity)];
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    samples: values.length,
    lost,
    p50Ms: r(nearestRank(withLost, 50)),
    p90Ms: r(nearestRank(withLost, 90)),
    p99Ms: r(nearestRank(withLost, 99)),
    maxMs: r(nearestRank(withLost, 100)),
  };
}

/**
 * The full collections after `fromMs` on ternd's clock (V8's trace starts with ternd's isolate,
 * as the sync is timed from ternd's start), each as its main-thread work in ms (pure).
 */
export function fullCollectionsAfter(gcs: readonly GcPause[], fromMs: number): number[] {
  return gcs.filter((g) => g.kind.includes("Mark-Compact") && g.atMs >= fromMs)
    .map((g) => Math.round(g.pauseMs + (g.markingMs ?? 0)));
}

/** The issue's goals. */
export const KUBE_SCALE_GOALS = { syncS: 30, rssMiB: 400, p99Ms: 100 } as const;

/** The result as a few lines of text, with each goal met or not (pure). */
export function formatKubeScale(r: KubeScaleResult): string {
  const goal = (ok: boolean) => ok ? "met" : "MISSED";
  const lat = (name: string, s: LatencySummary) =>
    `  ${name.padEnd(7)} n=${s.samples} lost=${s.lost} p50 ${s.p50Ms} ms, p90 ${s.p90Ms} ms, ` +
    `p99 ${s.p99Ms} ms, max ${s.maxMs} ms`;
  return [
    `kube-scale: ${r.nodes} nodes, ${r.pods} pods, ${r.policies} policies, ${r.localPods} local pods`,
    `  fake API server: generated and loaded in ${
      r.fakeLoadS.toFixed(1)
    } s, RSS ${r.fakeRssMiB} MiB`,
    `  initial sync: ready ${r.readyS.toFixed(1)} s, synced with policy programmed ${
      r.syncS.toFixed(1)
    } s (goal <= ${KUBE_SCALE_GOALS.syncS} s: ${goal(r.syncS <= KUBE_SCALE_GOALS.syncS)})`,
    `  RSS after sync ${r.rssAfterSyncMiB} MiB (peak ${r.hwmAfterSyncMiB} MiB), 10 s later ${r.rssSettledMiB} MiB, at the end ${r.rssEndMiB} MiB (goal <= ${KUBE_SCALE_GOALS.rssMiB} MiB: ${
      goal(Math.max(r.rssSettledMiB, r.rssEndMiB) <= KUBE_SCALE_GOALS.rssMiB)
    })`,
    `  local pods: ${r.localPods}, ADD retried ${r.addRetries} times`,
    `  objects held: ${Object.entries(r.objects).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `  CPU idle ${r.idleCpuPercent.toFixed(1)} % of a core (quiet ${
      (r.quietAfterMs / 1000).toFixed(1)
    } s after the local pods); under ${r.churnEventsPerSecond.toFixed(0)} pod events/s ${
      r.churnCpuPercent.toFixed(1)
    } %: ${r.cpuPercentPer1000EventsPerSecond.toFixed(1)} % of a core per 1 000 events/s`,
    `  event -> kernel under churn (goal p99 <= ${KUBE_SCALE_GOALS.p99Ms} ms: ${
      goal(r.all.p99Ms <= KUBE_SCALE_GOALS.p99Ms)
    }):`,
    lat("pod", r.pod),
    lat("policy", r.policy),
    lat("all", r.all),
    `  policy transactions: ${r.policyApplies} (${r.policyWholeApplies} whole); samples timed by a listing's end: ${r.boundedSamples}`,
    ...formatSampleStages(r.slowStages ?? []),
    ...(r.fullCollectionsMs === undefined ? [] : [
      `  full collections after the sync: ${r.fullCollectionsMs.length}, main thread ${
        r.fullCollectionsMs.join(", ") || "-"
      } ms (marking steps + pause; sum ${r.fullCollectionsMs.reduce((a, b) => a + b, 0)} ms)`,
    ]),
    `  machine: load average ${r.loadAverageStart} at start, ${r.loadAverageEnd} at end; ${
      r.machineBusyPercent.toFixed(0)
    } % of all CPUs busy during the churn`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The run.

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const FAKE_IP = "172.16.255.253";
const FABRIC_PREFIX_LEN = 16;
const TOKEN = "bench-kube-scale";

const mib = (kib: number) => Math.round(kib / 1024);

async function procStatus(pid: number): Promise<{ rssKiB: number; hwmKiB: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)?.[1]);
  return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
}

/** CPU ticks of `pid`, its live descendants and the children it reaped. */
async function treeTicks(pid: number): Promise<number> {
  let ticks = 0;
  for (const p of [pid, ...await descendants(pid)]) {
    try {
      const stat = await Deno.readTextFile(`/proc/${p}/stat`);
      ticks += parseStatTicks(stat) + reapedChildTicks(stat);
    } catch {
      // gone since listed
    }
  }
  return ticks;
}

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

/** Lines of a child's stream, each with the time it was read. */
class LineWatch {
  readonly #lines: { at: number; line: string }[] = [];
  #waiters: (() => void)[] = [];
  #done = false;

  /** Reads `stream` (when given) to its end, which ends the watch. */
  constructor(stream?: ReadableStream<Uint8Array>) {
    if (stream !== undefined) void this.follow(stream, { last: true });
  }

  /**
   * Reads `stream`'s lines into the watch until it ends; with `last`, its end is the watch's
   * (waits then return at once). A restarted process's output can follow its predecessor's.
   */
  async follow(stream: ReadableStream<Uint8Array>, options: { last?: boolean } = {}) {
    try {
      await this.#pump(stream);
    } finally {
      if (options.last) {
        this.#done = true;
        this.#wake();
      }
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const at = performance.now();
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        for (const line of parts) this.#lines.push({ at, line });
        this.#wake();
      }
    } catch {
      // the process was killed: what it printed is in
    }
  }

  /** Every line read so far. */
  get text(): string {
    return this.#lines.map((l) => l.line).join("\n");
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** The time of the first line from index `from` on that `match` accepts; undefined at timeout. */
  async waitFor(
    match: (line: string) => boolean,
    from: number,
    timeoutMs: number,
  ): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    let i = from;
    while (true) {
      for (; i < this.#lines.length; i++) {
        if (match(this.#lines[i]!.line)) return this.#lines[i]!.at;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.#done) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** The admin API of the fake, over its unix socket. */
class FakeAdmin {
  readonly #client: Deno.HttpClient;

  constructor(socket: string) {
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  }

  async post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`http://fake/_fake/${path}`, {
      method: "POST",
      client: this.#client,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Fake API server ${path}: ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }

  async get(path: string): Promise<Record<string, unknown>> {
    const res = await fetch(`http://fake/_fake/${path}`, { client: this.#client });
    const text = await res.text();
    if (!res.ok) throw new Error(`Fake API server ${path}: ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }

  close(): void {
    this.#client.close();
  }
}

/** Starts the fake in the fabric's netns; resolves once it has generated and serves. */
async function startFake(
  sb: Sandbox,
  fabricNetns: string,
  plan: KubeScalePlan,
  traceGc: boolean,
): Promise<{
  child: Deno.ChildProcess;
  kubeconfig: string;
  socket: string;
  loadS: number;
  /** Its stdout (with `traceGc`, V8's collections, ms since the isolate started). */
  stdout: LineWatch;
  /** When it was spawned, ms since the epoch (about its isolate's start). */
  spawnedAt: number;
}> {
  const kubeconfig = `${sb.dir}/kubeconfig`;
  const socket = `${sb.dir}/fake-admin.sock`;
  const g = plan.generate;
  const t0 = performance.now();
  const log = await Deno.open(`${sb.dir}/fake.log`, { write: true, create: true });
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      fabricNetns,
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      "--no-lock",
      // 165 000 objects and the watch history: well over the default heap limit of small hosts.
      `--v8-flags=--max-old-space-size=8192${traceGc ? ",--trace-gc" : ""}`,
      `${ROOT}/test/fake_apiserver/main.ts`,
      "--hostname",
      FAKE_IP,
      "--port",
      "6443",
      "--tls-generate",
      "--kubeconfig-out",
      kubeconfig,
      "--token",
      TOKEN,
      "--admin-socket",
      socket,
      "--crd",
      "securitygroups.tern.dev",
      "--crd",
      "securitygrouppolicies.vpcresources.k8s.aws",
      "--generate",
      `nodes=${g.nodes},pods=${g.pods},networkPolicies=${g.networkPolicies}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  void child.stderr.pipeTo(log.writable).catch(() => {});
  const lines = new LineWatch(child.stdout);
  // Its URL line; with --trace-gc it may follow a V8 line cut by V8's buffer, on the same line.
  const url = await lines.waitFor((l) => l.includes("https://"), 0, 300_000);
  if (url === undefined) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(
      `The fake API server did not start: ${await Deno.readTextFile(`${sb.dir}/fake.log`)}`,
    );
  }
  return {
    child,
    kubeconfig,
    socket,
    loadS: (performance.now() - t0) / 1000,
    stdout: lines,
    spawnedAt: performance.timeOrigin + t0,
  };
}

async function daemonStatus(node: SandboxNode): Promise<StatusResponse | undefined> {
  try {
    return await new DaemonClient(node.socket, { timeoutMs: 5_000 }).status();
  } catch {
    return undefined;
  }
}

function synced(status: StatusResponse | undefined): boolean {
  return status?.ready === true && status.cluster?.synced === true &&
    status.policy?.upToDate === true && status.policy.lastApply !== undefined;
}

/** Runs the benchmark (root; see the module doc). Uses `TERN_BIN` when set, else the source. */
export async function benchKubeScale(options: KubeScaleOptions = {}): Promise<KubeScaleResult> {
  const shape = {
    nodes: options.nodes ?? 5_000,
    pods: options.pods ?? 150_000,
    policies: options.policies ?? 10_000,
    localPods: options.localPods ?? 4,
  };
  const eventsPerSecond = options.eventsPerSecond ?? 1_000;
  const cpuSeconds = options.cpuSeconds ?? 20;
  const samples = options.samples ?? 200;
  const sampleTimeoutMs = options.sampleTimeoutMs ?? 5_000;
  const verbose = options.verbose ?? true;
  const say = (text: string) => verbose && console.error(`kube-scale: ${text}`);
  const plan = kubeScalePlan(shape);
  const loadAverageStart = await loadAverage();
  const sb = await Sandbox.create();
  let fake: Deno.ChildProcess | undefined;
  let admin: FakeAdmin | undefined;
  let probe: NftMapProbe | undefined;
  try {
    const fabric = {
      ...await sb.addFabric(),
      subnetPrefix: "172.16.255",
      prefixLen: FABRIC_PREFIX_LEN,
    };
    await must([
      "ip",
      "-n",
      fabric.netns,
      "addr",
      "add",
      `${FAKE_IP}/${FABRIC_PREFIX_LEN}`,
      "dev",
      fabric.bridge,
    ]);
    say(`generating ${JSON.stringify(plan.generate)} in the fake API server`);
    const started = await startFake(sb, fabric.netns, plan, options.keepLog !== undefined);
    fake = started.child;
    admin = new FakeAdmin(started.socket);
    const fakeRssMiB = mib((await procStatus(fake.pid)).rssKiB);
    say(`fake up in ${started.loadS.toFixed(1)} s (RSS ${fakeRssMiB} MiB, pid ${fake.pid})`);

    // This node's generated pods go; its own take their place, with the bench's policies.
    await admin.post(
      "delete",
      plan.deletePods.map((p) => ({ apiVersion: "v1", kind: "Pod", ...p })),
    );
    let blockSeq = 0;
    await admin.post("objects", [
      ...Array.from({ length: shape.localPods }, (_, k) => localPodObject(k, plan)),
      ...benchPolicies(sampleBlockAddress(blockSeq)),
    ]);

    const node = await sb.addNode(plan.nodeName, {
      fabric,
      nodeIp: nodeAddresses(plan.nodeIndex).internalIP,
      extraConfig: [
        "cluster:",
        "  source: kubernetes",
        `  kubeconfig: ${started.kubeconfig}`,
        "policy:",
        "  enabled: true",
      ].join("\n"),
    });
    // A production daemon logs at info; debug would log every cluster event.
    await Deno.writeTextFile(
      node.config,
      (await Deno.readTextFile(node.config)).replace("level: debug", "level: info"),
    );

    say("starting ternd");
    const t0 = performance.now();
    await sb.startDaemon(node, { timeoutMs: options.syncTimeoutMs ?? 600_000 });
    const readyS = (performance.now() - t0) / 1000;
    const pid = node.daemon!.pid;
    let status: StatusResponse | undefined;
    const syncDeadline = performance.now() + (options.syncTimeoutMs ?? 600_000);
    while (!synced(status = await daemonStatus(node))) {
      if (performance.now() > syncDeadline) throw new Error("ternd did not sync in time");
      await new Promise((r) => setTimeout(r, 50));
    }
    const syncS = (performance.now() - t0) / 1000;
    const afterSync = await procStatus(pid);
    const objects = Object.fromEntries(
      (status!.cluster?.kinds ?? []).map((k) => [k.kind, k.objects]),
    );
    say(
      `synced in ${syncS.toFixed(1)} s (ready ${readyS.toFixed(1)} s), RSS ${
        mib(afterSync.rssKiB)
      } MiB; objects ${JSON.stringify(objects)}`,
    );
    await new Promise((r) => setTimeout(r, options.settleMs ?? 10_000));
    const rssSettledMiB = mib((await procStatus(pid)).rssKiB);

    // The local pods, as kubelet would start them, now that the cache is warm.
    const pods: SandboxPod[] = [];
    let addRetries = 0;
    for (let k = 0; k < shape.localPods; k++) {
      const pod = await sb.addPod(node, `bench-local-${k}`, { namespace: LOCAL_NAMESPACE });
      // As kubelet does, ADD again after a failure: a daemon busy compiling policy for 150 000
      // pods may not answer the plugin within its 10 s.
      for (let attempt = 1;; attempt++) {
        try {
          await sb.driverAdd(pod);
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
          addRetries++;
          say(`ADD of ${pod.name} failed, again (${attempt}): ${errorMessage(err).slice(0, 160)}`);
        }
      }
      pods.push(pod);
    }
    say(`wired ${pods.map((p) => `${p.name} ${p.ip}`).join(", ")}`);

    // The eye on the kernel: nftables commits over netlink, then one local pod's ingress maps.
    const maps = ingressL4Maps(
      (await must(["ip", "netns", "exec", node.netns, "nft", "-j", "-t", "list", "maps", "inet"]))
        .stdout,
    );
    if (maps.length === 0) throw new Error("No local pod has an ingress map in inet tern");
    probe = new NftMapProbe(node.netns, [maps[0]!.replace(/_l4$/, "_exact"), maps[0]!]);

    // At rest means after the local pods' first compile and the collections it brings: wait for
    // a second with at most one tick (10 ms) before the idle window.
    const quietT = performance.now();
    for (let before = await treeTicks(pid); performance.now() - quietT < 30_000;) {
      await new Promise((r) => setTimeout(r, 1_000));
      const now = await treeTicks(pid);
      if (now - before <= 1) break;
      before = now;
    }
    const quietAfterMs = performance.now() - quietT;
    const idleBefore = await treeTicks(pid);
    const idleT = performance.now();
    await new Promise((r) => setTimeout(r, options.idleMs ?? 5_000));
    const idleCpuPercent = ((await treeTicks(pid)) - idleBefore) / CLK_TCK /
      ((performance.now() - idleT) / 1000) * 100;

    // Churn long enough for the CPU window and every sample, stopped after them: a sample takes
    // ~0.8 s at the envelope (the write, the commit, the listing, 150-250 ms apart), 2 s allowed.
    const churnMs = (cpuSeconds + samples * 2 + 30) * 1000;
    await admin.post("churn", { eventsPerSecond, durationMs: churnMs });
    await new Promise((r) => setTimeout(r, Math.min(2_000, cpuSeconds * 1000))); // past its start
    const busy = machineBusyPercent(cpuSeconds * 1000);
    const e0 = Number((await admin.get("churn")).events);
    const c0 = await treeTicks(pid);
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, cpuSeconds * 1000));
    const c1 = await treeTicks(pid);
    const e1 = Number((await admin.get("churn")).events);
    const windowS = (performance.now() - w0) / 1000;
    const churnEventsPerSecond = (e1 - e0) / windowS;
    const churnCpuPercent = (c1 - c0) / CLK_TCK / windowS * 100;
    const machineBusy = await busy;
    say(
      `churn ${churnEventsPerSecond.toFixed(0)} events/s: ternd ${
        churnCpuPercent.toFixed(1)
      } % of a core`,
    );

    const latencies: { kind: "pod" | "policy"; ms: number | undefined }[] = [];
    const timed: { kind: string; writeAt: number; commitAt: number | undefined }[] = [];
    const wall = (ms: number) => performance.timeOrigin + ms;
    let boundedSamples = 0;
    for (let n = 0; n < samples; n++) {
      const kind = n % 2 === 0 ? "pod" : "policy";
      let write: unknown;
      let ip: string;
      let port: number;
      if (kind === "pod") {
        const pod = podAt(samplePodIndex(n >> 1, plan), plan.generate.nodes);
        pod.metadata!.labels = { ...pod.metadata!.labels, [PEER_LABEL]: "yes" };
        ip = (pod.status as { podIP: string }).podIP;
        port = PEER_PORT;
        write = [pod];
      } else {
        ip = sampleBlockAddress(++blockSeq);
        port = BLOCK_PORT;
        write = [benchPolicies(ip)[1]];
      }
      const t = performance.now();
      await admin.post("objects", write);
      const hit = await probe.waitFor(ip, port, sampleTimeoutMs - (performance.now() - t));
      if (hit?.exact === false) boundedSamples++;
      latencies.push({ kind, ms: hit === undefined ? undefined : hit.at - t });
      timed.push({
        kind,
        writeAt: wall(t),
        commitAt: hit === undefined ? undefined : wall(hit.at),
      });
      // Spread the samples so that each is a change of its own, 150-250 ms apart.
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 100));
    }
    await admin.post("churn/stop", {});
    const end = await procStatus(pid);
    // ternd computes the status in slices, 10-20 s at 150 000 pods / 10 000 policies.
    const statusStarted = performance.now();
    const policyStatus = await new DaemonClient(node.socket, { timeoutMs: 120_000 })
      .request<PolicyStatusResponse>("GET", "/v1/policy/status").catch((err) => {
        say(`policy status: ${errorMessage(err)}`);
        return undefined;
      });
    if (policyStatus !== undefined) {
      say(`policy status answered in ${((performance.now() - statusStarted) / 1000).toFixed(1)} s`);
    }
    const ms = (kind: "pod" | "policy") =>
      latencies.filter((l) => l.kind === kind).map((l) => l.ms);
    const log = await Deno.readTextFile(node.daemonLog).catch(() => "");
    if (options.keepLog !== undefined) {
      await Deno.writeTextFile(options.keepLog, log);
      await Deno.writeTextFile(`${options.keepLog}.samples.json`, JSON.stringify(timed, null, 1));
      const fakeErr = await Deno.readTextFile(`${sb.dir}/fake.log`).catch(() => "");
      await Deno.writeTextFile(
        `${options.keepLog}.fake.log`,
        `# spawned at ${started.spawnedAt} (ms since the epoch)\n${started.stdout.text}\n${fakeErr}`,
      );
      say(
        `ternd's log kept in ${options.keepLog} (.samples.json: the samples, .fake.log: the fake)`,
      );
    }
    const gcs = parseGcPauses(log);
    const slowStages = sampleStages(
      timed,
      parseLoggedRuns(log),
      gcs,
      KUBE_SCALE_GOALS.p99Ms,
      parseLoopStalls(log),
    );
    return {
      ...shape,
      fakeLoadS: started.loadS,
      fakeRssMiB,
      readyS,
      syncS,
      rssAfterSyncMiB: mib(afterSync.rssKiB),
      hwmAfterSyncMiB: mib(afterSync.hwmKiB),
      rssSettledMiB,
      objects,
      addRetries,
      boundedSamples,
      idleCpuPercent,
      quietAfterMs,
      churnEventsPerSecond,
      churnCpuPercent,
      cpuPercentPer1000EventsPerSecond: churnCpuPercent * 1000 / Math.max(1, churnEventsPerSecond),
      rssEndMiB: mib(end.rssKiB),
      pod: summarizeLatency(ms("pod")),
      policy: summarizeLatency(ms("policy")),
      all: summarizeLatency(latencies.map((l) => l.ms)),
      policyApplies: policyStatus?.enforcement.enabled ? policyStatus.enforcement.applies : 0,
      policyWholeApplies: policyStatus?.enforcement.enabled
        ? policyStatus.enforcement.wholeApplies
        : 0,
      loadAverageStart,
      loadAverageEnd: await loadAverage(),
      machineBusyPercent: machineBusy,
      latencies,
      slowStages,
      ...(gcs.length > 0 ? { fullCollectionsMs: fullCollectionsAfter(gcs, syncS * 1000) } : {}),
    };
  } finally {
    admin?.close();
    await probe?.close();
    if (fake) {
      try {
        fake.kill("SIGKILL");
      } catch { /* gone */ }
      await fake.status;
    }
    await sb.cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "kube-nodes": { type: "string", default: "5000" },
      "kube-pods": { type: "string", default: "150000" },
      "kube-policies": { type: "string", default: "10000" },
      "local-pods": { type: "string", default: "4" },
      "events-per-second": { type: "string", default: "1000" },
      "cpu-seconds": { type: "string", default: "20" },
      samples: { type: "string", default: "200" },
      source: { type: "boolean", default: false },
      json: { type: "string" },
      "keep-log": { type: "string" },
    },
  });
  if (!values.source && !Deno.env.get("TERN_BIN")) {
    await ensureDist();
    Deno.env.set("TERN_BIN", `${DIST}/tern`);
  }
  const result = await benchKubeScale({
    nodes: Number(values["kube-nodes"]),
    pods: Number(values["kube-pods"]),
    policies: Number(values["kube-policies"]),
    localPods: Number(values["local-pods"]),
    eventsPerSecond: Number(values["events-per-second"]),
    cpuSeconds: Number(values["cpu-seconds"]),
    samples: Number(values.samples),
    ...(values["keep-log"] !== undefined ? { keepLog: values["keep-log"] } : {}),
  });
  console.log(formatKubeScale(result));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2));
}

if (import.meta.main) await main();

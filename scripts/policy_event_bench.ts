/**
 * What one pod event costs the policy compiler at kube-scale (issue 11), in one process, without
 * a daemon or a kernel: the `realistic.ts` cluster (5 000 nodes, 150 000 pods, 10 000
 * NetworkPolicies over 50 namespaces) in a `ClusterState`, its pods compacted as the kubernetes
 * source keeps them (`compact_pod.ts`: shared strings and containers lists), the last node's pods replaced by 4
 * local pods labelled like the generated `web` pods (as `bench_kube_scale.ts` does), then a churn
 * like the fake API server's (6/8 an annotation or the `version` label, 1/8 a copy of a pod
 * created, 1/8 a pod deleted), and every 50th event a policy of the local pods given a new ipBlock,
 * with one policy run after each event: the compile (fed the changes
 * when the tree has `PolicyChanges`) and the render of the update. Prints the run's time per kind
 * of event (p50, p99, max; `touching`: the pod events, of any kind, after which local pods were
 * recomputed), how many local pods were recomputed, the bytes a run allocated (p50, V8's own
 * count, garbage included; a pod event's figure counts only the runs that recomputed no local
 * pod, the others are `touching`'s), the first compile, and (with `--expose-gc`) the heap the
 * compiler keeps and what it keeps outside the heap (typed arrays' buffers), the bytes the whole
 * churn allocated (the bench's own events included) and its window on this process's clock
 * (`windowMs`: with `--v8-flags=--trace-gc-nvp` and `--out FILE`,
 * `scripts/gc_trace.ts TRACE --window FILE` says what the churn's collections promoted and how
 * long full collections worked on the main thread).
 *
 * `deno run -A --v8-flags=--expose-gc scripts/policy_event_bench.ts [--root DIR] [--pods 150000] [--nodes 5000]
 * [--policies 10000] [--events 2000] [--status] [--heap-profile N] [--out FILE] [--json]`; `--heap-profile N`
 * samples every allocation of the churn (garbage included, `allocation_sampling.ts`) and prints the
 * N functions that allocated most themselves; `--status` also times what
 * `GET /v1/policy/status` computes (`policyStatus`) after the churn, and as ternd computes it, in
 * slices (`slicedStatus`: the time, and the longest the event loop waited meanwhile); `--root` is a tern checkout whose `src/` is
 * measured (default this one), so that two trees compare with the same script.
 * @module
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { getHeapStatistics } from "node:v8";
import { allocationSites, startAllocationSampling } from "./allocation_sampling.ts";

const args = parseArgs({
  options: {
    root: { type: "string", default: new URL("..", import.meta.url).pathname },
    pods: { type: "string", default: "150000" },
    nodes: { type: "string", default: "5000" },
    policies: { type: "string", default: "10000" },
    events: { type: "string", default: "2000" },
    json: { type: "boolean", default: false },
    status: { type: "boolean", default: false },
    "heap-profile": { type: "string" },
    out: { type: "string" },
  },
});
const root = pathToFileURL(
  args.values.root.endsWith("/") ? args.values.root : `${args.values.root}/`,
);
const load = (path: string) => import(new URL(path, root).href);

const { ClusterState } = await load("src/cluster/state.ts");
const { parseManifestObject } = await load("src/cluster/manifest.ts");
const { PolicyCompiler } = await load("src/policy/policy_compiler.ts");
const { renderPolicyUpdate, RenderCache } = await load("src/policy/render.ts");
const realistic = await load("test/fake_apiserver/realistic.ts");
let PolicyChanges: (new () => { observe(c: unknown): void; take(): unknown }) | undefined;
try {
  ({ PolicyChanges } = await load("src/policy/policy_changes.ts"));
} catch {
  PolicyChanges = undefined; // a tree from before the incremental compile
}
// deno-lint-ignore no-explicit-any
let compact: ((pod: any) => void) | undefined;
try {
  // As the kubernetes source keeps them: repeated strings and containers shared.
  const { compactPod, podPools } = await load("src/cluster/compact_pod.ts");
  const pools = podPools();
  compact = (pod) => compactPod(pod, pools);
} catch {
  compact = undefined; // a tree from before compact pods
}

const shape = {
  nodes: Number(args.values.nodes),
  pods: Number(args.values.pods),
  networkPolicies: Number(args.values.policies),
};
const t0 = performance.now();
const resources: unknown[] = [];
for (const object of realistic.realisticCluster(shape)) {
  resources.push(...parseManifestObject(object, { file: "realistic" }).resources);
}
const node = realistic.nodeName(shape.nodes - 1);
type Pod = {
  kind: "Pod";
  namespace: string;
  name: string;
  nodeName?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  podIPs: string[];
};
const isPod = (r: unknown): r is Pod => (r as { kind: string }).kind === "Pod";
const kept = resources.filter((r) => !isPod(r) || r.nodeName !== node);
if (compact !== undefined) { for (const r of kept) if (isPod(r)) compact(r); }
const web = kept.find((r): r is Pod => isPod(r) && r.labels.app === "web")!;
const base = realistic.nodeAddresses(shape.nodes - 1).podCIDR.split(".").slice(0, 3).join(".");
const namespace = realistic.namespaceName(0);
const local: Pod[] = [0, 1, 2, 3].map((i) => ({
  ...web,
  namespace,
  name: `local-${i}`,
  nodeName: node,
  podIPs: [`${base}.${200 + i}`],
}));
const snapshot = {
  resourceVersion: "1",
  nodes: kept.filter((r) => (r as { kind: string }).kind === "Node"),
  namespaces: kept.filter((r) => (r as { kind: string }).kind === "Namespace"),
  pods: [...kept.filter(isPod), ...local],
  nodeEndpoints: [],
  others: kept.filter((r) => (r as { kind: string }).kind === "Other"),
  errors: [],
};
const state = new ClusterState();
const changes = PolicyChanges !== undefined ? new PolicyChanges() : undefined;
if (changes !== undefined) state.subscribe((c: unknown) => changes.observe(c));
state.reset(snapshot);
const endpoints = local.map((p, i) => ({
  namespace: p.namespace,
  name: p.name,
  ifname: `ternbench${i}`,
  ip: p.podIPs[0]!,
}));
const built = performance.now() - t0;

// With --v8-flags=--expose-gc: the heap the compiler keeps (peers, indexes, selections).
const gc = (globalThis as { gc?: () => void }).gc;
const heapNow = () => {
  gc?.();
  return Deno.memoryUsage().heapUsed;
};
const heapBefore = heapNow();
// What typed arrays and other memory outside V8's heap hold (asked after heapNow's collection).
const externalBefore = Deno.memoryUsage().external;
const compiler = new PolicyCompiler();
const cache = new RenderCache();
// deno-lint-ignore no-explicit-any
let model: any;
const run = () => {
  const next = compiler.compile(state, { endpoints, changes: changes?.take() });
  const text = model === undefined ? "" : renderPolicyUpdate(model, next, { cache });
  model = next;
  return text;
};
const tFirst = performance.now();
run();
const first = performance.now() - tFirst;
const compilerHeapMiB = gc === undefined
  ? undefined
  : Math.round((heapNow() - heapBefore) / 2 ** 20 * 10) / 10;
const compilerExternalMiB = gc === undefined
  ? undefined
  : Math.round((Deno.memoryUsage().external - externalBefore) / 2 ** 20 * 10) / 10;
const tSecond = performance.now();
run();
const second = performance.now() - tSecond;

// The churn: the fake API server's mix, on pods other than the local ones.
let seed = 12345;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pods: Pod[] = snapshot.pods.filter((p) => p.nodeName !== node);
const samples: Record<string, number[]> = { annotation: [], version: [], create: [], delete: [] };
const recomputed: Record<string, number> = { annotation: 0, version: 0, create: 0, delete: 0 };
let updates = 0;
let version = 2;
// As kube-scale's latency samples do: a policy of the local pods given a new ipBlock.
const blocks = (i: number) =>
  parseManifestObject({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "bench-blocks", namespace },
    spec: {
      podSelector: { matchLabels: { app: "web" } },
      policyTypes: ["Ingress"],
      ingress: [{
        from: [{ ipBlock: { cidr: `192.168.${i % 256}.0/24` } }],
        ports: [{ protocol: "TCP", port: 7778 }],
      }],
    },
  }, { file: "bench" }).resources[0];
state.apply({ type: "added", resource: blocks(0), resourceVersion: "2" });
run();
samples.policy = [];
recomputed.policy = 0;
samples.touching = [];
recomputed.touching = 0;
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
// The bytes a run allocated, by kind: V8's count of every allocation, garbage included.
// `total_allocated_bytes` is in Deno 2.9's object, not yet in @types/node's `HeapInfo`.
const allocatedBytes = () =>
  (getHeapStatistics() as { total_allocated_bytes?: number }).total_allocated_bytes ?? NaN;
// Asking costs an allocation of its own (~100 KiB in Deno 2.9): the median of 50 asks in a row.
const askCost = quantile(
  Array.from({ length: 50 }, () => -allocatedBytes() + allocatedBytes()),
  0.5,
);
const allocated: Record<string, number[]> = {};
const allocatedBy = (kind: string, bytes: number) => {
  (allocated[kind] ??= []).push(Math.max(0, bytes - askCost) / 2 ** 10);
};
// The churn's window on this process's clock, for `gc_trace.ts` (with `--trace-gc-nvp`).
const churnAllocatedBefore = allocatedBytes();
const churnStarted = performance.now();
const profile = args.values["heap-profile"] === undefined
  ? undefined
  : await startAllocationSampling();
for (let i = 0; i < Number(args.values.events); i++) {
  if (i % 50 === 49) {
    state.apply({ type: "modified", resource: blocks(i), resourceVersion: String(version++) });
    const heap = allocatedBytes();
    const t = performance.now();
    if (run() !== "") updates++;
    samples.policy!.push(performance.now() - t);
    allocatedBy("policy", allocatedBytes() - heap);
    recomputed.policy! += compiler.stats.computed;
    continue;
  }
  const pick = Math.floor(random() * 8);
  const index = Math.floor(random() * pods.length);
  const pod = pods[index]!;
  let kind: string;
  const at = String(version++);
  if (pick < 6) {
    kind = pick % 2 === 0 ? "version" : "annotation";
    const now = state.pod(pod.namespace, pod.name);
    const changed = kind === "version"
      ? { ...now, labels: { ...now.labels, version: `v${i}` } }
      : { ...now, annotations: { ...now.annotations, "bench/at": String(i) } };
    state.apply({ type: "modified", resource: changed, resourceVersion: at });
  } else if (pick === 6) {
    kind = "create";
    const copy = {
      ...pod,
      name: `${pod.name}-c${i}`,
      podIPs: [`10.250.${i >> 8 & 255}.${i & 255}`],
    };
    pods.push(copy);
    state.apply({ type: "added", resource: copy, resourceVersion: at });
  } else {
    kind = "delete";
    pods[index] = pods[pods.length - 1]!;
    pods.pop();
    state.apply({ type: "deleted", resource: pod, resourceVersion: at });
  }
  const heap = allocatedBytes();
  const t = performance.now();
  if (run() !== "") updates++;
  const ms = performance.now() - t;
  const bytes = allocatedBytes() - heap;
  samples[kind]!.push(ms);
  recomputed[kind]! += compiler.stats.computed;
  // The pod events that reached a local pod's selections, whatever their kind.
  if (compiler.stats.computed > 0) {
    samples.touching!.push(ms);
    recomputed.touching! += compiler.stats.computed;
    allocatedBy("touching", bytes);
  } else {
    allocatedBy(kind, bytes);
  }
}

const churnEnded = performance.now();
const churnAllocated = allocatedBytes() - churnAllocatedBefore;

// Where the churn's runs allocated, by function (the bench's own events included).
const sites = profile === undefined
  ? undefined
  : allocationSites(await profile.stop()).slice(0, Number(args.values["heap-profile"]))
    .map(({ site, self, total }) => ({
      site,
      selfMiB: Math.round(self / 2 ** 20 * 10) / 10,
      totalMiB: Math.round(total / 2 ** 20 * 10) / 10,
    }));

// What `GET /v1/policy/status` computes, on the daemon's event loop.
let statusMs: number | undefined;
let slicedStatus: { ms: number; longestHoldMs: number } | undefined;
if (args.values.status) {
  const { policyStatus, policyStatusInSlices } = await load("src/policy/status.ts");
  const t = performance.now();
  policyStatus(state, { endpoints });
  statusMs = Math.round(performance.now() - t);
  if (policyStatusInSlices !== undefined) {
    // As ternd computes it: in slices; how long the event loop waited at most meanwhile.
    const { realClock } = await load("src/clock.ts");
    let last = performance.now();
    let longest = 0;
    const probe = setInterval(() => {
      const at = performance.now();
      longest = Math.max(longest, at - last);
      last = at;
    }, 1);
    const started = performance.now();
    await policyStatusInSlices(state, { endpoints, clock: realClock });
    const ms = Math.round(performance.now() - started);
    clearInterval(probe);
    slicedStatus = { ms, longestHoldMs: Math.round(longest) };
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
const result = {
  tree: args.values.root,
  incremental: changes !== undefined,
  shape,
  buildMs: Math.round(built),
  firstCompileMs: Math.round(first),
  secondCompileMs: round(second),
  compilerHeapMiB,
  compilerExternalMiB,
  statusMs,
  slicedStatus,
  updates,
  perEvent: Object.fromEntries(
    Object.entries(samples).map(([kind, values]) => [kind, {
      events: values.length,
      p50Ms: round(quantile(values, 0.5)),
      p99Ms: round(quantile(values, 0.99)),
      maxMs: round(Math.max(...values)),
      podsRecomputed: recomputed[kind],
      allocatedP50KiB: round(quantile(allocated[kind] ?? [], 0.5)),
    }]),
  ),
  churnAllocatedMiB: round(churnAllocated / 2 ** 20),
  windowMs: [Math.round(churnStarted), Math.round(churnEnded)],
  allocationSites: sites,
  loadAverage: Deno.loadavg(),
};
if (args.values.out !== undefined) {
  await Deno.writeTextFile(args.values.out, JSON.stringify(result));
}
if (args.values.json) console.log(JSON.stringify(result));
else console.log(JSON.stringify(result, null, 2));

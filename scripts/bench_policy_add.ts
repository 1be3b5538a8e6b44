/**
 * What the policy run that an ADD waits for costs in-process, with few and many pods on the
 * node: a {@linkcode PolicyManager} over a fake `nft` and fake veth groups, `--small` (default
 * 10) or `--large` (default 250) endpoints attached, then one endpoint added and
 * `programmed()` awaited (the run: view, compile, render, marks), then released, `--adds` times
 * (default 200) per round; small and large alternate for `--rounds` rounds (default 6), so that
 * machine noise falls on both. Three setups: a single node (no cluster source: the endpoints are
 * each other's peers), and a cluster source holding every pod, with a NetworkPolicy that selects
 * them all and admits `app: a1` pods, the pod added labelled so that no rule admits it (only its
 * own policy is new) or so that every local pod's rule does (every local pod's policy changes). Prints the p50 of the whole wait and of the run's compute (view and compile) for each,
 * and the ratio large / small. Needs no root.
 *
 *   deno run -A --unstable-kv scripts/bench_policy_add.ts [--small N] [--large N] [--adds N]
 * @module
 */
import { parseArgs } from "node:util";
import { ClusterState } from "../src/cluster/state.ts";
import { Nft } from "../src/nft.ts";
import type { LocalEndpoint } from "../src/local_endpoints.ts";
import { PolicyChanges } from "../src/policy/policy_changes.ts";
import { PolicyManager } from "../daemon/policy/policy_manager.ts";
import type { VethGroups } from "../daemon/policy/veth_groups.ts";
import { manifestResources } from "../test/cluster_fixtures.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    small: { type: "string", default: "10" },
    large: { type: "string", default: "250" },
    adds: { type: "string", default: "200" },
    rounds: { type: "string", default: "6" },
  },
});

/** Veth groups in memory. */
class MemoryGroups implements VethGroups {
  readonly links = new Map<string, number>();
  list(): Promise<Map<string, number>> {
    return Promise.resolve(new Map(this.links));
  }
  set(groups: ReadonlyMap<string, number>): Promise<void> {
    for (const [veth, group] of groups) this.links.set(veth, group);
    return Promise.resolve();
  }
}

function endpointOf(i: number): LocalEndpoint {
  return {
    containerID: `c${i}`,
    ifname: "eth0",
    ip: `10.244.${i >> 8}.${i & 255}`,
    hostVeth: `tern${i.toString(16).padStart(11, "0")}`,
    podNamespace: "bench",
    podName: `pod-${i}`,
  };
}

/** Pod `i`: the first ones `app: a0`…`a4`; those added later `app` = `added`. */
function podManifest(i: number, added: string): string {
  return `{apiVersion: v1, kind: Pod, metadata: {namespace: bench, name: pod-${i}, labels: {app: ${
    i < 10_000 ? `a${i % 5}` : added
  }}}, spec: {nodeName: node-1}, status: {phase: Running, podIPs: [{ip: ${endpointOf(i).ip}}]}}\n`;
}

const POLICY = `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {namespace: bench,
  name: same-app}, spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: a1}}}]}]}}
`;

interface Setup {
  manager: PolicyManager;
  /** Parses pod `i`'s manifest, outside the time measured. */
  prepare(i: number): void;
  add(i: number): void;
  remove(i: number): void;
  computeMs: number[];
}

/** How the node is set up: `single` (no cluster source), or a cluster source whose pods added are `added`. */
type Mode = { type: "single" } | { type: "cluster"; added: string };

async function setup(pods: number, mode: Mode): Promise<Setup> {
  const withCluster = mode.type === "cluster";
  const endpoints = new Map<number, LocalEndpoint>();
  const cluster = withCluster ? new ClusterState() : undefined;
  const changes = new PolicyChanges();
  cluster?.subscribe((change) => changes.observe(change));
  if (cluster !== undefined) {
    for (const resource of manifestResources(POLICY, "policy")) {
      cluster.apply({ type: "modified", resource, resourceVersion: "1" });
    }
  }
  const computeMs: number[] = [];
  const manager = new PolicyManager({
    nft: new Nft(() => Promise.resolve({ code: 0, stdout: "", stderr: "" })),
    groups: new MemoryGroups(),
    delta: () => changes.take(),
    inputs: () => ({
      cluster,
      policyDir: undefined,
      endpoints: [...endpoints.values()],
      nodeName: "node-1",
    }),
    onApply: (apply) => computeMs.push(apply.computeMs),
  }, { logRate: 0, intervalMs: 3_600_000, debounceMs: 0 });
  const parsed = new Map<number, ReturnType<typeof manifestResources>>();
  const prepare = (i: number) => {
    if (cluster !== undefined && !parsed.has(i)) {
      parsed.set(
        i,
        manifestResources(podManifest(i, mode.type === "cluster" ? mode.added : ""), "event"),
      );
    }
  };
  const put = (i: number, type: "modified" | "deleted") => {
    prepare(i);
    for (const resource of parsed.get(i)!) cluster!.apply({ type, resource, resourceVersion: "1" });
  };
  const add = (i: number) => {
    if (cluster !== undefined) put(i, "modified");
    endpoints.set(i, endpointOf(i));
  };
  const remove = (i: number) => {
    endpoints.delete(i);
    if (cluster !== undefined) put(i, "deleted");
    parsed.delete(i);
  };
  for (let i = 0; i < pods; i++) add(i);
  await manager.start();
  return { manager, prepare, add, remove, computeMs };
}

async function series(s: Setup, base: number, adds: number): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < adds; k++) {
    const i = base + k;
    s.prepare(i);
    const t0 = performance.now();
    s.add(i);
    s.manager.request("endpoints");
    const state = await s.manager.programmed(endpointOf(i).hostVeth);
    out.push(performance.now() - t0);
    if (state.state !== "ready") throw new Error(`Endpoint ${i} not ready: ${state.state}`);
    s.remove(i);
    s.manager.request("endpoints");
    await s.manager.programmed(endpointOf(i).hostVeth);
  }
  return out;
}

function p50(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const small = Number(values.small);
const large = Number(values.large);
const adds = Number(values.adds);
const rounds = Number(values.rounds);
const modes: [string, Mode][] = [
  ["single node", { type: "single" }],
  // No selector reads the pods added: only the new pod's policy changes.
  ["cluster source, a NetworkPolicy selecting every pod, new pod no rule admits", {
    type: "cluster",
    added: "new",
  }],
  // Every local pod's rule admits the pods added: every pod's policy changes (not O(1)).
  ["cluster source, a NetworkPolicy selecting every pod, new pod every rule admits", {
    type: "cluster",
    added: "a1",
  }],
];
for (const [name, mode] of modes) {
  const sizes = [small, large];
  const setups = await Promise.all(sizes.map((n) => setup(n, mode)));
  const waits: number[][] = [[], []];
  const computes: number[][] = [[], []];
  // A warm-up round each, not counted.
  for (const s of setups) await series(s, 10_000, 20);
  for (let r = 0; r < rounds; r++) {
    for (const j of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const s = setups[j]!;
      s.computeMs.length = 0;
      waits[j]!.push(...await series(s, 20_000 + r * adds, adds));
      computes[j]!.push(...s.computeMs.filter((_, k) => k % 2 === 0));
    }
  }
  for (const s of setups) await s.manager.stop();
  const fmt = (x: number) => x.toFixed(3);
  console.log(
    `${name}: ADD's policy wait p50 ${fmt(p50(waits[0]!))} ms with ${small} pods, ${
      fmt(p50(waits[1]!))
    } with ${large} (${(p50(waits[1]!) / p50(waits[0]!)).toFixed(2)}×); compute p50 ${
      fmt(p50(computes[0]!))
    } / ${fmt(p50(computes[1]!))} ms`,
  );
}

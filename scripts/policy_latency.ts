/**
 * Policy programming latency, for the benchmark and the kernel test: the time from a change of
 * the cluster state (a NetworkPolicy that appears or goes away, as the cluster source delivers
 * it) to the return of the `nft` transaction that enforces it, through the daemon's own
 * {@linkcode PolicyManager} (debounce, compile, incremental render, apply), with `rules` rules
 * present in the table. Once nft returns, the next packet is judged by the new ruleset (a
 * transaction is atomic), so this is the latency to the first packet judged by the new rule,
 * less the cluster source's own delivery (the `files` source waits 100 ms for writes to settle).
 *
 * The rules are those of one SecurityGroup of pod `bench/loaded`: each allows TCP to one port
 * from one address of 10.200.0.0/14 (other pods' addresses, not the probe's): `rules` elements
 * in that pod's map. Each sample toggles a deny-all NetworkPolicy of pod `bench/target`
 * (`change: "other-pod"`, the default), or adds and removes one rule of the loaded pod's own group
 * (`change: "same-pod"`, which recompiles those rules each time).
 * @module
 */
import { parseManifestObject } from "../src/cluster/manifest.ts";
import { snapshotOf } from "../src/cluster/snapshot.ts";
import { ClusterState } from "../src/cluster/state.ts";
import type { Resource, Snapshot } from "../src/cluster/types.ts";
import { hostVethName } from "../src/names.ts";
import type { Nft } from "../src/nft.ts";
import type { LocalEndpoint } from "../src/local_endpoints.ts";
import { PolicyManager } from "../daemon/policy/policy_manager.ts";
import type { VethGroups } from "../daemon/policy/veth_groups.ts";

/** Knobs of {@linkcode measurePolicyLatency}; every field documents its default. */
export interface PolicyLatencyOptions {
  /** Rules present (elements in the loaded pod's map). Default 10 000. */
  rules?: number;
  /** Changes measured. Default 100. */
  samples?: number;
  /** Changes applied first and not counted. Default 5. */
  warmup?: number;
  /** What each change touches (see the module doc). Default `other-pod`. */
  change?: "other-pod" | "same-pod";
  /** The manager's debounce, as in the daemon. Default 20. */
  debounceMs?: number;
  /**
   * The delay each cluster change asks the manager for (`request("cluster", delayMs)`). Default
   * 0, as the daemon asks (its source has already coalesced the writes); the debounce still
   * coalesces requests that arrive during a run.
   */
  requestDelayMs?: number;
  /** Pause between samples, so each change is a burst of its own. Default 30. */
  pauseMs?: number;
}

/** What {@linkcode measurePolicyLatency} found; times in milliseconds. */
export interface PolicyLatencyResult {
  rules: number;
  samples: number;
  change: "other-pod" | "same-pod";
  /** Change → nft returned, by percentile. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** The delay each change asked for (`requestDelayMs`), part of the wait before compiling. */
  debounceMs: number;
  /** Median time from the change to the start of the run (the debounce, timers), per change. */
  waitP50Ms: number;
  /** Median time spent compiling (cluster view, compile), per change. */
  computeP50Ms: number;
  /** Median time spent rendering the transaction, per change. */
  renderP50Ms: number;
  /** Median time `nft -f -` took, per change; and the slowest. */
  nftP50Ms: number;
  nftMaxMs: number;
  /** Median lines per transaction. */
  linesP50: number;
  /** The whole table at start: lines and time to apply. */
  wholeLines: number;
  wholeApplyMs: number;
  /** Every sample, in order. */
  latenciesMs: number[];
}

/**
 * Measures (see the module doc). `nft` is where the table goes: in a throwaway network
 * namespace for real figures (`new Nft(denoRunner, { netns })`), never the root namespace;
 * `groups` marks the veths there (`new IpVethGroups(ip, { netns })`).
 */
export async function measurePolicyLatency(
  nft: Pick<Nft, "apply" | "listTableJson">,
  groups: VethGroups,
  options: PolicyLatencyOptions = {},
): Promise<PolicyLatencyResult> {
  const rules = options.rules ?? 10_000;
  const samples = options.samples ?? 100;
  const warmup = options.warmup ?? 5;
  const change = options.change ?? "other-pod";
  const debounceMs = options.debounceMs ?? 20;
  const pauseMs = options.pauseMs ?? 30;
  const requestDelayMs = options.requestDelayMs ?? 0;

  const state = new ClusterState();
  state.reset(snapshot(rules));
  const endpoints: LocalEndpoint[] = await Promise.all(
    [["loaded", "10.244.1.2"], ["target", "10.244.1.3"]].map(async ([name, ip]) => ({
      containerID: `bench-${name}`,
      ifname: "eth0",
      ip: ip!,
      hostVeth: await hostVethName(`bench-${name}`, "eth0"),
      podNamespace: "bench",
      podName: name!,
    })),
  );
  let nftMs = 0;
  const timed: Pick<Nft, "apply" | "listTableJson"> = {
    apply: async (text) => {
      const t = performance.now();
      try {
        await nft.apply(text);
      } finally {
        nftMs = performance.now() - t;
      }
    },
    listTableJson: (family, name, options) => nft.listTableJson(family, name, options),
  };
  const manager = new PolicyManager({
    nft: timed,
    groups,
    inputs: () => ({ cluster: state, policyDir: undefined, endpoints, nodeName: "node-1" }),
  }, { logRate: 5, intervalMs: 3_600_000, debounceMs });
  const latencies: number[] = [];
  const computes: number[] = [];
  const renders: number[] = [];
  const waits: number[] = [];
  const nfts: number[] = [];
  const lines: number[] = [];
  try {
    const t0 = performance.now();
    await manager.start();
    const wholeApplyMs = performance.now() - t0;
    const wholeLines = manager.status().lastApply?.lines ?? 0;
    state.subscribe((c) => {
      if (c.type !== "error") manager.request("cluster", requestDelayMs);
    });
    for (let i = 0; i < warmup + samples; i++) {
      const applied = new Promise<number>((resolve) => {
        const off = manager.onApplied(() => {
          off();
          resolve(performance.now());
        });
      });
      // Parsing and validating the manifest is the cluster source's work, before delivery.
      const event = toggle(change, { rules, on: i % 2 === 0 });
      const start = performance.now();
      state.apply(event);
      const end = await applied;
      const last = manager.status().lastApply;
      if (last?.kind !== "incremental") {
        throw new Error(
          `Policy latency sample ${i}: expected an incremental transaction: got ${last?.kind}`,
        );
      }
      if (i >= warmup) {
        latencies.push(end - start);
        computes.push(last.computeMs);
        nfts.push(nftMs);
        waits.push(Math.max(0, end - start - last.durationMs));
        renders.push(Math.max(0, last.durationMs - last.computeMs - nftMs));
        lines.push(last.lines);
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      rules,
      samples,
      change,
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted[sorted.length - 1] ?? 0),
      meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
      debounceMs: requestDelayMs,
      computeP50Ms: round(percentile([...computes].sort((a, b) => a - b), 50)),
      waitP50Ms: round(percentile([...waits].sort((a, b) => a - b), 50)),
      renderP50Ms: round(percentile([...renders].sort((a, b) => a - b), 50)),
      nftP50Ms: round(percentile([...nfts].sort((a, b) => a - b), 50)),
      nftMaxMs: round(Math.max(0, ...nfts)),
      linesP50: percentile([...lines].sort((a, b) => a - b), 50),
      wholeLines,
      wholeApplyMs: round(wholeApplyMs),
      latenciesMs: latencies.map(round),
    };
  } finally {
    await manager.stop();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function parse(input: Record<string, unknown>): Resource {
  const parsed = parseManifestObject(input, { file: "bench" });
  if (parsed.errors.length > 0 || parsed.resources.length !== 1) {
    throw new Error(`Bad benchmark manifest: ${parsed.errors.map((e) => e.message).join("; ")}`);
  }
  return parsed.resources[0]!;
}

function loadRules(rules: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < rules; i++) {
    out.push({
      action: "allow",
      protocol: "tcp",
      ports: [1024 + (i % 50_000)],
      from: [{ cidr: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32` }],
    });
  }
  return out;
}

function loadGroup(rules: number): Record<string, unknown> {
  return {
    apiVersion: "tern.dev/v1alpha1",
    kind: "SecurityGroup",
    metadata: { name: "sg-load" },
    spec: { ingress: loadRules(rules), egress: [{ action: "allow" }] },
  };
}

function snapshot(rules: number): Snapshot {
  const pod = (name: string) =>
    parse({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "bench", name, labels: { role: name } },
      spec: { nodeName: "node-1", containers: [] },
    });
  return snapshotOf([
    parse({ apiVersion: "v1", kind: "Namespace", metadata: { name: "bench" } }),
    parse({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "node-1" },
      spec: { podCIDR: "10.244.1.0/24" },
    }),
    pod("loaded"),
    pod("target"),
    parse({
      apiVersion: "vpcresources.k8s.aws/v1beta1",
      kind: "SecurityGroupPolicy",
      metadata: { namespace: "bench", name: "load" },
      spec: {
        podSelector: { matchLabels: { role: "loaded" } },
        securityGroups: { groupIds: ["sg-load"] },
      },
    }),
    parse(loadGroup(rules)),
  ], { resourceVersion: "1" });
}

const DENY_TARGET = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace: "bench", name: "deny-target" },
  spec: { podSelector: { matchLabels: { role: "target" } } },
};

let version = 1;

/** The change of sample `on` (added) or not (taken back). */
function toggle(
  change: "other-pod" | "same-pod",
  at: { rules: number; on: boolean },
): Parameters<ClusterState["apply"]>[0] {
  const resourceVersion = String(++version);
  if (change === "other-pod") {
    return { type: at.on ? "added" : "deleted", resource: parse(DENY_TARGET), resourceVersion };
  }
  const group = loadGroup(at.rules);
  if (at.on) {
    (group.spec as { ingress: unknown[] }).ingress.push({
      action: "deny",
      protocol: "tcp",
      ports: [80],
      from: [{ cidr: "10.244.1.3/32" }],
    });
  }
  return { type: "modified", resource: parse(group), resourceVersion };
}

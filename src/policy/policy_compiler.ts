/**
 * {@linkcode compilePolicy} for a daemon that recompiles on every change: the same model, but a
 * pod whose inputs did not change keeps its compiled policy, the very same object, so that the
 * compile and the incremental render skip it. A pod's inputs are its Pod object, its endpoint,
 * the NetworkPolicies that select it, its security groups and their SecurityGroup objects, the
 * service accounts' labels and, only when its rules read other pods (selectors, group members,
 * named ports of peers), every peer pod with its addresses, the peers' namespaces and the
 * SecurityGroupPolicies. Objects of the cluster state are immutable and replaced on change, and
 * policies are parsed once per object, so comparing references is enough. A pod with 10k rules
 * whose peers are addresses is not recompiled when another pod's policy changes. Pure, apart
 * from the cache it keeps.
 * @module
 */
import type { Pod } from "../cluster/types.ts";
import {
  type CompileOptions,
  compilePodLayers,
  finishModel,
  localPod,
  podPolicyOf,
} from "./compile.ts";
import type { PendingEndpoint, PodPolicy, PolicyModel, PolicyProblem } from "./model.ts";
import { type ClusterView, PolicyContext } from "./policy_context.ts";
import { compare } from "./resources.ts";

interface Entry {
  own: unknown[];
  /** The peers' fingerprint when the pod's layers read other pods; undefined when they did not. */
  peers: unknown[] | undefined;
  policy: PodPolicy;
  problems: PolicyProblem[];
}

/** What the last compile did, for logs and tests. */
export interface CompileStats {
  /** Pods whose layers were computed. */
  computed: number;
  /** Pods whose previous layers were kept. */
  reused: number;
}

/** Compiles models, keeping each pod's result while its inputs stay the same. */
export class PolicyCompiler {
  #entries = new Map<string, Entry>();
  #stats: CompileStats = { computed: 0, reused: 0 };

  /** What the last {@linkcode PolicyCompiler.compile} computed and reused. */
  get stats(): CompileStats {
    return { ...this.#stats };
  }

  /** Forgets every kept result (the next compile computes every pod). */
  clear(): void {
    this.#entries.clear();
  }

  /** The model {@linkcode compilePolicy} would return for the same input. */
  compile(state: ClusterView, options: CompileOptions): PolicyModel {
    const ctx = new PolicyContext(state, { endpoints: options.endpoints });
    let world: unknown[] | undefined;
    const peersNow = () => world ??= peersFingerprint(ctx, state);
    const pods: PodPolicy[] = [];
    const pending: PendingEndpoint[] = [];
    const next = new Map<string, Entry>();
    const stats: CompileStats = { computed: 0, reused: 0 };
    for (const ep of options.endpoints) {
      const found = localPod(ctx, ep);
      if ("pending" in found) {
        pending.push(found.pending);
        continue;
      }
      const pod = found.pod;
      const key = `${ep.namespace}/${ep.name}/${ep.ifname}/${ep.ip}`;
      const own = ownInputs(ctx, pod);
      const kept = this.#entries.get(key) ?? next.get(key);
      if (
        kept !== undefined && sameList(kept.own, own) &&
        (kept.peers === undefined || sameList(kept.peers, peersNow()))
      ) {
        for (const p of kept.problems) ctx.report(p);
        pods.push(kept.policy);
        next.set(key, kept);
        stats.reused++;
        continue;
      }
      const before = ctx.peerReads;
      const { value: layers, problems } = ctx.capture(() => compilePodLayers(ctx, pod));
      const readPeers = ctx.peerReads !== before;
      const policy = podPolicyOf(ep, layers);
      next.set(key, { own, peers: readPeers ? peersNow() : undefined, policy, problems });
      pods.push(policy);
      stats.computed++;
    }
    this.#entries = next;
    this.#stats = stats;
    return finishModel(ctx, { pods, pending, logRate: options.logRate });
  }
}

/** What a pod's layers read of itself: its object, its selectors' results, its groups. */
function ownInputs(ctx: PolicyContext, pod: Pod): unknown[] {
  const groups = ctx.groupsOf(pod);
  return [
    pod,
    ...ctx.networkPoliciesFor(pod, "ingress"),
    "|",
    ...ctx.networkPoliciesFor(pod, "egress"),
    "|",
    ...groups,
    "|",
    ...groups.map((id) => ctx.resources.securityGroups.get(id)),
    JSON.stringify([...ctx.resources.serviceAccounts]),
  ];
}

/** What a pod's layers may read of the others: peers and addresses, namespaces, groups. */
function peersFingerprint(ctx: PolicyContext, state: ClusterView): unknown[] {
  const out: unknown[] = [];
  const namespaces = new Set<string>();
  for (const peer of ctx.peerPods()) {
    out.push(peer.pod, peer.addresses.join(","));
    namespaces.add(peer.pod.namespace);
  }
  out.push("|");
  for (const ns of [...namespaces].sort(compare)) out.push(ns, state.namespace(ns));
  out.push("|", ...ctx.resources.securityGroupPolicies);
  out.push("|", [...ctx.resources.securityGroups.keys()].sort(compare).join(","));
  return out;
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

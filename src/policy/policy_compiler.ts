/**
 * {@linkcode compilePolicy} for a daemon that recompiles on every change: the same model, but a
 * pod whose inputs did not change keeps its compiled policy, the very same object, so that the
 * compile and the incremental render skip it. What the compiler keeps between runs:
 *
 * - the other pods as a {@linkcode PeerIndex}: every peer with its addresses, label and
 *   named-port indexes, group members, and the result of every selection a local pod's rules
 *   made, each updated pod by pod from the changes the caller passes (`changes`, a
 *   {@linkcode PolicyDelta}; without it, every pod is compared);
 * - the policy resources, read again only when an object other than a pod or namespace changed;
 * - per local pod, its compiled policy, its own inputs (its Pod object, the NetworkPolicies that
 *   select it, its security groups and their SecurityGroup objects, the service accounts'
 *   labels) and the reads of other pods its rules made (selections, group members, peers with a
 *   named port, namespaces: `peerReadToken`).
 *
 * A run updates the index (O(selections) per changed pod) and recomputes only the local pods
 * whose own inputs changed or whose reads the update reported as changed. A pod event that no
 * local pod's selection contains costs a few microseconds and changes no compiled policy, so the
 * render finds nothing to do. Objects of the cluster state are immutable and replaced on change,
 * and policies are parsed once per object, so comparing references is enough. Pure, apart from
 * what it keeps.
 * @module
 */
import type { Pod } from "../cluster/types.ts";
import type { OtherResource } from "../cluster/types.ts";
import {
  compileKeptLayers,
  type CompileOptions,
  finishModel,
  type KeptLayers,
  localPod,
  podPolicyOf,
} from "./compile.ts";
import type {
  LocalEndpoint,
  PendingEndpoint,
  PodPolicy,
  PolicyModel,
  PolicyProblem,
} from "./model.ts";
import { PeerIndex } from "./peer_index.ts";
import type { PolicyDelta } from "./policy_changes.ts";
import { type ClusterView, PolicyContext } from "./policy_context.ts";
import { type PolicyResources, readPolicyResources, updatePolicyResources } from "./resources.ts";

interface Entry {
  /** The pod object and the policy resources its own inputs were read from. */
  pod: Pod;
  resources: PolicyResources;
  own: unknown[];
  /** The problems of finding its groups (reported again when it is kept). */
  ownProblems: PolicyProblem[];
  /** The tokens of the reads of other pods its layers made. */
  reads: ReadonlySet<string>;
  /** Its layers with the rules they came from: what the next computation patches. */
  layers: KeptLayers;
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

/** Options of {@linkcode PolicyCompiler.compile}. */
export interface IncrementalCompileOptions extends CompileOptions {
  /**
   * What changed in `state` since the last compile (every change, from a
   * {@linkcode PolicyChanges} journal). Absent: every pod and policy is compared.
   */
  changes?: PolicyDelta | undefined;
}

/** Compiles models, keeping each pod's result while its inputs stay the same. */
export class PolicyCompiler {
  #entries = new Map<string, Entry>();
  /** Entry keys by endpoint object (an endpoint is replaced, never changed). */
  #keys = new WeakMap<LocalEndpoint, string>();
  #peers = new PeerIndex();
  #others: readonly OtherResource[] | undefined;
  #resources: PolicyResources | undefined;
  #serviceAccounts: { of: PolicyResources["serviceAccounts"]; text: string } | undefined;
  #stats: CompileStats = { computed: 0, reused: 0 };
  #compiled = false;

  /** What the last {@linkcode PolicyCompiler.compile} computed and reused. */
  get stats(): CompileStats {
    return { ...this.#stats };
  }

  /** Forgets everything kept (the next compile reads every pod and computes every pod). */
  clear(): void {
    this.#entries.clear();
    this.#compiled = false;
    this.#peers = new PeerIndex();
    this.#others = undefined;
    this.#resources = undefined;
  }

  /**
   * The model {@linkcode compilePolicy} would return for the same input. A compile that throws
   * forgets everything kept, since the changes it was passed are consumed.
   */
  compile(state: ClusterView, options: IncrementalCompileOptions): PolicyModel {
    try {
      return this.#compile(state, options);
    } catch (err) {
      this.clear();
      throw err;
    }
  }

  #compile(state: ClusterView, options: IncrementalCompileOptions): PolicyModel {
    // A fresh index (the first compile, or after clear()) has nothing to apply changes to.
    const changes = this.#compiled ? options.changes : undefined;
    this.#compiled = true;
    const resources = this.#resourcesOf(state, changes);
    const dirty = this.#peers.update(state, {
      endpoints: options.endpoints,
      resources,
      ...(changes !== undefined ? { pods: changes.pods, namespaces: changes.namespaces } : {}),
    });
    const ctx = new PolicyContext(state, {
      endpoints: options.endpoints,
      resources,
      peers: this.#peers,
    });
    const pods: PodPolicy[] = [];
    const pending: PendingEndpoint[] = [];
    const next = new Map<string, Entry>();
    const shapes = new Map<
      string,
      ReturnType<typeof ctx.capture<KeptLayers>> & {
        layers: Pick<PodPolicy, "egress" | "ingress">;
      }
    >();
    const stats: CompileStats = { computed: 0, reused: 0 };
    for (const ep of options.endpoints) {
      const found = localPod(ctx, ep);
      if ("pending" in found) {
        pending.push(found.pending);
        continue;
      }
      const pod = found.pod;
      const key = this.#keyOf(ep);
      const kept = next.get(key) ?? this.#entries.get(key);
      // Its own inputs are read from its Pod object and the policy resources alone: while both
      // are the same objects, they are the same, and are not read again (an unchanged pod costs
      // a few lookups, whatever the number of local pods).
      const same = kept !== undefined && kept.pod === pod && kept.resources === resources;
      const { own, problems: ownProblems } = same
        ? { own: kept.own, problems: kept.ownProblems }
        : this.#ownInputs(ctx, pod);
      if (same) { for (const p of ownProblems) ctx.report(p); }
      if (
        kept !== undefined && sameList(kept.own, own) &&
        (next.has(key) || !readsAny(kept.reads, dirty))
      ) {
        for (const p of kept.problems) ctx.report(p);
        pods.push(kept.policy);
        next.set(key, kept);
        stats.reused++;
        continue;
      }
      // Replicas on one node (same namespace, labels, service account and ports) have the same
      // layers: computed once per run. Not when a problem names the pod.
      const shape = JSON.stringify([
        pod.namespace,
        pod.labels,
        pod.serviceAccountName,
        pod.containers,
      ]);
      let computed = shapes.get(shape);
      if (computed === undefined) {
        const captured = ctx.capture(() => compileKeptLayers(ctx, pod, kept?.layers));
        computed = {
          ...captured,
          layers: {
            egress: captured.value.egress.map((l) => l.policy),
            ingress: captured.value.ingress.map((l) => l.policy),
          },
        };
        if (computed.problems.length === 0) shapes.set(shape, computed);
      }
      const { value: keptLayers, layers, problems, reads } = computed;
      const policy = podPolicyOf(ep, layers);
      next.set(key, {
        pod,
        resources,
        own,
        ownProblems,
        reads,
        layers: keptLayers,
        policy,
        problems,
      });
      pods.push(policy);
      stats.computed++;
    }
    this.#entries = next;
    this.#stats = stats;
    return finishModel(ctx, { pods, pending, logRate: options.logRate });
  }

  /** The policy resources: those kept, unless an object of theirs may have changed. */
  #resourcesOf(state: ClusterView, changes: PolicyDelta | undefined): PolicyResources {
    if (this.#resources !== undefined && changes !== undefined && !changes.resources) {
      return this.#resources;
    }
    const others = state.others();
    if (this.#resources === undefined || this.#others === undefined) {
      this.#resources = readPolicyResources(others);
    } else if (!sameList(others, this.#others)) {
      this.#resources = updatePolicyResources(
        { others: this.#others, resources: this.#resources },
        others,
      );
    }
    this.#others = others;
    return this.#resources;
  }

  /** The key of a local endpoint's entry (kept per endpoint object). */
  #keyOf(ep: LocalEndpoint): string {
    let key = this.#keys.get(ep);
    if (key === undefined) {
      key = `${ep.namespace}/${ep.name}/${ep.ifname}/${ep.ip}`;
      this.#keys.set(ep, key);
    }
    return key;
  }

  /**
   * What a pod's layers read of itself: its object, its selectors' results, its groups; with the
   * problems of finding its groups (reported, and part of the inputs).
   */
  #ownInputs(ctx: PolicyContext, pod: Pod): { own: unknown[]; problems: PolicyProblem[] } {
    // The problems of finding its groups are its own too: a result kept reports them again.
    const { groups, problems } = ctx.podGroups(pod);
    if (this.#serviceAccounts?.of !== ctx.resources.serviceAccounts) {
      this.#serviceAccounts = {
        of: ctx.resources.serviceAccounts,
        text: JSON.stringify([...ctx.resources.serviceAccounts]),
      };
    }
    const own = [
      pod,
      ...ctx.networkPoliciesFor(pod, "ingress"),
      "|",
      ...ctx.networkPoliciesFor(pod, "egress"),
      "|",
      ...groups,
      "|",
      ...groups.map((id) => ctx.resources.securityGroups.get(id)),
      "|",
      ...problems.map((p) => p.message),
      this.#serviceAccounts.text,
    ];
    return { own, problems };
  }
}

function readsAny(reads: ReadonlySet<string>, dirty: ReadonlySet<string>): boolean {
  if (dirty.size === 0 || reads.size === 0) return false;
  const [small, large] = reads.size < dirty.size ? [reads, dirty] : [dirty, reads];
  for (const token of small) if (large.has(token)) return true;
  return false;
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What the compiler, explain and status ask of the cluster, answered once per computation: the
 * policies (read and validated), which pods a selector picks, a pod's addresses, its security
 * groups (from the SecurityGroupPolicies that match it), the members of a group, and the
 * problems found along the way. Built from the cluster state and this node's endpoints; the
 * other pods come from a {@linkcode PeerIndex}, fresh or kept between computations (then the
 * caller updates it first), and every read of them is recorded as a token, so that a result kept
 * for later knows what it depends on. Pure.
 * @module
 */
import type { Pod } from "../cluster/types.ts";
import { problem } from "./_parse.ts";
import type { Direction, LocalEndpoint, PolicyProblem } from "./model.ts";
import type { NetworkPolicy } from "./network_policy.ts";
import {
  type ClusterView,
  PeerIndex,
  type PeerPod,
  peerReadToken,
  type PeerSelection,
  type PodGroups,
  sgpSelection,
} from "./peer_index.ts";
import { type Range, unionRanges } from "./ranges.ts";
import { networkPoliciesIn, type PolicyResources, readPolicyResources } from "./resources.ts";
import type { SecurityGroupPolicy } from "./security_group_policy.ts";
import { type LabelSelector, matchesSelector } from "./selector.ts";

export type { ClusterView, PeerPod };

/** Options of {@linkcode PolicyContext}. */
export interface PolicyContextOptions {
  /** This node's attachments; their addresses count as their pods' even before the state shows them. */
  endpoints?: readonly LocalEndpoint[];
  /** The policy resources of `state`, when the caller read them already. */
  resources?: PolicyResources;
  /**
   * The peers, kept between computations and already updated to `state`, `endpoints` and
   * `resources`. Absent: a fresh index over every pod.
   */
  peers?: PeerIndex;
}

/** The cluster as the policy layer sees it. Build one per computation; it caches. */
export class PolicyContext {
  /** The valid policies and the problems of reading them. */
  readonly resources: PolicyResources;
  readonly #state: ClusterView;
  readonly #peers: PeerIndex;
  readonly #problems = new Map<string, PolicyProblem>();
  readonly #unions = new Map<string, readonly Range[]>();
  #captured: PolicyProblem[] | undefined;
  #reads: Set<string> | undefined;

  /** Reads `state` (see {@linkcode PolicyContextOptions}). */
  constructor(state: ClusterView, options: PolicyContextOptions = {}) {
    this.#state = state;
    this.resources = options.resources ?? readPolicyResources(state.others());
    if (options.peers !== undefined) {
      this.#peers = options.peers;
    } else {
      this.#peers = new PeerIndex();
      this.#peers.update(state, { endpoints: options.endpoints ?? [], resources: this.resources });
    }
    for (const sgp of this.resources.securityGroupPolicies) {
      sgp.groupIds.forEach((id, i) => {
        if (!this.resources.securityGroups.has(id)) {
          this.report(problem(sgpRef(sgp), {
            severity: "unresolved",
            key: `spec.securityGroups.groupIds[${i}]`,
            text: `no SecurityGroup ${
              JSON.stringify(id)
            }: it counts as a group without rules until it exists, so the pods this policy selects are default-deny in the security-group layer but for what their other groups allow`,
          }));
        }
      });
    }
  }

  /** The pod `namespace/name`, if the cluster state has it. */
  pod(namespace: string, name: string): Pod | undefined {
    return this.#state.pod(namespace, name);
  }

  /** The addresses (`*IP` types) of node `name`; empty for a node the state does not hold. */
  nodeAddresses(name: string): string[] {
    return (this.#state.node(name)?.addresses ?? [])
      .filter((a) => a.type.endsWith("IP")).map((a) => a.address);
  }

  /** The pod behind an IPv4 address: a known pod's, or a local endpoint's. */
  podByIp(ip: string): Pod | undefined {
    return this.#peers.podByIp(ip);
  }

  /** A pod's IPv4 addresses (cluster state and local endpoints), as sorted integers. */
  addressesOf(pod: Pod): number[] {
    return this.#peers.addressesOf(pod);
  }

  /** Every pod that can be a peer: not host-network, not finished, with an IPv4 address. */
  peerPods(): readonly PeerPod[] {
    this.#read(peerReadToken({ type: "peers" }));
    return this.#peers.peers();
  }

  /** The peer pods with a container port named `name` for `protocol` (`TCP`, `UDP`, `SCTP`). */
  peersWithNamedPort(name: string, protocol: string): readonly PeerPod[] {
    this.#read(peerReadToken({ type: "namedPort", protocol, name }));
    return this.#peers.withNamedPort(name, protocol);
  }

  /**
   * Whether namespace `name` matches `selector`. A namespace the state does not hold (yet: its
   * watch may lag the pods' by its backoff) is known only by its name label; when the selector
   * needs more, the answer is `matchUnknown`.
   */
  namespaceMatches(name: string, selector: LabelSelector, matchUnknown: boolean): boolean {
    this.#read(peerReadToken({ type: "namespace", name }));
    return this.#peers.namespaceMatches(name, selector, matchUnknown);
  }

  /**
   * Peer pods matching `podSelector` (absent: all) in `namespace` when given, else in the
   * namespaces `namespaceSelector` matches (absent: all namespaces). `action` is the rule's: a
   * namespace whose labels are not known yet counts as matching for `deny` and as not matching
   * for `allow`, so a lagging Namespace never opens anything. In no particular order.
   */
  selectPods(selection: PeerSelection): readonly PeerPod[] {
    this.#read(peerReadToken({ type: "selection", key: this.#peers.selectionKey(selection) }));
    return this.#peers.select(selection);
  }

  /** NetworkPolicies of the pod's namespace that select it for `direction`. */
  networkPoliciesFor(pod: Pod, direction: Direction): NetworkPolicy[] {
    const type = direction === "ingress" ? "Ingress" : "Egress";
    return networkPoliciesIn(this.resources, pod.namespace).filter((np) =>
      np.policyTypes.includes(type) && matchesSelector(np.podSelector, pod.labels)
    );
  }

  /** The addresses of {@linkcode PolicyContext.selectPods}, as normalized ranges (kept). */
  selectedRanges(selection: PeerSelection): readonly Range[] {
    this.#read(peerReadToken({ type: "selection", key: this.#peers.selectionKey(selection) }));
    return this.#peers.selectedRanges(selection);
  }

  /** The addresses of {@linkcode PolicyContext.membersOf}, as normalized ranges (kept). */
  memberRanges(id: string): readonly Range[] {
    this.#readMembers(id);
    for (const p of this.#peers.groupProblems()) this.report(p);
    return this.#peers.memberRanges(id);
  }

  /**
   * The union of normalized range lists (a rule's peers), normalized. The same lists, by identity,
   * give the same array during one computation: rules that read the same selections (many
   * policies admitting one team's pods) share one address list, which the flatten sweeps once.
   */
  unionOf(lists: readonly (readonly Range[])[]): readonly Range[] {
    if (lists.length === 1) return lists[0]!;
    const key = lists.map(listId).join(",");
    let union = this.#unions.get(key);
    if (union === undefined) {
      union = unionRanges(lists);
      this.#unions.set(key, union);
    }
    return union;
  }

  /** Whether `sgp` selects `pod`: same namespace, and every selector it has matches. */
  sgpSelects(sgp: SecurityGroupPolicy, pod: Pod): boolean {
    const { selects, problem } = sgpSelection(sgp, { pod, resources: this.resources });
    if (problem !== undefined) this.report(problem);
    return selects;
  }

  /** The security group ids of the pod (all its matching SGPs' groups, sorted, no repeats). */
  groupsOf(pod: Pod): string[] {
    return this.podGroups(pod).groups;
  }

  /** {@linkcode PolicyContext.groupsOf} with the problems met finding them (reported too). */
  podGroups(pod: Pod): PodGroups {
    const found = this.#peers.groupsOf(pod);
    for (const p of found.problems) this.report(p);
    return found;
  }

  /** Whether any SecurityGroupPolicy lists `id` or a SecurityGroup is called `id`. */
  isKnownGroup(id: string): boolean {
    this.#read(peerReadToken({ type: "groups" }));
    return this.resources.securityGroups.has(id) ||
      this.resources.securityGroupPolicies.some((sgp) => sgp.groupIds.includes(id));
  }

  /** The peer pods in group `id`, in no particular order. */
  membersOf(id: string): readonly PeerPod[] {
    this.#readMembers(id);
    const { members, problems } = this.#peers.membersOf(id);
    for (const p of problems) this.report(p);
    return members;
  }

  /** Records the reads of group `id`'s members (and of the problems finding them meets). */
  #readMembers(id: string): void {
    this.#read(peerReadToken({ type: "groups" }));
    this.#read(peerReadToken({ type: "members", group: id }));
    this.#read(peerReadToken({ type: "groupProblems" }));
  }

  /** Records a problem once (the same message is kept once). */
  report(found: PolicyProblem): void {
    this.#captured?.push(found);
    if (!this.#problems.has(found.message)) this.#problems.set(found.message, found);
  }

  /**
   * Runs `fn` and returns its value with every problem reported while it ran, repeats of
   * problems reported earlier included (so a result kept for later can report them again), and
   * the tokens of the reads of other pods it made (see `peerReadToken`).
   */
  capture<T>(fn: () => T): { value: T; problems: PolicyProblem[]; reads: Set<string> } {
    const outer = this.#captured;
    const outerReads = this.#reads;
    const problems: PolicyProblem[] = [];
    const reads = new Set<string>();
    this.#captured = problems;
    this.#reads = reads;
    try {
      return { value: fn(), problems, reads };
    } finally {
      this.#captured = outer;
      this.#reads = outerReads;
      outer?.push(...problems);
      if (outerReads !== undefined) { for (const read of reads) outerReads.add(read); }
    }
  }

  #read(token: string): void {
    this.#reads?.add(token);
  }

  /** Every problem: reading the resources, then those found while computing, without repeats. */
  problems(): PolicyProblem[] {
    const out = new Map<string, PolicyProblem>();
    for (const p of [...this.resources.problems, ...this.#problems.values()]) {
      if (!out.has(p.message)) out.set(p.message, p);
    }
    return [...out.values()];
  }
}

function sgpRef(sgp: SecurityGroupPolicy) {
  return { kind: sgp.kind, namespace: sgp.namespace, name: sgp.name };
}

/** A number per range list, by identity, for {@linkcode PolicyContext.unionOf}'s keys. */
const listIds = new WeakMap<readonly Range[], number>();
let nextListId = 0;

function listId(list: readonly Range[]): number {
  let id = listIds.get(list);
  if (id === undefined) listIds.set(list, id = nextListId++);
  return id;
}

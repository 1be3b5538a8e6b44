/**
 * What the compiler, explain and status ask of the cluster, answered once per computation: the
 * policies (read and validated), which pods a selector picks, a pod's addresses, its security
 * groups (from the SecurityGroupPolicies that match it), the members of a group, and the
 * problems found along the way. Built from the cluster state and this node's endpoints. Pure.
 * @module
 */
import { isIp, parseIp } from "../cidr.ts";
import { NAMESPACE_NAME_LABEL } from "../cluster/manifest.ts";
import type { ClusterState } from "../cluster/state.ts";
import type { Pod } from "../cluster/types.ts";
import { problem } from "./_parse.ts";
import type { Direction, LocalEndpoint, PolicyProblem } from "./model.ts";
import type { NetworkPolicy } from "./network_policy.ts";
import { compare, type PolicyResources, readPolicyResources } from "./resources.ts";
import type { SecurityGroupPolicy } from "./security_group_policy.ts";
import {
  isEmptySelector,
  type LabelSelector,
  matchesSelector,
  matchesSelectorKnowing,
} from "./selector.ts";

/** The reads the policy layer makes of the cluster state. */
export type ClusterView = Pick<
  ClusterState,
  "pods" | "pod" | "podIPs" | "podByIp" | "namespace" | "others" | "node"
>;

/** A pod that can be a peer, with its IPv4 addresses as integers (sorted). */
export interface PeerPod {
  pod: Pod;
  addresses: number[];
}

const TERMINATED = new Set(["Succeeded", "Failed"]);

/** What is certain of a namespace the state does not hold (yet): its name label. */
const KNOWN_WITHOUT_NAMESPACE: ReadonlySet<string> = new Set([NAMESPACE_NAME_LABEL]);

/** The cluster as the policy layer sees it. Build one per computation; it caches. */
export class PolicyContext {
  /** The valid policies and the problems of reading them. */
  readonly resources: PolicyResources;
  readonly #state: ClusterView;
  readonly #extra = new Map<string, string[]>();
  readonly #peers: PeerPod[];
  readonly #selections = new Map<string, PeerPod[]>();
  /**
   * Label key → value → the peer pods with that label, to start selections from; a key is
   * indexed when a selector first asks for it (selectors read a few keys; pods carry many).
   */
  readonly #byLabel = new Map<string, Map<string, PeerPod[]>>();
  readonly #groups = new Map<string, string[]>();
  readonly #problems = new Map<string, PolicyProblem>();
  #captured: PolicyProblem[] | undefined;
  #peerReads = 0;

  /**
   * `options.endpoints`: this node's attachments; their addresses count as their pods'
   * addresses even before the cluster state shows them.
   */
  constructor(state: ClusterView, options: { endpoints?: readonly LocalEndpoint[] } = {}) {
    this.#state = state;
    this.resources = readPolicyResources(state.others());
    for (const ep of options.endpoints ?? []) {
      const key = `${ep.namespace}/${ep.name}`;
      this.#extra.set(key, [...(this.#extra.get(key) ?? []), ep.ip]);
    }
    const peers: PeerPod[] = [];
    for (const pod of state.pods()) {
      if (pod.hostNetwork || TERMINATED.has(pod.phase ?? "")) continue;
      const addresses = this.addressesOf(pod);
      if (addresses.length > 0) peers.push({ pod, addresses });
    }
    this.#peers = peers;
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
    const known = this.#state.podByIp(ip);
    if (known !== undefined) return known;
    for (const [key, ips] of this.#extra) {
      if (!ips.includes(ip)) continue;
      const slash = key.indexOf("/");
      return this.#state.pod(key.slice(0, slash), key.slice(slash + 1));
    }
    return undefined;
  }

  /** A pod's IPv4 addresses (cluster state and local endpoints), as sorted integers. */
  addressesOf(pod: Pod): number[] {
    // Once per pod per computation: no copies, one parse per address.
    const known = this.#state.podIPs(pod);
    const extra = this.#extra.size > 0
      ? this.#extra.get(`${pod.namespace}/${pod.name}`)
      : undefined;
    const out: number[] = [];
    for (const texts of extra === undefined ? [known] : [known, extra]) {
      for (const text of texts) {
        if (text.includes(":") || !isIp(text)) continue;
        const n = parseIp(text);
        if (!out.includes(n)) out.push(n);
      }
    }
    return out.length > 1 ? out.sort((a, b) => a - b) : out;
  }

  /** Every pod that can be a peer: not host-network, not finished, with an IPv4 address. */
  peerPods(): readonly PeerPod[] {
    this.#peerReads++;
    return this.#peers;
  }

  /**
   * How many times other pods were read so far (selections, group members, every peer, namespace
   * labels, group names): a computation during which it did not grow depended on no other pod.
   */
  get peerReads(): number {
    return this.#peerReads;
  }

  /**
   * Whether namespace `name` matches `selector`. A namespace the state does not hold (yet: its
   * watch may lag the pods' by its backoff) is known only by its name label; when the selector
   * needs more, the answer is `matchUnknown`.
   */
  namespaceMatches(name: string, selector: LabelSelector, matchUnknown: boolean): boolean {
    this.#peerReads++;
    const namespace = this.#state.namespace(name);
    if (namespace !== undefined) return matchesSelector(selector, namespace.labels);
    return matchesSelectorKnowing(
      selector,
      { [NAMESPACE_NAME_LABEL]: name },
      KNOWN_WITHOUT_NAMESPACE,
    ) ?? matchUnknown;
  }

  /**
   * Peer pods matching `podSelector` (absent: all) in `namespace` when given, else in the
   * namespaces `namespaceSelector` matches (absent: all namespaces). `action` is the rule's: a
   * namespace whose labels are not known yet counts as matching for `deny` and as not matching
   * for `allow`, so a lagging Namespace never opens anything.
   */
  selectPods(
    selection: {
      action: "allow" | "deny";
      namespace?: string;
      podSelector?: LabelSelector;
      namespaceSelector?: LabelSelector;
    },
  ): readonly PeerPod[] {
    this.#peerReads++;
    const key = JSON.stringify([
      selection.action,
      selection.namespace ?? null,
      selection.podSelector ?? null,
      selection.namespaceSelector ?? null,
    ]);
    let out = this.#selections.get(key);
    if (out === undefined) {
      const { namespace, podSelector, namespaceSelector } = selection;
      const matchUnknown = selection.action === "deny";
      const namespaces = new Map<string, boolean>();
      const inNamespace = (ns: string) => {
        if (namespace !== undefined) return ns === namespace;
        if (namespaceSelector === undefined || isEmptySelector(namespaceSelector)) return true;
        let yes = namespaces.get(ns);
        if (yes === undefined) {
          yes = this.namespaceMatches(ns, namespaceSelector, matchUnknown);
          namespaces.set(ns, yes);
        }
        return yes;
      };
      out = this.#candidates(podSelector).filter(({ pod }) =>
        inNamespace(pod.namespace) &&
        (podSelector === undefined || matchesSelector(podSelector, pod.labels))
      );
      this.#selections.set(key, out);
    }
    return out;
  }

  /** The peer pods that can match `selector`: those with its rarest `matchLabels` label, or all. */
  #candidates(selector: LabelSelector | undefined): readonly PeerPod[] {
    let best: readonly PeerPod[] = this.#peers;
    for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
      const list = this.#labelIndex(key).get(value) ?? [];
      if (list.length < best.length) best = list;
    }
    return best;
  }

  /** Value → peer pods, for one label key, built on first use. */
  #labelIndex(key: string): Map<string, PeerPod[]> {
    let index = this.#byLabel.get(key);
    if (index === undefined) {
      index = new Map();
      for (const peer of this.#peers) {
        if (!Object.hasOwn(peer.pod.labels, key)) continue;
        const value = peer.pod.labels[key]!;
        const list = index.get(value);
        if (list) list.push(peer);
        else index.set(value, [peer]);
      }
      this.#byLabel.set(key, index);
    }
    return index;
  }

  /** NetworkPolicies of the pod's namespace that select it for `direction`. */
  networkPoliciesFor(pod: Pod, direction: Direction): NetworkPolicy[] {
    const type = direction === "ingress" ? "Ingress" : "Egress";
    return this.resources.networkPolicies.filter((np) =>
      np.namespace === pod.namespace && np.policyTypes.includes(type) &&
      matchesSelector(np.podSelector, pod.labels)
    );
  }

  /** Whether `sgp` selects `pod`: same namespace, and every selector it has matches. */
  sgpSelects(sgp: SecurityGroupPolicy, pod: Pod): boolean {
    if (sgp.namespace !== pod.namespace) return false;
    if (sgp.podSelector !== undefined && !matchesSelector(sgp.podSelector, pod.labels)) {
      return false;
    }
    const sa = sgp.serviceAccountSelector;
    if (sa === undefined) return true;
    if (sa.matchNames !== undefined && !sa.matchNames.includes(pod.serviceAccountName)) {
      return false;
    }
    if (isEmptySelector(sa.selector)) return true;
    const labels = this.resources.serviceAccounts.get(`${pod.namespace}/${pod.serviceAccountName}`);
    if (labels === undefined) {
      this.report(problem(sgpRef(sgp), {
        severity: "unresolved",
        key: "spec.serviceAccountSelector",
        text:
          `ServiceAccount "${pod.namespace}/${pod.serviceAccountName}" is not in the cluster state: its labels are taken as empty`,
      }));
    }
    return matchesSelector(sa.selector, labels ?? {});
  }

  /** The security group ids of the pod (all its matching SGPs' groups, sorted, no repeats). */
  groupsOf(pod: Pod): string[] {
    const key = `${pod.namespace}/${pod.name}`;
    let groups = this.#groups.get(key);
    if (groups === undefined) {
      const set = new Set<string>();
      for (const sgp of this.resources.securityGroupPolicies) {
        if (this.sgpSelects(sgp, pod)) { for (const id of sgp.groupIds) set.add(id); }
      }
      groups = [...set].sort(compare);
      this.#groups.set(key, groups);
    }
    return groups;
  }

  /** Whether any SecurityGroupPolicy lists `id` or a SecurityGroup is called `id`. */
  isKnownGroup(id: string): boolean {
    this.#peerReads++;
    return this.resources.securityGroups.has(id) ||
      this.resources.securityGroupPolicies.some((sgp) => sgp.groupIds.includes(id));
  }

  /** The peer pods in group `id`. */
  membersOf(id: string): PeerPod[] {
    this.#peerReads++;
    return this.#peers.filter(({ pod }) => this.groupsOf(pod).includes(id));
  }

  /** Records a problem once (the same message is kept once). */
  report(found: PolicyProblem): void {
    this.#captured?.push(found);
    if (!this.#problems.has(found.message)) this.#problems.set(found.message, found);
  }

  /**
   * Runs `fn` and returns its value with every problem reported while it ran, repeats of
   * problems reported earlier included (so a result kept for later can report them again).
   */
  capture<T>(fn: () => T): { value: T; problems: PolicyProblem[] } {
    const outer = this.#captured;
    const problems: PolicyProblem[] = [];
    this.#captured = problems;
    try {
      return { value: fn(), problems };
    } finally {
      this.#captured = outer;
      outer?.push(...problems);
    }
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

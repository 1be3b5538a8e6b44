/**
 * The policy decision model: what the compiler produces from cluster state and what the
 * renderer, the incremental diff, the counters and explain all read. For each local pod and
 * direction, each policy layer that applies is a list of non-overlapping boxes (peer addresses ×
 * protocol × ports, or peer addresses × ICMP type × code), each naming the rule that decides it;
 * what no box covers is the layer's default deny. Plain data (JSON-serializable), types only.
 * @module
 */
import type { Range } from "./ranges.ts";

/** The policy kinds tern reads. */
export type PolicyKind = "NetworkPolicy" | "SecurityGroupPolicy" | "SecurityGroup";

/** Which policy: kind, namespace (absent for the cluster-scoped SecurityGroup) and name. */
export interface PolicyRef {
  kind: PolicyKind;
  namespace?: string;
  name: string;
}

/** A traffic direction, seen from the pod the policy applies to. */
export type Direction = "ingress" | "egress";

/** The two layers; a packet passes only if both allow it. */
export type Layer = "securityGroup" | "networkPolicy";

/** One rule of a policy: the policy, the direction list it is in and its 0-based index there. */
export interface RuleRef extends PolicyRef {
  kind: "NetworkPolicy" | "SecurityGroup";
  direction: Direction;
  index: number;
  /** The SecurityGroup rule's priority (lower first); absent for NetworkPolicy rules. */
  priority?: number;
  action: "allow" | "deny";
}

/** Why a policy is not (fully) enforced. */
export interface PolicyProblem {
  policy: PolicyRef;
  /**
   * `invalid`: rejected whole, not enforced. `unsupported`: a part tern cannot enforce (an IPv6
   * peer), left out; the rest is enforced. `unresolved`: a reference that names nothing (a
   * named port no container has, a security group with no SecurityGroup resource), reported
   * and matching nothing; the rest is enforced.
   */
  severity: "invalid" | "unsupported" | "unresolved";
  /** The field's key path (`spec.ingress[0].ports[1].port`); empty for the whole object. */
  key: string;
  /** One line for the operator, naming the policy, the field and the value. */
  message: string;
}

/**
 * One box of a layer's decision: every packet whose peer address, protocol and port (or ICMP
 * type and code) fall inside it is decided by `rule`. Boxes of one layer never overlap.
 */
export interface Box {
  /** `l4`: protocol × destination port (never ICMP); `icmp`: ICMP type × code. */
  space: "l4" | "icmp";
  /** Peer addresses (the source for ingress, the destination for egress), IPv4 as integers. */
  addresses: Range;
  /** Protocol numbers (`l4`) or ICMP types (`icmp`). */
  first: Range;
  /** Destination ports (`l4`) or ICMP codes (`icmp`). */
  second: Range;
  rule: RuleRef;
}

/** One layer of a pod's policy for one direction. */
export interface LayerPolicy {
  layer: Layer;
  /** Sorted by space, addresses, then the other two keys. */
  boxes: Box[];
  /**
   * The policies that apply to the pod in this layer, whether or not their rules have boxes:
   * security group ids, or NetworkPolicies as `namespace/name`, sorted and joined by commas. What
   * names the maps replicas share (`shared_layer_maps.ts`), so a peer set that empties or fills
   * does not rename them. Absent in models made by hand: the policies of the boxes' rules then.
   */
  sources?: string;
}

/** A local pod attachment with its compiled policy. */
export interface PodPolicy {
  /** 12 hex digits, stable for (namespace, name, ifname): names the pod's chains and maps. */
  id: string;
  namespace: string;
  name: string;
  /** The host-side veth. */
  ifname: string;
  /** The attachment's IPv4 address. */
  ip: string;
  /** The layers that apply to traffic the pod sends, in evaluation order; empty: unaffected. */
  egress: LayerPolicy[];
  /** The layers that apply to traffic the pod receives, in evaluation order; empty: unaffected. */
  ingress: LayerPolicy[];
}

/** A pod attachment on this node, as the daemon knows it. */
export interface LocalEndpoint {
  /** The pod's namespace and name (from `K8S_POD_NAMESPACE`/`K8S_POD_NAME`). */
  namespace: string;
  name: string;
  /** The host-side veth (`tern` + 11 hex digits). */
  ifname: string;
  /** The attachment's IPv4 address. */
  ip: string;
}

/** An endpoint whose policy cannot be computed yet: its veth stays closed. */
export interface PendingEndpoint extends LocalEndpoint {
  reason: string;
}

/** Everything the renderer needs for one node. */
export interface PolicyModel {
  /** Local attachments with their policy, by id. */
  pods: PodPolicy[];
  /** Local attachments whose policy is not known: not in the `ready` set, so all dropped. */
  pending: PendingEndpoint[];
  /** Problems found while compiling, deduplicated, by policy. */
  problems: PolicyProblem[];
  /** Log lines per second per drop rule; 0 disables logging. */
  logRate: number;
}

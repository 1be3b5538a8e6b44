/**
 * The compiler: cluster state and this node's endpoints → the decision model. For each local
 * pod and direction, each layer that applies becomes non-overlapping boxes (see
 * {@linkcode flattenFirstMatch}):
 *
 * - security groups: a pod in one or more groups is decided by all its groups' rules for the
 *   direction, by priority (lower first), deny before allow at equal priority, then group id and
 *   rule index; the first match decides, no match is denied. A group without a SecurityGroup
 *   resource has no rules, so a pod whose only groups are such is denied everything;
 * - NetworkPolicy: a pod selected by one or more policies for the direction is allowed what
 *   any of their rules allows (the boxes name the first such rule, by policy and index) and
 *   denied the rest.
 *
 * Peers resolve to the IPv4 addresses of pods (not host-network, not finished). Named ports
 * resolve on the receiving pod for ingress and on each peer pod for egress. Pure.
 * @module
 */
import type { Pod } from "../cluster/types.ts";
import { shortHash } from "./_hash.ts";
import { problem } from "./_parse.ts";
import {
  type BoxAdapter,
  type FlatBox,
  flattenFirstMatch,
  type MatchTerm,
  type OrderedRule,
  patchFirstMatch,
} from "./flatten.ts";
import type {
  Box,
  Direction,
  LayerPolicy,
  LocalEndpoint,
  PendingEndpoint,
  PodPolicy,
  PolicyModel,
  RuleRef,
} from "./model.ts";
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyRule } from "./network_policy.ts";
import { type ClusterView, PolicyContext } from "./policy_context.ts";
import {
  ALL_ADDRESSES,
  ALL_PORTS,
  cidrRange,
  intersectRanges,
  normalizeRanges,
  type Range,
  subtractRanges,
} from "./ranges.ts";
import { compare } from "./resources.ts";
import type { SecurityGroup, SecurityGroupPeer, SecurityGroupRule } from "./security_group.ts";

/** IANA protocol numbers of the protocols policies name. */
export const PROTOCOL_NUMBERS = { icmp: 1, tcp: 6, udp: 17, sctp: 132 } as const;

/** The default for `logRate`: log lines per second per drop rule. */
export const DEFAULT_LOG_RATE = 5;

/** Each port protocol's number as a range, shared by the boxes of its rules. */
const PROTOCOL_RANGES: Record<"tcp" | "udp" | "sctp", Range> = {
  tcp: [PROTOCOL_NUMBERS.tcp, PROTOCOL_NUMBERS.tcp],
  udp: [PROTOCOL_NUMBERS.udp, PROTOCOL_NUMBERS.udp],
  sctp: [PROTOCOL_NUMBERS.sctp, PROTOCOL_NUMBERS.sctp],
};

/** Every protocol but ICMP (which has its own space), every port. */
const ALL_L4: ReadonlyArray<readonly [Range, Range]> = [[[0, 0], ALL_PORTS], [[2, 255], ALL_PORTS]];
/** Every ICMP type and code. */
const ALL_ICMP: ReadonlyArray<readonly [Range, Range]> = [[[0, 255], [0, 255]]];

/** Options of {@linkcode compilePolicy}. */
export interface CompileOptions {
  /** This node's pod attachments. */
  endpoints: readonly LocalEndpoint[];
  /** Log lines per second per drop rule (default {@linkcode DEFAULT_LOG_RATE}); 0: no logging. */
  logRate?: number;
}

/**
 * The decision model for this node's `endpoints`. An endpoint whose pod is not in the cluster
 * state is `pending` (its veth stays closed) until it is.
 */
export function compilePolicy(state: ClusterView, options: CompileOptions): PolicyModel {
  const ctx = new PolicyContext(state, { endpoints: options.endpoints });
  const pods: PodPolicy[] = [];
  const pending: PendingEndpoint[] = [];
  for (const ep of options.endpoints) {
    const found = localPod(ctx, ep);
    if ("pending" in found) pending.push(found.pending);
    else pods.push(podPolicyOf(ep, compilePodLayers(ctx, found.pod)));
  }
  return finishModel(ctx, { pods, pending, logRate: options.logRate });
}

/**
 * The Pod behind a local endpoint, or the endpoint as pending: its Pod is not in cluster state,
 * or is host-network there. Shared by {@linkcode compilePolicy} and `PolicyCompiler`.
 */
export function localPod(
  ctx: PolicyContext,
  ep: LocalEndpoint,
): { pod: Pod } | { pending: PendingEndpoint } {
  const pod = ctx.pod(ep.namespace, ep.name);
  if (pod !== undefined && !pod.hostNetwork) return { pod };
  return {
    pending: {
      ...ep,
      reason: pod === undefined
        ? "pod not in cluster state"
        : "pod is host-network in cluster state",
    },
  };
}

/** A local endpoint's compiled policy, named by {@linkcode podPolicyId}. */
export function podPolicyOf(
  ep: LocalEndpoint,
  layers: Pick<PodPolicy, "ingress" | "egress">,
): PodPolicy {
  return {
    id: podPolicyId(ep.namespace, ep.name, ep.ifname),
    namespace: ep.namespace,
    name: ep.name,
    ifname: ep.ifname,
    ip: ep.ip,
    ...layers,
  };
}

/** The model: pods and pending endpoints in a stable order, the problems met, the log rate. */
export function finishModel(
  ctx: PolicyContext,
  parts: { pods: PodPolicy[]; pending: PendingEndpoint[]; logRate: number | undefined },
): PolicyModel {
  const byPod = (
    a: { namespace: string; name: string; ifname: string },
    b: typeof a,
  ) => compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.ifname, b.ifname);
  return {
    pods: parts.pods.sort(byPod),
    pending: parts.pending.sort(byPod),
    problems: ctx.problems(),
    logRate: parts.logRate ?? DEFAULT_LOG_RATE,
  };
}

/** The id that names a pod attachment's chains and maps: 12 hex digits. */
export function podPolicyId(namespace: string, name: string, ifname: string): string {
  return shortHash(`${namespace}/${name}/${ifname}`);
}

/** The layers that apply to `pod` in each direction, in evaluation order (security groups first). */
export function compilePodLayers(
  ctx: PolicyContext,
  pod: Pod,
): { egress: LayerPolicy[]; ingress: LayerPolicy[] } {
  const { egress, ingress } = compileKeptLayers(ctx, pod);
  return { egress: egress.map((l) => l.policy), ingress: ingress.map((l) => l.policy) };
}

/** A layer's policy with the rules it was flattened from, kept to patch the next one. */
export interface KeptLayer {
  policy: LayerPolicy;
  rules: readonly OrderedRule<RuleRef>[];
}

/** A pod's layers in each direction, as {@linkcode compileKeptLayers} returns and takes them. */
export interface KeptLayers {
  egress: KeptLayer[];
  ingress: KeptLayer[];
}

/**
 * {@linkcode compilePodLayers}, each layer with its rules, computed from `previous` (the same
 * pod's layers of an earlier compile) where it can be: a layer whose rules changed only in some
 * addresses (a peer that came or went, a policy's ipBlock) is patched there
 * ({@linkcode patchFirstMatch}) instead of flattened again, which costs the change instead of
 * every peer of the selections it reads. The boxes are those a flatten would give.
 */
export function compileKeptLayers(
  ctx: PolicyContext,
  pod: Pod,
  previous?: KeptLayers,
): KeptLayers {
  const rules = compilePodRules(ctx, pod);
  const layersOf = (layers: LayerRules[], before: readonly KeptLayer[] = []): KeptLayer[] =>
    layers.map(({ layer, rules, sources }) => {
      const kept = before.find((k) => k.policy.layer === layer);
      const patch = kept === undefined
        ? undefined
        : patchFirstMatch({ rules: kept.rules, boxes: kept.policy.boxes }, rules, BOXES);
      if (patch === undefined) {
        return { policy: { layer, boxes: toBoxes(rules), sources }, rules };
      }
      const policy = patch.boxes === kept!.policy.boxes && kept!.policy.sources === sources
        ? kept!.policy
        : { layer, boxes: patch.boxes as Box[], sources };
      return { policy, rules: patch.rules };
    });
  return {
    egress: layersOf(rules.egress, previous?.egress),
    ingress: layersOf(rules.ingress, previous?.ingress),
  };
}

/** How a patch reads and makes the model's boxes; a rule is known by all its label's fields. */
const BOXES: BoxAdapter<RuleRef, Box> = {
  label: (box) => box.rule,
  make: (b) => ({
    space: b.space,
    addresses: b.addresses,
    first: b.first,
    second: b.second,
    rule: b.label,
  }),
  key: (rule) =>
    `${rule.kind}/${
      rule.namespace ?? ""
    }/${rule.name}/${rule.direction}/${rule.index}/${rule.action}/${rule.priority ?? ""}`,
};

/** One layer's ordered rules, before {@linkcode flattenFirstMatch}. */
export interface LayerRules {
  layer: LayerPolicy["layer"];
  rules: OrderedRule<RuleRef>[];
  /** {@linkcode LayerPolicy.sources}: the policies that apply, with rules or not. */
  sources: string;
}

/**
 * The ordered rules of the layers that apply to `pod` in each direction, not flattened: what
 * {@linkcode compilePodLayers} reads and reports (its problems, to `ctx`) at a fraction of the
 * cost, for `tern policy status`.
 */
export function compilePodRules(
  ctx: PolicyContext,
  pod: Pod,
): { egress: LayerRules[]; ingress: LayerRules[] } {
  const layersFor = (direction: Direction): LayerRules[] => {
    const out: LayerRules[] = [];
    const ids = ctx.groupsOf(pod);
    if (ids.length > 0) {
      // A group without a SecurityGroup (not arrived yet, deleted and recreated) adds no rules:
      // a pod whose only groups are such is default-deny, as AWS fails closed.
      const groups = ids
        .map((id) => ctx.resources.securityGroups.get(id))
        .filter((g): g is SecurityGroup => g !== undefined);
      out.push({
        layer: "securityGroup",
        rules: securityGroupRules(ctx, { groups, direction }),
        sources: [...ids].sort(compare).join(","),
      });
    }
    const policies = ctx.networkPoliciesFor(pod, direction);
    if (policies.length > 0) {
      out.push({
        layer: "networkPolicy",
        rules: networkPolicyRules(ctx, { policies, direction, pod }),
        sources: policies.map((np) => `${np.namespace}/${np.name}`).sort(compare).join(","),
      });
    }
    return out;
  };
  return { egress: layersFor("egress"), ingress: layersFor("ingress") };
}

function toBoxes(rules: OrderedRule<RuleRef>[]): Box[] {
  return flattenFirstMatch(rules).map((b: FlatBox<RuleRef>) => ({
    space: b.space,
    addresses: b.addresses,
    first: b.first,
    second: b.second,
    rule: b.label,
  }));
}

// ---- security groups ---------------------------------------------------------------------------

function securityGroupRules(
  ctx: PolicyContext,
  at: { groups: SecurityGroup[]; direction: Direction },
): OrderedRule<RuleRef>[] {
  const { groups, direction } = at;
  const all: { group: SecurityGroup; rule: SecurityGroupRule; index: number }[] = [];
  for (const group of groups) {
    group[direction].forEach((rule, index) => all.push({ group, rule, index }));
  }
  all.sort((a, b) =>
    a.rule.priority - b.rule.priority ||
    (a.rule.action === b.rule.action ? 0 : a.rule.action === "deny" ? -1 : 1) ||
    compare(a.group.name, b.group.name) || a.index - b.index
  );
  const out: OrderedRule<RuleRef>[] = new Array(all.length);
  for (let i = 0; i < all.length; i++) {
    const { group, rule, index } = all[i]!;
    out[i] = {
      label: {
        kind: "SecurityGroup",
        name: group.name,
        direction,
        index,
        priority: rule.priority,
        action: rule.action,
      },
      terms: [securityGroupTerm(ctx, group, { rule, index, direction })],
    };
  }
  return out;
}

function securityGroupTerm(
  ctx: PolicyContext,
  group: SecurityGroup,
  at: { rule: SecurityGroupRule; index: number; direction: Direction },
): MatchTerm {
  const { rule, index, direction } = at;
  const peersKey = direction === "ingress" ? "from" : "to";
  const peers = rule.peers;
  const addresses = peers.length === 0
    ? [ALL_ADDRESSES]
    // One CIDR peer (the bulk of a large group) is already normalized.
    : peers.length === 1 && peers[0]!.type === "cidr"
    ? cidrPeer(peers[0]!.cidr, peers[0]!.except)
    : ctx.unionOf(
      peers.map((peer, j) =>
        securityGroupPeer(ctx, peer, {
          group,
          action: rule.action,
          key: () => `spec.${direction}[${index}].${peersKey}[${j}]`,
        })
      ),
    );
  switch (rule.protocol) {
    case "all":
      return { addresses, l4: ALL_L4, icmp: ALL_ICMP };
    case "icmp": {
      const type: Range = rule.icmp ? [rule.icmp.type, rule.icmp.type] : [0, 255];
      const code: Range = rule.icmp?.code !== undefined
        ? [rule.icmp.code, rule.icmp.code]
        : [0, 255];
      return { addresses, l4: [], icmp: [[type, code]] };
    }
    default: {
      const protocol = PROTOCOL_RANGES[rule.protocol];
      const ports = rule.ports.length === 0
        ? [ALL_PORTS]
        : rule.ports.length === 1
        ? rule.ports
        : normalizeRanges(rule.ports);
      return {
        addresses,
        l4: ports.map((p) => [protocol, p] as const),
        icmp: [],
      };
    }
  }
}

function securityGroupPeer(
  ctx: PolicyContext,
  peer: SecurityGroupPeer,
  at: { group: SecurityGroup; action: "allow" | "deny"; key: () => string },
): readonly Range[] {
  switch (peer.type) {
    case "cidr":
      return cidrPeer(peer.cidr, peer.except);
    case "securityGroup":
      if (!ctx.isKnownGroup(peer.securityGroup)) {
        ctx.report(problem({ kind: "SecurityGroup", name: at.group.name }, {
          severity: "unresolved",
          key: `${at.key()}.securityGroup`,
          text: `no SecurityGroup or SecurityGroupPolicy names the group ${
            JSON.stringify(peer.securityGroup)
          }: this peer matches nothing`,
        }));
      }
      return ctx.memberRanges(peer.securityGroup);
    case "pods": {
      const selection: Parameters<PolicyContext["selectPods"]>[0] = { action: at.action };
      if (peer.podSelector) selection.podSelector = peer.podSelector;
      if (peer.namespaceSelector) selection.namespaceSelector = peer.namespaceSelector;
      return ctx.selectedRanges(selection);
    }
    case "serviceAccount":
      return pointRanges(
        ctx.selectPods({ action: at.action, namespace: peer.namespace })
          .filter(({ pod }) => pod.serviceAccountName === peer.name)
          .flatMap((p) => p.addresses),
      );
  }
}

// ---- NetworkPolicy -----------------------------------------------------------------------------

function networkPolicyRules(
  ctx: PolicyContext,
  at: { policies: NetworkPolicy[]; direction: Direction; pod: Pod },
): OrderedRule<RuleRef>[] {
  const { policies, direction, pod } = at;
  const out: OrderedRule<RuleRef>[] = [];
  for (const policy of policies) {
    policy[direction].forEach((rule, index) => {
      out.push({
        label: {
          kind: "NetworkPolicy",
          namespace: policy.namespace,
          name: policy.name,
          direction,
          index,
          action: "allow",
        },
        terms: networkPolicyTerms(ctx, { policy, rule, index, direction, pod }),
      });
    });
  }
  return out;
}

function networkPolicyTerms(
  ctx: PolicyContext,
  at: {
    policy: NetworkPolicy;
    rule: NetworkPolicyRule;
    index: number;
    direction: Direction;
    pod: Pod;
  },
): MatchTerm[] {
  const { policy, rule, index, direction, pod } = at;
  const addresses = rule.peers.length === 0
    ? [ALL_ADDRESSES]
    : ctx.unionOf(rule.peers.map((peer) => networkPolicyPeer(ctx, { policy, peer })));
  if (rule.ports.length === 0) {
    return [{ addresses, l4: ALL_L4, icmp: ALL_ICMP }];
  }
  const numeric: [Range, Range][] = [];
  const terms: MatchTerm[] = [];
  rule.ports.forEach((port, j) => {
    const protocol = PROTOCOL_NUMBERS[port.protocol.toLowerCase() as "tcp" | "udp" | "sctp"];
    const protocols: Range = [protocol, protocol];
    if (port.port === undefined) {
      numeric.push([protocols, ALL_PORTS]);
    } else if (typeof port.port === "number") {
      numeric.push([protocols, [port.port, port.endPort ?? port.port]]);
    } else if (direction === "ingress") {
      const found = namedPorts(pod, { name: port.port, protocol: port.protocol });
      if (found.length === 0) {
        ctx.report(problem(policyRef(policy), {
          severity: "unresolved",
          key: `spec.ingress[${index}].ports[${j}].port`,
          text: `pod "${pod.namespace}/${pod.name}" has no ${port.protocol} container port named ${
            JSON.stringify(port.port)
          }: this port matches nothing for it`,
        }));
      }
      for (const n of found) numeric.push([protocols, [n, n]]);
    } else {
      let any = false;
      for (const peer of ctx.peersWithNamedPort(port.port, port.protocol)) {
        const found = namedPorts(peer.pod, { name: port.port, protocol: port.protocol });
        const mine = intersectRanges(pointRanges(peer.addresses), addresses);
        if (mine.length === 0) continue;
        any = true;
        terms.push({
          addresses: mine,
          l4: found.map((n) => [protocols, [n, n]] as const),
          icmp: [],
        });
      }
      if (!any) {
        ctx.report(problem(policyRef(policy), {
          severity: "unresolved",
          key: `spec.egress[${index}].ports[${j}].port`,
          text: `no peer pod has a ${port.protocol} container port named ${
            JSON.stringify(port.port)
          }: this port matches nothing`,
        }));
      }
    }
  });
  if (numeric.length > 0) terms.unshift({ addresses, l4: numeric, icmp: [] });
  return terms;
}

function networkPolicyPeer(
  ctx: PolicyContext,
  at: { policy: NetworkPolicy; peer: NetworkPolicyPeer },
): readonly Range[] {
  const { policy, peer } = at;
  if (peer.type === "ipBlock") return cidrPeer(peer.cidr, peer.except);
  // NetworkPolicy peers only ever allow.
  const selection: Parameters<PolicyContext["selectPods"]>[0] = { action: "allow" };
  if (peer.podSelector) selection.podSelector = peer.podSelector;
  if (peer.namespaceSelector) selection.namespaceSelector = peer.namespaceSelector;
  else selection.namespace = policy.namespace;
  return ctx.selectedRanges(selection);
}

function namedPorts(pod: Pod, port: { name: string; protocol: string }): number[] {
  const { name, protocol } = port;
  const out = new Set<number>();
  for (const container of pod.containers) {
    for (const port of container.ports) {
      if (port.name === name && port.protocol === protocol) out.add(port.containerPort);
    }
  }
  return [...out].sort((a, b) => a - b);
}

function policyRef(policy: NetworkPolicy) {
  return { kind: policy.kind, namespace: policy.namespace, name: policy.name };
}

// ---- shared ------------------------------------------------------------------------------------

function cidrPeer(
  cidr: { family: 4 | 6; cidr: string },
  except: readonly { family: 4 | 6; cidr: string }[],
): Range[] {
  if (cidr.family !== 4) return [];
  if (except.length === 0) return [cidrRange(cidr.cidr)];
  const holes = normalizeRanges(except.filter((e) => e.family === 4).map((e) => cidrRange(e.cidr)));
  return subtractRanges([cidrRange(cidr.cidr)], holes);
}

function pointRanges(addresses: readonly number[]): Range[] {
  return normalizeRanges(addresses.map((a) => [a, a] as const));
}

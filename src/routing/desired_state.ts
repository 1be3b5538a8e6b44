/**
 * Everything the reconciler wants in the kernel, computed in one pure function from this node's
 * programmed endpoints, the cluster's Nodes and Pods, and the routing config: the pods' host
 * routes, the route of last resort for the node's own pod CIDRs, the peer routes (`routes`
 * mode), the egress tables' default routes, and the RPDB rules, together with the problems that
 * kept something out (overlapping pod CIDRs, nodes without an address, unknown egress tables,
 * this node missing from the cluster or disagreeing with the pools in use). The pieces come from
 * `src/routing/`; this module only assembles them.
 * @module
 */
import { formatCidr, parseCidr } from "../cidr.ts";
import type { Node } from "../cluster/types.ts";
import type { LocalEndpoint } from "../local_endpoints.ts";
import { desiredRules, type RuleEndpoint } from "./desired_rules.ts";
import { desiredTableRoutes } from "./egress_tables.ts";
import { desiredHostRoutes } from "./host_routes.ts";
import type { Route, Rule } from "./model.ts";
import { desiredOwnPodCIDRRoutes } from "./own_pod_cidr_routes.ts";
import { desiredPeerRoutes, type PeerInfo } from "./peer_routes.ts";
import type { OwnPodCIDRRoute, RoutingConfig } from "./routing_config.ts";

/** Something that kept a route or rule out, or that the operator should know; one line each. */
export interface Problem {
  /** `cidr_conflict`, `no_address`, `no_pod_cidr`, `unknown_egress_table`, `no_local_node`, `pod_cidr_mismatch`. */
  kind: string;
  message: string;
}

/** The labels and annotations of a pod, as the cluster source has them. */
export interface PodMetadata {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

/** What {@linkcode desiredState} reads. */
export interface DesiredStateInput {
  /** This node's name. */
  nodeName: string;
  /** The pod CIDRs the node's IPAM hands addresses from. */
  podCIDRs: readonly string[];
  /** The node's programmed endpoints. */
  endpoints: readonly LocalEndpoint[];
  /** Every Node the cluster source knows (this one included, when it is there). */
  nodes: readonly Node[];
  /** The Pod `namespace/name`, for its egress binding; default: none known. */
  pod?: (namespace: string, name: string) => PodMetadata | undefined;
  routing: RoutingConfig;
  /** The route of last resort for `podCIDRs`, resolved (the config's, or the daemon's default). */
  ownPodCIDRRoute: OwnPodCIDRRoute;
  /** Whether a cluster source is configured, so this node's Node is expected in it. */
  cluster: boolean;
}

/** Desired routes and rules, and what status should show beside them. */
export interface DesiredState {
  routes: Route[];
  rules: Rule[];
  problems: Problem[];
  /** Every other node, for status. */
  peers: PeerInfo[];
}

/** Computes the desired state (pure). */
export function desiredState(input: DesiredStateInput): DesiredState {
  const { routing } = input;
  const peer = desiredPeerRoutes(input.nodeName, input.nodes, {
    mode: routing.mode,
    localPodCIDRs: input.podCIDRs,
    addressTypes: routing.addressTypes,
  });
  const routes = [
    ...desiredHostRoutes(input.endpoints),
    ...desiredOwnPodCIDRRoutes(input.podCIDRs, input.ownPodCIDRRoute),
    ...peer.routes,
    ...desiredTableRoutes(routing.egressTables),
  ];

  const ruleEndpoints = input.endpoints.map((ep) => ruleEndpoint(ep, input.pod));
  const rules = desiredRules(ruleEndpoints, {
    egressTables: routing.egressTables,
    binding: routing.egressBinding,
    localCIDRs: input.podCIDRs,
    clusterCIDRs: routing.clusterCIDRs,
  });

  const problems: Problem[] = [
    ...peer.problems.map(({ kind, message }) => ({ kind, message })),
    ...rules.problems.map(({ kind, message }) => ({ kind, message })),
    ...localNodeProblems(input),
  ];
  return { routes, rules: rules.rules, problems, peers: peer.peers };
}

/**
 * The rules one endpoint needs before its first packet, for the host dataplane to install with
 * its host route before ADD returns: none for a pod bound to no egress table; for a bound pod,
 * its `from` rule at 1536 and the `to` rules at 512 of the node's pod CIDRs (`options.podCIDRs`)
 * and cluster CIDRs (and its own `to` rule if no pod CIDR covers it), so it reaches local pods
 * and other nodes' pods from its first packet. A later pass of the reconciler installs the rest
 * (the `to` rules of other pods outside the pod CIDRs) and removes what the last binding no
 * longer needs. Pure.
 */
export function endpointRules(
  ep: LocalEndpoint,
  options: {
    routing: RoutingConfig;
    podCIDRs: readonly string[];
    pod?: DesiredStateInput["pod"];
  },
): Rule[] {
  return desiredRules([ruleEndpoint(ep, options.pod)], {
    egressTables: options.routing.egressTables,
    binding: options.routing.egressBinding,
    localCIDRs: options.podCIDRs,
    clusterCIDRs: options.routing.clusterCIDRs,
  }).rules;
}

function ruleEndpoint(ep: LocalEndpoint, pod: DesiredStateInput["pod"]): RuleEndpoint {
  const out: RuleEndpoint = { ip: ep.ip };
  if (ep.podNamespace === undefined || ep.podName === undefined) return out;
  out.pod = `${ep.podNamespace}/${ep.podName}`;
  const meta = pod?.(ep.podNamespace, ep.podName);
  if (meta !== undefined) {
    out.labels = meta.labels;
    out.annotations = meta.annotations;
  }
  return out;
}

function localNodeProblems(input: DesiredStateInput): Problem[] {
  if (!input.cluster) return [];
  const self = input.nodes.find((n) => n.name === input.nodeName);
  if (self === undefined) {
    return [{
      kind: "no_local_node",
      message:
        `This node has no Node in the cluster source: ${input.nodeName}: peers cannot route to its pods`,
    }];
  }
  const theirs = ipv4Set(self.podCIDRs);
  const ours = ipv4Set(input.podCIDRs);
  if (theirs.join(",") === ours.join(",")) return [];
  return [{
    kind: "pod_cidr_mismatch",
    message: `Node ${input.nodeName} has pod CIDRs ${
      theirs.join(", ") || "(none)"
    } but the daemon hands out ${
      ours.join(", ") || "(none)"
    }: fix the Node or podCIDRs in ternd.yaml, then restart ternd`,
  }];
}

/** The IPv4 CIDRs of `cidrs`, canonical, sorted, without repeats. */
export function ipv4Set(cidrs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const text of cidrs) {
    try {
      out.add(formatCidr(parseCidr(text, { strict: false })));
    } catch {
      // IPv6 or not a CIDR: tern routes IPv4 only.
    }
  }
  return [...out].sort();
}

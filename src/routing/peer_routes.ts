/**
 * Desired routes between nodes. In `routes` mode (GKE routes-based, flannel host-gw) every other
 * node's pod CIDR is routed via that node's address; in `native` mode (GKE VPC-native) the
 * underlay routes pod CIDRs and tern installs none. In both modes the nodes' pod CIDRs are checked
 * for overlaps: CIDRs in conflict (the local node's included) are reported and never routed, on
 * either side, because whichever route won would misdeliver the other node's pods. Pure.
 * @module
 */
import { formatCidr, isIp, parseCidr } from "../cidr.ts";
import type { Node } from "../cluster/types.ts";
import { type CidrClaim, findCidrConflicts } from "./cidr_conflicts.ts";
import { MAIN_TABLE, type Route } from "./model.ts";

/** How pods on different nodes reach each other. */
export type RoutingMode = "routes" | "native";

/** Something that kept routes from being installed; `message` is one line for the log and status. */
export type PeerRouteProblem =
  | {
    kind: "cidr_conflict";
    /** The two nodes and their overlapping CIDRs, in the same order. */
    nodes: [string, string];
    cidrs: [string, string];
    message: string;
  }
  | { kind: "no_address"; node: string; message: string }
  | { kind: "no_pod_cidr"; node: string; message: string };

/** What tern knows of one other node and what it routes to it, for status. */
export interface PeerInfo {
  node: string;
  /** The address routed via: the first IPv4 address of the preferred types, if any. */
  address?: string;
  /** The node's IPv4 pod CIDRs (canonical). */
  podCIDRs: string[];
  /** The pod CIDRs routed via `address` (none in `native` mode, none in conflict). */
  routed: string[];
}

/** Desired peer routes and what kept others out. */
export interface PeerRoutes {
  /** Sorted by destination. */
  routes: Route[];
  problems: PeerRouteProblem[];
  /** Every other node, by name. */
  peers: PeerInfo[];
}

/**
 * The peer routes of node `localNode` given every Node of the cluster (the local one may be
 * among them). `options.localPodCIDRs` adds the local node's own CIDRs when they come from the
 * config rather than its Node object; `options.addressTypes` (default `["InternalIP"]`) lists
 * the address types to route via, in order of preference. Only IPv4 is routed; IPv6 CIDRs and
 * addresses are ignored.
 */
export function desiredPeerRoutes(
  localNode: string,
  nodes: readonly Node[],
  options: {
    mode: RoutingMode;
    localPodCIDRs?: readonly string[];
    addressTypes?: readonly string[];
  },
): PeerRoutes {
  const addressTypes = options.addressTypes ?? ["InternalIP"];
  const byName = new Map<string, Node>();
  for (const node of nodes) if (!byName.has(node.name)) byName.set(node.name, node);
  const names = [...byName.keys()].sort(compare);

  const claims: CidrClaim[] = [];
  const seen = new Set<string>();
  const claim = (node: string, cidr: string) => {
    const id = `${node} ${cidr}`;
    if (!seen.has(id)) claims.push({ node, cidr });
    seen.add(id);
  };
  const own = (options.localPodCIDRs ?? []).map((cidr) => [localNode, cidr] as const);
  const listed = names.flatMap((name) => byName.get(name)!.podCIDRs.map((c) => [name, c] as const));
  for (const [node, cidr] of [...own, ...listed]) {
    const v4 = canonicalV4(cidr);
    if (v4 !== undefined) claim(node, v4);
  }

  const problems: PeerRouteProblem[] = [];
  const excluded = new Set<string>();
  for (const { a, b } of findCidrConflicts(claims)) {
    excluded.add(`${a.node} ${a.cidr}`);
    excluded.add(`${b.node} ${b.cidr}`);
    const label = (c: CidrClaim) =>
      `${c.node}${c.node === localNode ? " (this node)" : ""} ${c.cidr}`;
    problems.push({
      kind: "cidr_conflict",
      nodes: [a.node, b.node],
      cidrs: [a.cidr, b.cidr],
      message: `Pod CIDRs overlap: ${label(a)} and ${label(b)}: neither is routed`,
    });
  }
  const claimsByNode = new Map<string, string[]>();
  for (const c of claims) claimsByNode.set(c.node, [...(claimsByNode.get(c.node) ?? []), c.cidr]);

  const routes: Route[] = [];
  const peers: PeerInfo[] = [];
  for (const name of names) {
    if (name === localNode) continue;
    const node = byName.get(name)!;
    const cidrs = claimsByNode.get(name) ?? [];
    const via = addressTypes
      .flatMap((type) => node.addresses.filter((a) => a.type === type && isIp(a.address)))
      .at(0)?.address;
    const peer: PeerInfo = { node: name, podCIDRs: cidrs, routed: [] };
    if (via !== undefined) peer.address = via;
    peers.push(peer);
    if (options.mode === "native") continue;
    if (cidrs.length === 0) {
      problems.push({
        kind: "no_pod_cidr",
        node: name,
        message: `Node has no IPv4 pod CIDR: ${name}: no route to its pods`,
      });
      continue;
    }
    if (via === undefined) {
      problems.push({
        kind: "no_address",
        node: name,
        message: `Node has no IPv4 address of type ${
          addressTypes.join(" or ")
        }: ${name}: no route to ${cidrs.join(", ")}`,
      });
      continue;
    }
    for (const cidr of cidrs) {
      if (excluded.has(`${name} ${cidr}`)) continue;
      routes.push({ table: MAIN_TABLE, dst: cidr, via });
      peer.routed.push(cidr);
    }
  }
  routes.sort((x, y) => compareCidr(x.dst, y.dst));
  return { routes, problems, peers };
}

/** The canonical IPv4 CIDR, or undefined for IPv6 and anything else. */
function canonicalV4(text: string): string | undefined {
  try {
    return formatCidr(parseCidr(text, { strict: false }));
  } catch {
    return undefined;
  }
}

function compareCidr(a: string, b: string): number {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.network - y.network || x.prefix - y.prefix;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Routing in `ipam.mode: blocks`: a node's pods live in the blocks it claimed from the cluster's
 * IPPools, not in its Node's pod CIDRs. {@linkcode nodesWithBlocks} gives every Node its blocks
 * as its pod CIDRs, so the rest of the desired state — peer routes via each node's address in
 * `routes` mode, the overlap check that routes neither side of a conflict, the route of last
 * resort for the node's own ranges — applies to blocks unchanged, with the same repair
 * guarantees. Pure.
 * @module
 */
import type { Node } from "../cluster/types.ts";

/** Every Node with its blocks (from `byNode`; none when absent) in place of its pod CIDRs. */
export function nodesWithBlocks(
  nodes: readonly Node[],
  byNode: ReadonlyMap<string, readonly string[]>,
): Node[] {
  return nodes.map((node) => ({ ...node, podCIDRs: [...(byNode.get(node.name) ?? [])] }));
}

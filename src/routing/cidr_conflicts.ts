/**
 * Overlapping pod CIDRs between nodes. Two nodes that claim overlapping ranges cannot both be
 * routed to: a route for each would send some pods' traffic to the wrong node. Pure: sorts the
 * claims by start and sweeps, so the cost is n log n plus the number of overlaps.
 * @module
 */
import { broadcastOf, parseCidr } from "../cidr.ts";

/** A node's claim on a pod CIDR (IPv4, canonical). */
export interface CidrClaim {
  node: string;
  cidr: string;
}

/** Two claims of different nodes that share addresses (identical CIDRs included). */
export interface CidrConflict {
  a: CidrClaim;
  b: CidrClaim;
}

/**
 * Every pair of claims by different nodes whose CIDRs overlap, each pair once, ordered by the
 * first claim's start address. Claims of one node that overlap each other are not conflicts.
 * Throws a `TypeError` for a claim that is not an IPv4 CIDR.
 */
export function findCidrConflicts(claims: readonly CidrClaim[]): CidrConflict[] {
  const spans = claims.map((claim) => {
    const cidr = parseCidr(claim.cidr, { strict: false });
    return { claim, start: cidr.network, end: broadcastOf(cidr) };
  });
  // Wider first at equal start, so that the span that contains the other is the earlier one.
  spans.sort((x, y) => x.start - y.start || y.end - x.end || compare(x.claim.node, y.claim.node));
  const conflicts: CidrConflict[] = [];
  let active: typeof spans = [];
  for (const span of spans) {
    active = active.filter((other) => other.end >= span.start);
    for (const other of active) {
      if (other.claim.node !== span.claim.node) conflicts.push({ a: other.claim, b: span.claim });
    }
    active.push(span);
  }
  return conflicts;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

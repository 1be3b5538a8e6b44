/**
 * The route of last resort for the node's own pod CIDRs: `unreachable <podCIDR>` (or
 * `blackhole`) in the main table, behind the pods' `/32` host routes, which are more specific
 * and always win. Without it, a packet to an address of this node's pod CIDR that no pod holds
 * (a pod just deleted, a scan) follows the node's default route back out, and in a cluster the
 * underlay or a peer routes it straight back here until its TTL runs out. With it, the sender
 * learns at once ("no route to host"), or the packet is dropped silently (`blackhole`, as
 * Calico does for its blocks). Pure.
 * @module
 */
import { formatCidr, parseCidr } from "../cidr.ts";
import { MAIN_TABLE, type Route } from "./model.ts";
import type { OwnPodCIDRRoute } from "./routing_config.ts";

/** One `type` route per IPv4 pod CIDR of this node, in the order given; none for `none`. */
export function desiredOwnPodCIDRRoutes(
  podCIDRs: readonly string[],
  type: OwnPodCIDRRoute,
): Route[] {
  if (type === "none") return [];
  const seen = new Set<string>();
  const routes: Route[] = [];
  for (const text of podCIDRs) {
    let dst: string;
    try {
      dst = formatCidr(parseCidr(text, { strict: false }));
    } catch {
      continue; // IPv6: tern routes IPv4 only
    }
    if (seen.has(dst)) continue;
    seen.add(dst);
    routes.push({ table: MAIN_TABLE, dst, type });
  }
  return routes;
}

/**
 * Whether the host dataplane's own work settles a change of one endpoint, so that the reconciler
 * need not list the kernel for it. Programming an endpoint installs its host route and, for a pod
 * bound to an egress table, its rules; removing one deletes them. What only a pass can settle is
 * node-wide: the `to` rules that exist while some local pod is bound (made when the first binding
 * comes, removed when the last goes) and the `to <podIP>` rule of a pod outside every local pod
 * CIDR, both only on a node with egress tables, and the problems status shows for a binding to a
 * table that is not configured. A pass lists every route and rule of the node, so asking for one
 * on every ADD and DEL made each cost grow with the pods on the node (issue 12); drift that no
 * change of tern's explains is still found by `ip monitor` and the periodic pass. Pure.
 * @module
 */
import { contains, parseCidr, parseIp } from "../cidr.ts";
import type { EndpointChange, LocalEndpoint } from "../local_endpoints.ts";
import type { PodMetadata } from "./desired_state.ts";
import { type EgressBinding, type EgressTable, egressTableOf } from "./egress_tables.ts";

/** What {@linkcode dataplaneSettles} needs to judge a change. */
export interface SettleOptions {
  /** The configured egress tables; none means no pod ever has a rule. */
  egressTables: readonly EgressTable[];
  /** Where a pod's binding is read. */
  binding: EgressBinding;
  /**
   * The node's own pod ranges (pod CIDRs, or blocks), IPv4; other entries are skipped. Read only
   * on a node with egress tables (in blocks mode it reads every block of the cluster).
   */
  localCIDRs: () => readonly string[];
  /** The Pod `namespace/name`; default: none known (no binding). */
  pod?: (namespace: string, name: string) => PodMetadata | undefined;
}

/**
 * True when the dataplane's work for `change` leaves nothing for a reconcile pass: the node has
 * no egress tables, or the endpoint (before and after) is bound to none, lies inside a local pod
 * CIDR and kept its address. False for `undefined` (many endpoints changed at once).
 */
export function dataplaneSettles(
  change: EndpointChange | undefined,
  options: SettleOptions,
): boolean {
  if (change === undefined) return false;
  const { before, after } = change;
  if (before !== undefined && after !== undefined && before.ip !== after.ip) return false;
  if (options.egressTables.length === 0) return true;
  for (const ep of [before, after]) {
    if (ep === undefined) continue;
    if (bindingOf(ep, options) !== false) return false;
    if (!insideLocal(ep.ip, options.localCIDRs())) return false;
  }
  return true;
}

function bindingOf(ep: LocalEndpoint, options: SettleOptions): boolean | "unknown" {
  if (ep.podNamespace === undefined || ep.podName === undefined) return false;
  const meta = options.pod?.(ep.podNamespace, ep.podName);
  if (meta === undefined) return false;
  return egressTableOf(meta, options).bound;
}

function insideLocal(ip: string, cidrs: readonly string[]): boolean {
  const address = parseIp(ip);
  for (const text of cidrs) {
    let cidr;
    try {
      cidr = parseCidr(text, { strict: false });
    } catch {
      continue; // IPv6: tern routes IPv4 only.
    }
    if (contains(cidr, address)) return true;
  }
  return false;
}

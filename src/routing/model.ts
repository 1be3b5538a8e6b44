/**
 * The model the routing reconciler works in: routes and RPDB rules as plain values, with the
 * identity that the kernel keys them by and the attributes that may change under one identity.
 * Desired state is computed into this model, kernel listings are parsed into it, and the diff and
 * the `ip -batch` renderer read it. Tern's route protocol is not part of the model: everything in
 * it is tern's, and the protocol is added when rendering and checked when parsing.
 * @module
 */

/** The kernel's main routing table. */
export const MAIN_TABLE = 254;

/**
 * Priority of `to <pod CIDR> lookup main` (and of the cluster CIDRs', and `to <podIP>` for a pod
 * outside the node's pod CIDRs), only on a node where some pod is bound to an egress table.
 */
export const TO_POD_PRIORITY = 512;

/** Priority of `from <podIP> lookup <table>`, one per pod bound to an egress table. */
export const FROM_POD_PRIORITY = 1536;

/** Route scopes tern uses or meets. */
export type RouteScope = "global" | "link" | "host" | "site" | "nowhere";

/** An IPv4 route. */
export interface Route {
  /** Routing table id; {@linkcode MAIN_TABLE} is main. */
  table: number;
  /** Destination as a canonical CIDR: `10.244.2.0/24`, `10.244.1.7/32`, `0.0.0.0/0` for default. */
  dst: string;
  /** Gateway address. */
  via?: string;
  /** Output device; a desired route via a gateway may leave it to the kernel. */
  dev?: string;
  /**
   * Scope; when absent in a desired route, the kernel's default applies: `global` with a
   * gateway, `link` without. Parsed routes always carry it.
   */
  scope?: RouteScope;
  /** Metric (priority); absent is 0. Part of the identity. */
  metric?: number;
  /** Route type when not `unicast` (`unreachable`, `blackhole`…); only met in the kernel. */
  type?: string;
}

/** An IPv4 RPDB rule. */
export interface Rule {
  priority: number;
  /** Source selector as a canonical CIDR; absent is `all`. */
  src?: string;
  /** Destination selector as a canonical CIDR; absent is `all`. */
  dst?: string;
  /** The table looked up; 0 for a rule with no table (an action rule, only met in the kernel). */
  table: number;
  /**
   * Selectors tern never sets but found on a rule carrying its protocol, in `ip rule` syntax
   * (`fwmark 0x10 iif eth0`); part of the identity, so such a rule is never wanted.
   */
  extra?: string;
}

/** The identity of a route: table, destination and metric, as the kernel keys it. */
export function routeKey(route: Route): string {
  return `table ${route.table} ${route.dst} metric ${route.metric ?? 0}`;
}

/** The identity of a rule: priority and selectors. The table is an attribute. */
export function ruleKey(rule: Rule): string {
  const extra = rule.extra ? ` ${rule.extra}` : "";
  return `${rule.priority} from ${rule.src ?? "all"} to ${rule.dst ?? "all"}${extra}`;
}

/**
 * The scope a route has in the kernel, explicit or by default, as `ip route` picks it: a unicast
 * route without a gateway is `link`; other unicast routes and the types that deliver nowhere
 * (`unreachable`, `blackhole`, `prohibit`, `throw`) are `global`.
 */
export function effectiveScope(route: Route): RouteScope {
  if (route.scope !== undefined) return route.scope;
  const unicast = route.type === undefined || route.type === "unicast";
  return unicast && route.via === undefined ? "link" : "global";
}

/**
 * Whether the route `have` (from the kernel) satisfies `want` (desired), both with one key: same
 * type, gateway and scope, and the same device when `want` names one.
 */
export function routeSatisfies(have: Route, want: Route): boolean {
  return (have.type ?? "unicast") === (want.type ?? "unicast") &&
    have.via === want.via &&
    (want.dev === undefined || have.dev === want.dev) &&
    effectiveScope(have) === effectiveScope(want);
}

/** Whether the rule `have` satisfies `want`, both with one key: the same table. */
export function ruleSatisfies(have: Rule, want: Rule): boolean {
  return have.table === want.table;
}

/**
 * Kernel listings → the routing model: the JSON of `ip -json route show proto N table all` and
 * of `ip -json rule show`, as iproute2 prints it (see `testdata/cluster/ip/`). Only entries that
 * carry tern's protocol become "have": routes are listed through the `proto N` filter (which also
 * drops their "protocol" key), rules are filtered here because `ip rule show` ignores a protocol
 * filter. Both parsers accept names and numbers (`-N`) for tables, scopes, types and protocols;
 * the argument lists below ask for numbers and IPv4 only. IPv6 entries are skipped. Pure.
 * @module
 */
import { formatCidr, parseCidr } from "../cidr.ts";
import { MAIN_TABLE, type Route, type RouteScope, type Rule } from "./model.ts";

/** Arguments for `Ip.json()` (which adds `-json`) that list tern's routes in every table. */
export function routeListArgs(protocol: number): string[] {
  return ["-4", "-N", "route", "show", "proto", String(protocol), "table", "all"];
}

/** Arguments for `Ip.json()` that list every IPv4 rule; {@linkcode parseRules} keeps tern's. */
export function ruleListArgs(): string[] {
  return ["-4", "-N", "rule", "show"];
}

const TABLES: Record<string, number> = { main: MAIN_TABLE, local: 255, default: 253, unspec: 0 };
const SCOPES: Record<string, RouteScope> = {
  "0": "global",
  global: "global",
  universe: "global",
  "200": "site",
  site: "site",
  "253": "link",
  link: "link",
  "254": "host",
  host: "host",
  "255": "nowhere",
  nowhere: "nowhere",
};
/** The kernel's route types by number (RTN_*), as `ip` names them. */
export const ROUTE_TYPE_NAMES: readonly string[] = [
  "unspec",
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
  "xresolve",
];
/** The reserved names of `/etc/iproute2/rt_protos`, for output printed without `-N`. */
const PROTOCOLS: Record<string, number> = {
  unspec: 0,
  redirect: 1,
  kernel: 2,
  boot: 3,
  static: 4,
  gated: 8,
  ra: 9,
  mrt: 10,
  zebra: 11,
  bird: 12,
  dnrouted: 13,
  xorp: 14,
  ntk: 15,
  dhcp: 16,
  keepalived: 18,
  babel: 42,
  openr: 99,
  bgp: 186,
  isis: 187,
  ospf: 188,
  rip: 189,
  eigrp: 192,
};
/** Rule selectors tern never sets, in `ip rule` syntax, kept so such rules are never "wanted". */
const EXTRA_SELECTORS = ["iif", "oif", "tos", "ipproto", "sport", "dport"] as const;

type Json = Record<string, unknown>;

/**
 * Tern's routes from `ip -json route show proto <protocol> table all` (the text, or the parsed
 * array). An entry that names another protocol is dropped; one without a "protocol" key is
 * tern's, since the listing was filtered. Throws a `TypeError` on an entry it cannot read.
 */
export function parseRoutes(
  json: string | readonly unknown[],
  options: { protocol: number },
): Route[] {
  const routes: Route[] = [];
  for (const entry of entries(json, "route")) {
    const dst = String(entry.dst ?? "");
    if (dst.includes(":")) continue;
    if (entry.protocol !== undefined && protocolOf(entry.protocol) !== options.protocol) continue;
    const route: Route = {
      table: tableOf(entry.table, MAIN_TABLE),
      dst: dst === "default" ? "0.0.0.0/0" : canonical(dst, "route"),
      scope: scopeOf(entry.scope),
    };
    if (typeof entry.gateway === "string") route.via = entry.gateway;
    if (typeof entry.dev === "string") route.dev = entry.dev;
    if (typeof entry.metric === "number" && entry.metric > 0) route.metric = entry.metric;
    const type = typeOf(entry.type);
    if (type !== "unicast") route.type = type;
    routes.push(route);
  }
  return routes;
}

/**
 * Tern's rules from `ip -json rule show` (the text, or the parsed array): only entries whose
 * "protocol" is `options.protocol`. Throws a `TypeError` on an entry it cannot read.
 */
export function parseRules(
  json: string | readonly unknown[],
  options: { protocol: number },
): Rule[] {
  const rules: Rule[] = [];
  for (const entry of entries(json, "rule")) {
    if (entry.protocol === undefined || protocolOf(entry.protocol) !== options.protocol) continue;
    if (typeof entry.src === "string" && entry.src.includes(":")) continue;
    if (typeof entry.priority !== "number") {
      throw new TypeError(`Cannot read ip rule: no priority: ${JSON.stringify(entry)}`);
    }
    const rule: Rule = { priority: entry.priority, table: tableOf(entry.table, 0) };
    const src = selector(entry.src, entry.srclen);
    const dst = selector(entry.dst, entry.dstlen);
    if (src !== undefined) rule.src = src;
    if (dst !== undefined) rule.dst = dst;
    const extra: string[] = [];
    if (entry.not !== undefined) extra.push("not");
    if (entry.fwmark !== undefined) {
      extra.push(`fwmark ${entry.fwmark}${entry.fwmask !== undefined ? `/${entry.fwmask}` : ""}`);
    }
    for (const name of EXTRA_SELECTORS) {
      if (entry[name] !== undefined) extra.push(`${name} ${entry[name]}`);
    }
    if (extra.length > 0) rule.extra = extra.join(" ");
    rules.push(rule);
  }
  return rules;
}

function entries(json: string | readonly unknown[], what: string): Json[] {
  const list = typeof json === "string" ? (json.trim() === "" ? [] : JSON.parse(json)) : json;
  if (!Array.isArray(list)) {
    throw new TypeError(`Cannot read ip ${what} output: expected a JSON array`);
  }
  return list.map((entry) => {
    if (entry === null || typeof entry !== "object") {
      throw new TypeError(
        `Cannot read ip ${what}: expected an object: got ${JSON.stringify(entry)}`,
      );
    }
    return entry as Json;
  });
}

function canonical(text: string, what: string): string {
  try {
    return formatCidr(parseCidr(text.includes("/") ? text : `${text}/32`, { strict: false }));
  } catch {
    throw new TypeError(`Cannot read ip ${what}: bad destination: ${JSON.stringify(text)}`);
  }
}

function selector(address: unknown, length: unknown): string | undefined {
  if (address === undefined || address === "all") return undefined;
  const prefix = typeof length === "number" ? length : 32;
  return canonical(`${String(address)}/${prefix}`, "rule");
}

function tableOf(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const text = String(value);
  if (/^\d+$/.test(text)) return Number(text);
  const known = TABLES[text];
  if (known === undefined) {
    throw new TypeError(
      `Cannot read table ${JSON.stringify(text)}: list with ip -N to get numbers`,
    );
  }
  return known;
}

function scopeOf(value: unknown): RouteScope {
  if (value === undefined) return "global";
  const scope = SCOPES[String(value)];
  if (scope === undefined) throw new TypeError(`Cannot read route scope: ${JSON.stringify(value)}`);
  return scope;
}

function typeOf(value: unknown): string {
  if (value === undefined) return "unicast";
  const text = String(value);
  return /^\d+$/.test(text) ? ROUTE_TYPE_NAMES[Number(text)] ?? text : text;
}

function protocolOf(value: unknown): number | undefined {
  const text = String(value);
  return /^\d+$/.test(text) ? Number(text) : PROTOCOLS[text];
}

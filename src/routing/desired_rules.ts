/**
 * Desired RPDB rules for the local pods (the policy routing of AWS's VPC CNI), only where a rule
 * decides something: once a namespace has any rule of its own, the kernel walks the rule list
 * on every route lookup there (about 14 ns per rule per packet, docs/benchmarks.md), so a node
 * with no pod bound to an egress table gets no rule at all. While some local pod is bound:
 * `from <podIP> lookup <table>` at priority 1536 for each bound pod; `to <pod CIDR> lookup main`
 * at 512 for each local pod CIDR (and `to <podIP>` for a pod whose address no local CIDR covers),
 * so traffic to a local pod is delivered here and not through a bound pod's egress table; and
 * `to <CIDR> lookup main` at 512 for each cluster CIDR given, so pod-to-pod traffic stays on the
 * main table's peer routes instead of the egress gateway. Pure.
 * @module
 */
import { type Cidr, contains, formatCidr, parseCidr, parseIp } from "../cidr.ts";
import { type EgressBinding, type EgressTable, egressTableOf } from "./egress_tables.ts";
import { FROM_POD_PRIORITY, MAIN_TABLE, type Rule, ruleKey, TO_POD_PRIORITY } from "./model.ts";

/** A local pod's address and what its binding is read from. */
export interface RuleEndpoint {
  /** The pod's IPv4 address, without prefix. */
  ip: string;
  /** `namespace/name`, for messages. */
  pod?: string;
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
}

/** A binding that names no configured table: the pod gets no `from` rule. */
export interface RuleProblem {
  kind: "unknown_egress_table";
  ip: string;
  pod?: string;
  value: string;
  message: string;
}

/** Desired rules, by priority then selector, and the bindings that could not be honoured. */
export interface DesiredRules {
  rules: Rule[];
  problems: RuleProblem[];
}

/**
 * The rules for `endpoints`: none unless some endpoint is bound to a configured egress table.
 * `options.egressTables` and `options.binding` (default: none) decide the bindings;
 * `options.localCIDRs` (default: none; IPv6 entries are skipped) are the node's pod CIDRs, kept
 * on the main table while some pod is bound, and an endpoint outside all of them gets a rule of
 * its own; `options.clusterCIDRs` (default: none) are kept on the main table too. An address
 * listed twice yields its rules once.
 */
export function desiredRules(
  endpoints: readonly RuleEndpoint[],
  options: {
    egressTables?: readonly EgressTable[];
    binding?: EgressBinding;
    localCIDRs?: readonly string[];
    clusterCIDRs?: readonly string[];
  } = {},
): DesiredRules {
  const egressTables = options.egressTables ?? [];
  const binding = options.binding ?? {};
  const rules = new Map<string, Rule>();
  const problems: RuleProblem[] = [];
  const add = (rule: Rule) => {
    const key = ruleKey(rule);
    if (!rules.has(key)) rules.set(key, rule);
  };
  if (egressTables.length === 0) return { rules: [], problems };
  for (const endpoint of endpoints) {
    const lookup = egressTableOf(endpoint, { egressTables, binding });
    if (lookup.bound === true) {
      add({ priority: FROM_POD_PRIORITY, src: `${endpoint.ip}/32`, table: lookup.table.table });
    } else if (lookup.bound === "unknown") {
      const who = endpoint.pod ?? endpoint.ip;
      const problem: RuleProblem = {
        kind: "unknown_egress_table",
        ip: endpoint.ip,
        value: lookup.value,
        message:
          `Pod is bound to an egress table that is not configured: ${who}: ${lookup.from} is ${
            JSON.stringify(lookup.value)
          }`,
      };
      if (endpoint.pod !== undefined) problem.pod = endpoint.pod;
      problems.push(problem);
    }
  }
  // No `from` rule: nothing could steal traffic meant for a local pod, and any rule would cost
  // every lookup of the node a walk of the list.
  if (rules.size === 0) return { rules: [], problems };
  const local = ipv4Cidrs(options.localCIDRs ?? []);
  for (const cidr of local) {
    add({ priority: TO_POD_PRIORITY, dst: formatCidr(cidr), table: MAIN_TABLE });
  }
  for (const endpoint of endpoints) {
    const address = parseIp(endpoint.ip);
    if (local.some((cidr) => contains(cidr, address))) continue;
    add({ priority: TO_POD_PRIORITY, dst: `${endpoint.ip}/32`, table: MAIN_TABLE });
  }
  for (const cidr of options.clusterCIDRs ?? []) {
    add({ priority: TO_POD_PRIORITY, dst: formatCidr(parseCidr(cidr)), table: MAIN_TABLE });
  }
  // Sort on keys computed once per rule: parsing in the comparator cost n log n parses.
  const keyed = [...rules.values()].map((rule) => ({
    rule,
    src: sortKey(rule.src),
    dst: sortKey(rule.dst),
  }));
  keyed.sort((a, b) => a.rule.priority - b.rule.priority || a.src - b.src || a.dst - b.dst);
  return { rules: keyed.map((k) => k.rule), problems };
}

/** The IPv4 CIDRs of `texts`, host bits cleared; IPv6 and other text is skipped (IPv4 only). */
function ipv4Cidrs(texts: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const text of texts) {
    try {
      out.push(parseCidr(text, { strict: false }));
    } catch {
      // IPv6: tern routes IPv4 only.
    }
  }
  return out;
}

/** `all` first, then by network address, then by prefix length. */
function sortKey(cidr: string | undefined): number {
  if (cidr === undefined) return -1;
  const { network, prefix } = parseCidr(cidr);
  return network * 64 + prefix;
}

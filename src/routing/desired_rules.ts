/**
 * Desired RPDB rules for the local pods (the policy routing of AWS's VPC CNI): `to <podIP>
 * lookup main` at priority 512 for every local pod, so traffic to a pod is always delivered on
 * this node whatever tables other rules pick; and `from <podIP> lookup <table>` at priority 1536
 * for a pod bound to an egress table. When some pod is bound, `to <CIDR> lookup main` at 512 for
 * each cluster CIDR given keeps pod-to-pod traffic on the main table's peer routes instead of the
 * egress gateway. Pure.
 * @module
 */
import { formatCidr, parseCidr } from "../cidr.ts";
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
 * The rules for `endpoints`. `options.egressTables` and `options.binding` (default: none) decide
 * the `from` rules; `options.clusterCIDRs` (default none) are kept on the main table when some
 * pod is bound. An address listed twice yields its rules once.
 */
export function desiredRules(
  endpoints: readonly RuleEndpoint[],
  options: {
    egressTables?: readonly EgressTable[];
    binding?: EgressBinding;
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
  let anyBound = false;
  for (const endpoint of endpoints) {
    const host = `${endpoint.ip}/32`;
    add({ priority: TO_POD_PRIORITY, dst: host, table: MAIN_TABLE });
    if (egressTables.length === 0) continue;
    const lookup = egressTableOf(endpoint, { egressTables, binding });
    if (lookup.bound === true) {
      anyBound = true;
      add({ priority: FROM_POD_PRIORITY, src: host, table: lookup.table.table });
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
  if (anyBound) {
    for (const cidr of options.clusterCIDRs ?? []) {
      add({ priority: TO_POD_PRIORITY, dst: formatCidr(parseCidr(cidr)), table: MAIN_TABLE });
    }
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

/** `all` first, then by network address, then by prefix length. */
function sortKey(cidr: string | undefined): number {
  if (cidr === undefined) return -1;
  const { network, prefix } = parseCidr(cidr);
  return network * 64 + prefix;
}

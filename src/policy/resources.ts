/**
 * Reads the policy resources out of the objects the cluster state keeps aside: NetworkPolicies,
 * SecurityGroupPolicies, SecurityGroups, and the labels of `v1` ServiceAccounts (which
 * SecurityGroupPolicies select by). Each policy is validated on its own: an invalid one is
 * rejected with problems naming its fields and the others still apply. Pure.
 * @module
 */
import type { OtherResource } from "../cluster/types.ts";
import { describePolicy, type ParseResult } from "./_parse.ts";
import { isLabelKey, isLabelValue } from "./_schema.ts";
import type { PolicyProblem } from "./model.ts";
import { SharedParts } from "../lib/shared_parts.ts";
import {
  NETWORK_POLICY_API_VERSION,
  type NetworkPolicy,
  parseNetworkPolicy,
} from "./network_policy.ts";
import {
  parseSecurityGroup,
  SECURITY_GROUP_API_VERSION,
  type SecurityGroup,
} from "./security_group.ts";
import {
  parseSecurityGroupPolicy,
  SECURITY_GROUP_POLICY_API_VERSION,
  type SecurityGroupPolicy,
} from "./security_group_policy.ts";

/** Any policy resource tern reads. */
export type PolicyResource = NetworkPolicy | SecurityGroupPolicy | SecurityGroup;

/** The valid policies, by kind, and what was wrong with the others. */
export interface PolicyResources {
  /** By namespace, then name. */
  networkPolicies: NetworkPolicy[];
  /** By namespace, then name. */
  securityGroupPolicies: SecurityGroupPolicy[];
  /** By group id. */
  securityGroups: Map<string, SecurityGroup>;
  /** Labels of the ServiceAccount objects in cluster state, by `namespace/name`. */
  serviceAccounts: Map<string, Record<string, string>>;
  /** `invalid` (rejected) and `unsupported` (partly enforced) problems, in input order. */
  problems: PolicyProblem[];
}

/**
 * Results by object: the cluster state hands out the same immutable object until the resource
 * changes, so a recompile after an unrelated change validates nothing again.
 */
const parsed = new WeakMap<OtherResource, ParseResult<PolicyResource> | undefined>();

/**
 * Validates one kept-aside object if it is a policy kind tern reads (by `apiVersion` and kind);
 * undefined for any other object. The cluster source can use it to reject an invalid policy at
 * the edge and keep its last valid version. Results are remembered per object (the state's
 * objects are never mutated).
 */
export function parsePolicyResource(
  other: OtherResource,
): ParseResult<PolicyResource> | undefined {
  if (parsed.has(other)) return parsed.get(other);
  const result = parseUncached(other);
  // Kept for as long as the object: its parts shared with the other policies' (~2 KB less a
  // policy at kube-scale), and no problem list of its own when it has none.
  if (result !== undefined) {
    if (result.ok) result.value = parts.shareProperties(result.value);
    if (result.problems.length === 0) result.problems = NO_PROBLEMS;
  }
  parsed.set(other, result);
  return result;
}

/** The parts the kept parsed policies share (`shared_parts.ts`). */
const parts = new SharedParts();

const NO_PROBLEMS: PolicyProblem[] = Object.freeze([]) as unknown as PolicyProblem[];

/** A field that makes a policy invalid: its key path as segments, and what is wrong with it. */
export interface InvalidField {
  path: (string | number)[];
  text: string;
}

/**
 * Why a kept-aside object of a policy kind tern reads is invalid, one entry per field (the
 * cluster source's edge reports them with file and line and keeps the last valid version);
 * empty for a valid policy (what it has that tern cannot enforce is reported later, by status),
 * undefined for an object of any other kind.
 */
export function invalidPolicyFields(other: OtherResource): InvalidField[] | undefined {
  const result = parsePolicyResource(other);
  if (result === undefined) return undefined;
  if (result.ok) return [];
  return result.problems.map((p) => {
    const prefix = `Invalid ${describePolicy(p.policy)}: ${p.key === "" ? "" : `${p.key}: `}`;
    return {
      path: keyPath(p.key),
      text: p.message.startsWith(prefix) ? p.message.slice(prefix.length) : p.message,
    };
  });
}

/** `spec.ingress[0].ports[1].port` → `["spec", "ingress", 0, "ports", 1, "port"]`. */
function keyPath(key: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of key.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  }
  return out;
}

function parseUncached(other: OtherResource): ParseResult<PolicyResource> | undefined {
  switch (`${other.apiVersion} ${other.resourceKind}`) {
    case `${NETWORK_POLICY_API_VERSION} NetworkPolicy`:
      return parseNetworkPolicy(other);
    case `${SECURITY_GROUP_POLICY_API_VERSION} SecurityGroupPolicy`:
      return parseSecurityGroupPolicy(other);
    case `${SECURITY_GROUP_API_VERSION} SecurityGroup`:
      return parseSecurityGroup(other);
    default:
      return undefined;
  }
}

/** Reads every policy and service account among `others` (the cluster state's `others()`). */
export function readPolicyResources(others: readonly OtherResource[]): PolicyResources {
  const out: PolicyResources = {
    networkPolicies: [],
    securityGroupPolicies: [],
    securityGroups: new Map(),
    serviceAccounts: new Map(),
    problems: [],
  };
  for (const other of others) {
    if (other.apiVersion === "v1" && other.resourceKind === "ServiceAccount") {
      out.serviceAccounts.set(`${other.namespace ?? "default"}/${other.name}`, labelsOf(other));
      continue;
    }
    const result = parsePolicyResource(other);
    if (result === undefined) continue;
    out.problems.push(...result.problems);
    if (!result.ok) continue;
    const policy = result.value;
    if (policy.kind === "NetworkPolicy") out.networkPolicies.push(policy);
    else if (policy.kind === "SecurityGroupPolicy") out.securityGroupPolicies.push(policy);
    else out.securityGroups.set(policy.name, policy);
  }
  out.networkPolicies.sort(byName);
  out.securityGroupPolicies.sort(byName);
  return out;
}

/** Past this many objects changed, {@linkcode updatePolicyResources} reads them all again. */
const MAX_PATCHED_OBJECTS = 64;

/**
 * {@linkcode readPolicyResources} of `others`, from what an earlier read of `before.others` gave
 * (`before.resources`): when the objects that differ (found by identity, the state's objects
 * being immutable) are a few valid NetworkPolicies without problems, they are taken out of and
 * put into a copy of the sorted list, and every other part (security groups, their policies,
 * service accounts, problems) stays the same object, so that what depends on those alone is
 * not found again. Anything else reads everything. At 10 000 policies a changed one costs a
 * copy of the list instead of a sort of it.
 */
export function updatePolicyResources(
  before: { others: readonly OtherResource[]; resources: PolicyResources },
  others: readonly OtherResource[],
): PolicyResources {
  const old = before.others;
  if (old === others) return before.resources;
  let start = 0;
  while (start < old.length && start < others.length && old[start] === others[start]) start++;
  let oldEnd = old.length;
  let newEnd = others.length;
  while (oldEnd > start && newEnd > start && old[oldEnd - 1] === others[newEnd - 1]) {
    oldEnd--;
    newEnd--;
  }
  if (oldEnd - start + newEnd - start > MAX_PATCHED_OBJECTS) return readPolicyResources(others);
  const was = new Set(old.slice(start, oldEnd));
  const is = new Set(others.slice(start, newEnd));
  const removed: NetworkPolicy[] = [];
  const added: NetworkPolicy[] = [];
  for (const [from, to, list] of [[was, is, removed], [is, was, added]] as const) {
    for (const other of from) {
      if (to.has(other)) continue;
      const result = parsePolicyResource(other);
      if (result?.ok !== true || result.problems.length > 0) return readPolicyResources(others);
      if (result.value.kind !== "NetworkPolicy") return readPolicyResources(others);
      list.push(result.value);
    }
  }
  const networkPolicies = before.resources.networkPolicies.slice();
  for (const policy of removed) {
    const at = sortedIndex(networkPolicies, policy);
    if (networkPolicies[at] !== policy) return readPolicyResources(others);
    networkPolicies.splice(at, 1);
  }
  for (const policy of added) {
    const at = sortedIndex(networkPolicies, policy);
    const there = networkPolicies[at];
    if (there !== undefined && byName(there, policy) === 0) return readPolicyResources(others);
    networkPolicies.splice(at, 0, policy);
  }
  const resources = { ...before.resources, networkPolicies };
  const index = policiesByNamespace.get(before.resources);
  if (index !== undefined) {
    // The index by namespace changes in the namespaces of the policies that came and went.
    const next = new Map(index);
    for (const { namespace } of [...removed, ...added]) {
      const from = sortedIndex(networkPolicies, { namespace, name: "" });
      let to = from;
      while (to < networkPolicies.length && networkPolicies[to]!.namespace === namespace) to++;
      if (to > from) next.set(namespace, networkPolicies.slice(from, to));
      else next.delete(namespace);
    }
    policiesByNamespace.set(resources, next);
  }
  return resources;
}

/** The NetworkPolicies of `resources` in `namespace`, by name (indexed once per resources object). */
export function networkPoliciesIn(resources: PolicyResources, namespace: string): NetworkPolicy[] {
  let index = policiesByNamespace.get(resources);
  if (index === undefined) {
    index = new Map();
    for (const np of resources.networkPolicies) {
      const list = index.get(np.namespace);
      if (list) list.push(np);
      else index.set(np.namespace, [np]);
    }
    policiesByNamespace.set(resources, index);
  }
  return index.get(namespace) ?? [];
}

const policiesByNamespace = new WeakMap<PolicyResources, Map<string, NetworkPolicy[]>>();

type Named = { namespace: string; name: string };

function byName(a: Named, b: Named): number {
  return compare(a.namespace, b.namespace) || compare(a.name, b.name);
}

/** The index of the first of `list` (sorted {@linkcode byName}) not before `item`. */
function sortedIndex(list: readonly Named[], item: Named): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (byName(list[mid]!, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The valid labels of an object kept aside whole; labels that are not strings are skipped. */
function labelsOf(other: OtherResource): Record<string, string> {
  const metadata = other.raw.metadata as { labels?: unknown } | undefined;
  const labels = metadata?.labels;
  const out: Record<string, string> = {};
  if (labels === null || typeof labels !== "object") return out;
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value === "string" && isLabelKey(key) && isLabelValue(value)) out[key] = value;
  }
  return out;
}

/** Code-unit order, the order every list in the policy layer is sorted by. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

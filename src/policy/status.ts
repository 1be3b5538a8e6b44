/**
 * `tern policy status`: every policy resource with the pods it applies to, what of it is
 * enforced, and what is not (invalid: rejected whole; unsupported or unresolved: that part is
 * left out and the rest enforced). Computed cluster-wide with the same compiler the nodes use,
 * so the named ports of every selected pod are resolved as the pod's own node will. Pure.
 * @module
 */
import { type Clock, sleep } from "../clock.ts";
import type { Pod } from "../cluster/types.ts";
import { compilePodRules } from "./compile.ts";
import { problem } from "./_parse.ts";
import type { LocalEndpoint, PolicyKind, PolicyProblem, PolicyRef } from "./model.ts";
import { PeerIndex } from "./peer_index.ts";
import { type ClusterView, PolicyContext } from "./policy_context.ts";
import { compare, parsePolicyResource, readPolicyResources } from "./resources.ts";
import { formatSelector, matchesSelector } from "./selector.ts";

/** One policy's status. */
export interface PolicyStatus extends PolicyRef {
  /**
   * `enforced`: all of it; `partial`: all but what `problems` lists; `invalid`: rejected, not
   * enforced at all.
   */
  state: "enforced" | "partial" | "invalid";
  /**
   * The pods it applies to, `namespace/name`: those a NetworkPolicy selects, those a
   * SecurityGroupPolicy puts in its groups, the members of a SecurityGroup.
   */
  pods: string[];
  /** What is enforced, one short line each. */
  enforced: string[];
  problems: PolicyProblem[];
}

const KIND_ORDER: PolicyKind[] = ["NetworkPolicy", "SecurityGroupPolicy", "SecurityGroup"];

/** How many pods a step of {@linkcode policyStatusInSlices} adds to the peers. */
const PEERS_PER_STEP = 2000;

/** The status of every policy resource in the cluster state, by kind, namespace and name. */
export function policyStatus(
  state: ClusterView,
  options: { endpoints?: readonly LocalEndpoint[] } = {},
): PolicyStatus[] {
  const steps = statusSteps(state, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Options of {@linkcode policyStatusInSlices}. */
export interface StatusSliceOptions {
  endpoints?: readonly LocalEndpoint[];
  /** The clock that measures slices and waits between them. */
  clock: Clock;
  /** The longest the computation runs before it lets other work run (default 20 ms). */
  sliceMs?: number;
}

/**
 * {@linkcode policyStatus}, computed in slices of about `sliceMs` with a timer between them, so
 * that a daemon's event loop keeps serving its watches, ADDs and policy runs while the status
 * of 10 000 policies over 150 000 pods is computed (seconds). The pods are those of the state
 * when it starts (their objects are immutable); namespaces and policies are read as it goes.
 */
export async function policyStatusInSlices(
  state: ClusterView,
  options: StatusSliceOptions,
): Promise<PolicyStatus[]> {
  const { clock, sliceMs = 20 } = options;
  const steps = statusSteps(state, options.endpoints ? { endpoints: options.endpoints } : {});
  let started = clock.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (clock.now() - started >= sliceMs) {
      await sleep(clock, 0);
      started = clock.now();
    }
  }
}

/** Yields between units of work (a pod's rules, a policy), so a caller can pause there. */
function* statusSteps(
  state: ClusterView,
  options: { endpoints?: readonly LocalEndpoint[] },
): Generator<void, PolicyStatus[]> {
  // The context's peers, a few thousand pods at a time (all of them at once is a second at 150 000).
  const endpoints = options.endpoints ?? [];
  const resources = readPolicyResources(state.others());
  yield;
  const peers = new PeerIndex();
  peers.update(state, { endpoints, resources, pods: [], namespaces: [] });
  const all = state.pods();
  for (let i = 0; i < all.length; i += PEERS_PER_STEP) {
    yield;
    const pods = all.slice(i, i + PEERS_PER_STEP).map((p) => `${p.namespace}/${p.name}`);
    peers.update(state, { endpoints, resources, pods, namespaces: [] });
  }
  const ctx = new PolicyContext(state, { endpoints, resources, peers });
  const pods = all.filter((p) => !p.hostNetwork);
  yield* reportPodProblems(ctx, pods);
  const hostNetwork = state.pods().filter((p) => p.hostNetwork);
  // Policies are matched against the pods of their namespace, and groups found once per pod:
  // O(pods + policies × pods of a namespace), not O(policies × pods).
  const inNamespace = new Map<string, Pod[]>();
  for (const pod of pods) {
    const list = inNamespace.get(pod.namespace);
    if (list) list.push(pod);
    else inNamespace.set(pod.namespace, [pod]);
  }
  let inGroup: Map<string, Pod[]> | undefined;
  const groupPods = (id: string): Pod[] => {
    if (inGroup === undefined) {
      inGroup = new Map();
      for (const pod of pods) {
        for (const group of ctx.groupsOf(pod)) {
          const list = inGroup.get(group);
          if (list) list.push(pod);
          else inGroup.set(group, [pod]);
        }
      }
    }
    return inGroup.get(id) ?? [];
  };
  const bySelector = new Map<string, string[]>();
  const out: PolicyStatus[] = [];
  for (const other of state.others()) {
    yield;
    const result = parsePolicyResource(other);
    if (result === undefined) continue;
    if (!result.ok) {
      const ref = result.problems[0]!.policy;
      out.push({ ...ref, state: "invalid", pods: [], enforced: [], problems: result.problems });
      continue;
    }
    const policy = result.value;
    const ref: PolicyRef = policy.kind === "SecurityGroup"
      ? { kind: policy.kind, name: policy.name }
      : { kind: policy.kind, namespace: policy.namespace, name: policy.name };
    let applies: (pod: Pod) => boolean;
    let candidates: Pod[];
    // NetworkPolicies of one namespace often share their pod selector: its pods found once.
    let selected: string[] | undefined;
    const enforced: string[] = [];
    if (policy.kind === "NetworkPolicy") {
      applies = (pod) =>
        pod.namespace === policy.namespace && matchesSelector(policy.podSelector, pod.labels);
      candidates = inNamespace.get(policy.namespace) ?? [];
      const key = JSON.stringify([policy.namespace, policy.podSelector]);
      selected = bySelector.get(key);
      if (selected === undefined) {
        selected = candidates.filter(applies).map((p) => `${p.namespace}/${p.name}`);
        bySelector.set(key, selected);
      }
      selected = [...selected];
      enforced.push(`selects ${formatSelector(policy.podSelector)} in ${policy.namespace}`);
      for (const type of policy.policyTypes) {
        const rules = policy[type === "Ingress" ? "ingress" : "egress"].length;
        enforced.push(
          `${type.toLowerCase()}: ${
            rules === 0 ? "deny all" : `${rules} allow rule${rules === 1 ? "" : "s"}`
          }`,
        );
      }
    } else if (policy.kind === "SecurityGroupPolicy") {
      applies = (pod) => ctx.sgpSelects(policy, pod);
      candidates = inNamespace.get(policy.namespace) ?? [];
      if (policy.podSelector) enforced.push(`selects pods ${formatSelector(policy.podSelector)}`);
      const sa = policy.serviceAccountSelector;
      if (sa) {
        const names = sa.matchNames ? ` named ${sa.matchNames.join(", ")}` : "";
        enforced.push(`selects service accounts ${formatSelector(sa.selector)}${names}`);
      }
      const known = policy.groupIds.filter((id) => ctx.resources.securityGroups.has(id));
      const missing = policy.groupIds.filter((id) => !ctx.resources.securityGroups.has(id));
      enforced.push(
        `groups: ${known.length === 0 ? "none found" : known.join(", ")}${
          missing.length === 0 ? "" : `; without a SecurityGroup (no rules): ${missing.join(", ")}`
        }`,
      );
    } else {
      applies = (pod) => ctx.groupsOf(pod).includes(policy.name);
      candidates = groupPods(policy.name);
      for (const direction of ["ingress", "egress"] as const) {
        const rules = policy[direction];
        const deny = rules.filter((r) => r.action === "deny").length;
        enforced.push(
          `${direction}: ${
            rules.length === 0 ? "deny all" : `${rules.length} rule${rules.length === 1 ? "" : "s"}`
          }${deny > 0 ? ` (${deny} deny)` : ""}`,
        );
      }
    }
    if (policy.kind !== "SecurityGroup") {
      for (const pod of hostNetwork) {
        if (!applies(pod)) continue;
        ctx.report(problem(ref, {
          severity: "unsupported",
          key: "",
          text:
            `selects host-network pod "${pod.namespace}/${pod.name}": tern does not enforce policy on host-network pods`,
        }));
      }
    }
    out.push({
      ...ref,
      state: "enforced",
      pods: selected ?? candidates.filter(applies).map((p) => `${p.namespace}/${p.name}`),
      enforced,
      problems: [],
    });
  }
  yield;
  const problems = new Map<string, PolicyProblem[]>();
  for (const p of ctx.problems()) {
    const key = refKey(p.policy);
    const list = problems.get(key);
    if (list) list.push(p);
    else problems.set(key, [p]);
  }
  for (const status of out) {
    if (status.state === "invalid") continue;
    status.problems = problems.get(refKey(status)) ?? [];
    if (status.problems.length > 0) status.state = "partial";
  }
  return out.sort((a, b) =>
    KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
    compare(a.namespace ?? "", b.namespace ?? "") || compare(a.name, b.name)
  );
}

function refKey(ref: PolicyRef): string {
  return JSON.stringify([ref.kind, ref.namespace ?? null, ref.name]);
}

/**
 * Reports to `ctx` the problems of compiling every pod's rules (named ports, groups, peers),
 * as the pods' own nodes meet them. Rules only, not flattened. A pod's rules read of it only its
 * namespace, service account, containers and the labels a policy's own pod selector names (which
 * policies and groups select it): a pod like one whose rules reported nothing in those reports
 * nothing either, so it is skipped (replicas differ in `pod-template-hash`, which no selector
 * names).
 */
function* reportPodProblems(ctx: PolicyContext, pods: readonly Pod[]): Generator<void> {
  const keys = new Set<string>();
  const selectors = [
    ...ctx.resources.networkPolicies.map((np) => np.podSelector),
    ...ctx.resources.securityGroupPolicies.map((sgp) => sgp.podSelector),
  ];
  for (const selector of selectors) {
    if (selector === undefined) continue;
    for (const key of Object.keys(selector.matchLabels)) keys.add(key);
    for (const requirement of selector.matchExpressions) keys.add(requirement.key);
  }
  const quiet = new Set<string>();
  for (const pod of pods) {
    yield;
    const labels = Object.keys(pod.labels).filter((key) => keys.has(key)).sort()
      .map((key) => [key, pod.labels[key]]);
    const shape = JSON.stringify([pod.namespace, labels, pod.serviceAccountName, pod.containers]);
    if (quiet.has(shape)) continue;
    const { problems } = ctx.capture(() => compilePodRules(ctx, pod));
    if (problems.length === 0) quiet.add(shape);
  }
}

/** The status as text: one block per policy. */
export function formatPolicyStatus(statuses: readonly PolicyStatus[]): string {
  const lines: string[] = [];
  for (const s of statuses) {
    const id = s.namespace === undefined ? s.name : `${s.namespace}/${s.name}`;
    lines.push(`${s.kind} ${id}: ${s.state}`);
    for (const line of s.enforced) lines.push(`  ${line}`);
    if (s.state !== "invalid") {
      lines.push(`  pods: ${s.pods.length === 0 ? "none" : s.pods.join(", ")}`);
    }
    for (const p of s.problems) lines.push(`  ${p.severity}: ${p.message}`);
  }
  return lines.length === 0 ? "No policies\n" : `${lines.join("\n")}\n`;
}

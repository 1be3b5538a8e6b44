/**
 * What the API asks of policy, over the {@linkcode PolicyManager}: wait until an endpoint's
 * policy is programmed (ADD answers only then), status (each policy with the pods it selects,
 * computed from the same view the node compiles from, and the enforcement state), the kernel's
 * counters attributed to policies and rules, and the explanation of a flow from the programmed
 * model. The handler takes the {@linkcode PolicyService} interface, so its tests pass a fake.
 * @module
 */
import type {
  ExplainRequest,
  ExplainResponse,
  PolicyCountersResponse,
  PolicyStatusResponse,
  PolicySummary,
} from "../../src/api.ts";
import { type Clock, realClock } from "../../src/clock.ts";
import type { ManifestError } from "../../src/cluster/types.ts";
import { explainFlow, type Flow, parseFlowEndpoint } from "../../src/policy/explain.ts";
import { parsePolicyResource } from "../../src/policy/resources.ts";
import { policyStatusInSlices } from "../../src/policy/status.ts";
import type { PolicyManager, ProgrammedState } from "./policy_manager.ts";

/** Policy, as the API handler uses it. */
export interface PolicyService {
  /** Resolves once the endpoint behind host veth `hostVeth` is programmed (or held, after a wait). */
  programmed(hostVeth: string): Promise<ProgrammedState>;
  /**
   * Each policy with its pods, and the enforcement state. Computed in slices (seconds at
   * 150 000 pods), so the daemon keeps working meanwhile; requests that arrive while one is
   * computed share its answer.
   */
  status(): Promise<PolicyStatusResponse>;
  summary(): PolicySummary;
  counters(): Promise<PolicyCountersResponse>;
  /** Throws `ExplainError` for a flow it cannot explain. */
  explain(request: ExplainRequest): ExplainResponse;
}

/** The messages of the manifest errors that are about a policy kind. */
export function policyManifestErrors(errors: readonly ManifestError[]): string[] {
  return errors.filter((e) => e.subject !== undefined && POLICY_KINDS.has(e.subject.kind))
    .map((e) => e.message);
}

const POLICY_KINDS = new Set(["NetworkPolicy", "SecurityGroupPolicy", "SecurityGroup"]);

/**
 * The service over a running manager. `options.pendingWaitMs` is `policy.pendingWait`;
 * `options.manifestErrors` (default: none) gives the sources' latest manifest errors, of which
 * status shows those about policies.
 */
export function managedPolicy(
  manager: PolicyManager,
  options: {
    pendingWaitMs: number;
    manifestErrors?: () => ManifestError[];
    now?: () => number;
    /** Paces the status's slices (default the real clock). */
    clock?: Clock;
  },
): PolicyService {
  const now = options.now ?? Date.now;
  const clock = options.clock ?? realClock;
  let computing: Promise<PolicyStatusResponse> | undefined;
  return {
    programmed: (hostVeth) => manager.programmed(hostVeth, { waitMs: options.pendingWaitMs }),
    status: () => {
      computing ??= (async () => {
        try {
          const { view, endpoints } = manager.view();
          const policies = await policyStatusInSlices(view, { endpoints, clock });
          const out: PolicyStatusResponse = { enforcement: manager.status(), policies };
          const rejected = policyManifestErrors(options.manifestErrors?.() ?? []);
          if (rejected.length > 0) out.rejected = rejected;
          return out;
        } finally {
          computing = undefined;
        }
      })();
      return computing;
    },
    summary: () => {
      const s = manager.status();
      const out: PolicySummary = {
        enabled: true,
        policies: countPolicies(manager),
        pods: s.pods,
        pending: s.pending.length,
        problems: s.problems,
        upToDate: s.upToDate,
      };
      if (s.lastApply) out.lastApply = s.lastApply;
      return out;
    },
    counters: async () => ({ ...(await manager.counters()), at: now() }),
    explain: (request) => {
      const flow: Flow = {
        src: parseFlowEndpoint(request.src),
        dst: parseFlowEndpoint(request.dst),
        protocol: request.proto,
      };
      if (request.port !== undefined) flow.port = request.port;
      if (request.icmpType !== undefined) flow.icmpType = request.icmpType;
      if (request.icmpCode !== undefined) flow.icmpCode = request.icmpCode;
      const { view, endpoints } = manager.view();
      const model = manager.model;
      return explainFlow(view, flow, model === undefined ? { endpoints } : { model, endpoints });
    },
  };
}

function countPolicies(manager: PolicyManager): number {
  return manager.view().view.others().filter((o) => parsePolicyResource(o) !== undefined).length;
}

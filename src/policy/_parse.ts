/**
 * The shared step of reading a policy resource: validate a kept-aside object with a kind's zod
 * schema and turn failures into `invalid` problems that name the policy, the field and the
 * value. Private to `src/policy`.
 * @module
 */
import type * as z from "../lib/zod.ts";
import { formatValue } from "../zod_issues.ts";
import { toIssues } from "./_issues.ts";
import type { PolicyProblem, PolicyRef } from "./model.ts";

/** A policy read from a manifest, with the problems of its parts; or the reasons it was rejected. */
export type ParseResult<T> =
  | { ok: true; value: T; problems: PolicyProblem[] }
  | { ok: false; problems: PolicyProblem[] };

/** `NetworkPolicy "team-a/web"`, `SecurityGroup "sg-web"`. */
export function describePolicy(ref: PolicyRef): string {
  const id = ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
  return `${ref.kind} ${JSON.stringify(id)}`;
}

/** A problem about `ref` at `key`, its message prefixed with what and where. */
export function problem(
  ref: PolicyRef,
  at: { severity: PolicyProblem["severity"]; key: string; text: string },
): PolicyProblem {
  const { severity } = at;
  const label = severity === "invalid"
    ? "Invalid"
    : severity === "unsupported"
    ? "Unsupported in"
    : "Unresolved in";
  return {
    policy: ref,
    severity,
    key: at.key,
    message: `${label} ${describePolicy(ref)}: ${at.key === "" ? "" : `${at.key}: `}${at.text}`,
  };
}

/** Validates `input.raw` with `schema`; failures become `invalid` problems about `input.ref`. */
export function parseWith<T>(
  schema: z.ZodType<T, unknown>,
  input: { raw: unknown; ref: PolicyRef },
): ParseResult<T> {
  const { raw, ref } = input;
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data, problems: [] };
  return {
    ok: false,
    problems: toIssues(result.error.issues, raw).map((issue) =>
      problem(ref, { severity: "invalid", ...issue })
    ),
  };
}

/** The rules of a parsed policy, as far as {@linkcode ipv6PeerProblems} reads them. */
interface PeerRules<P> {
  ingress: readonly { peers: readonly P[] }[];
  egress: readonly { peers: readonly P[] }[];
}

/**
 * An `unsupported` problem for each IPv6 CIDR peer of `rules` (tern enforces IPv4 only, so such a
 * peer matches nothing), in rule and peer order, ingress first. `cidrOf` gives a peer's CIDR
 * and its key below the peer (`ipBlock.cidr`), or undefined for a peer that is not a CIDR.
 */
export function ipv6PeerProblems<P>(
  ref: PolicyRef,
  rules: PeerRules<P>,
  cidrOf: (peer: P) => { family: 4 | 6; cidr: string; key: string } | undefined,
): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const direction of ["ingress", "egress"] as const) {
    const peersKey = direction === "ingress" ? "from" : "to";
    rules[direction].forEach((rule, i) => {
      rule.peers.forEach((peer, j) => {
        const cidr = cidrOf(peer);
        if (cidr === undefined || cidr.family !== 6) return;
        problems.push(problem(ref, {
          severity: "unsupported",
          key: `spec.${direction}[${i}].${peersKey}[${j}].${cidr.key}`,
          text: `${
            formatValue(cidr.cidr)
          } is IPv6 and tern enforces IPv4 only: this peer matches nothing`,
        }));
      });
    });
  }
  return problems;
}

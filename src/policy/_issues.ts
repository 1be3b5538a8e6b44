/**
 * Turns zod issues from policy validation into the problems tern reports: the key path
 * (`spec.ingress[0].ports[1].endPort`), what was wrong and the value given. Policy words a few
 * issues its own way (`unknown field: podSelecter`, a check's message as it is); the rest take
 * the shared wording of `src/zod_issues.ts`. Private to `src/policy`.
 * @module
 */
import type * as z from "../lib/zod.ts";
import { describeIssue, formatValue } from "../zod_issues.ts";

/** One problem found in an object. */
export interface Issue {
  /** Key path, rendered (`a.b[0].c`); empty for the object itself. */
  key: string;
  /** What was wrong, with the value when it helps: `expected string: got 5`. */
  text: string;
}

/** One {@linkcode Issue} per zod issue; `input` is the object that was parsed. */
export function toIssues(issues: readonly z.core.$ZodIssue[], input: unknown): Issue[] {
  return issues.map((issue) => {
    const { key, value, text } = describeIssue(issue, input);
    return { key, text: policyWording(issue, value) ?? text };
  });
}

/** Policy's own wording of `issue`, or undefined where the shared one stands. */
function policyWording(issue: z.core.$ZodIssue, value: unknown): string | undefined {
  switch (issue.code) {
    case "invalid_value":
      return value === undefined
        ? `is required: one of ${issue.values.map((v) => formatValue(v)).join(", ")}`
        : undefined;
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""}: ${issue.keys.join(", ")}`;
    case "invalid_key":
      return issue.issues.map((i) => i.message).join("; ");
    case "invalid_union":
      return `${issue.message}: got ${formatValue(value)}`;
    case "custom":
      return issue.message;
  }
  return undefined;
}

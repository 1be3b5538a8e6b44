/**
 * Turns zod issues from policy validation into the problems tern reports: the key path
 * (`spec.ingress[0].ports[1].endPort`), what was wrong and the value given. Private to
 * `src/policy`.
 * @module
 */
import type { z } from "zod";
import { formatPath, formatValue, valueAt } from "../zod_issues.ts";

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
    const value = valueAt(input, issue.path);
    const shown = formatValue(value);
    let text: string;
    switch (issue.code) {
      case "invalid_type":
        text = value === undefined ? "is required" : `expected ${issue.expected}: got ${shown}`;
        break;
      case "invalid_value":
        text = value === undefined
          ? `is required: one of ${issue.values.map((v) => formatValue(v)).join(", ")}`
          : `must be one of ${issue.values.map((v) => formatValue(v)).join(", ")}: got ${shown}`;
        break;
      case "unrecognized_keys":
        text = `unknown field${issue.keys.length > 1 ? "s" : ""}: ${issue.keys.join(", ")}`;
        break;
      case "invalid_key":
        text = issue.issues.map((i) => i.message).join("; ");
        break;
      case "invalid_union":
        text = `${issue.message}: got ${shown}`;
        break;
      case "custom":
        text = issue.message;
        break;
      default:
        text = `${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}: got ${shown}`;
    }
    return { key: formatPath(issue.path), text };
  });
}

export { formatPath, formatValue };

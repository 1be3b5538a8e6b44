/**
 * Turns zod issues from manifest validation into (key path, value, text) triples, in the style
 * of the daemon's config errors: `spec.podCIDRs[1]`, what was wrong, the value that was given.
 * Private to `src/cluster`.
 * @module
 */
import type { z } from "zod";
import { formatPath, formatValue, valueAt } from "../zod_issues.ts";

/** One problem found in an object. */
export interface Issue {
  /** Key path, as a list (for line lookup) and rendered (`a.b[0].c`). */
  path: PropertyKey[];
  key: string;
  /** The value found at the path, undefined when the key is missing. */
  value: unknown;
  /** What was wrong, with the value when it helps: `expected string: got 5`. */
  text: string;
}

/** One {@linkcode Issue} per zod issue (one per key for unknown keys); `input` is what was parsed. */
export function toIssues(issues: readonly z.core.$ZodIssue[], input: unknown): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...issue.path];
    const value = valueAt(input, path);
    const shown = formatValue(value);
    let text: string;
    switch (issue.code) {
      case "invalid_type":
        text = value === undefined ? "is required" : `expected ${issue.expected}: got ${shown}`;
        break;
      case "invalid_value":
        text = `must be one of ${issue.values.map((v) => formatValue(v)).join(", ")}: got ${shown}`;
        break;
      case "custom":
        text = value === undefined || issue.message.includes(shown)
          ? issue.message
          : `${issue.message}: got ${shown}`;
        break;
      default:
        text = `${lowerFirst(issue.message)}: got ${shown}`;
    }
    out.push({ path, key: formatPath(path), value, text });
  }
  return out;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

export { formatPath, formatValue, valueAt };

/**
 * Turns zod issues into the messages tern prints: the key path (`podCIDRs[0]`, `gc.interval`),
 * what was wrong and the value that was given. Shared by the config loader and the API handler;
 * private to the daemon.
 * @module
 */
import type { z } from "zod";
import { formatPath, formatValue, valueAt } from "../src/zod_issues.ts";

/** One line per problem, each `path: what was wrong: got value`; `input` is what was parsed. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path);
    const at = path === "" ? "" : `${path}: `;
    const value = valueAt(input, issue.path);
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) {
          out.push(`${formatPath([...issue.path, key])}: unknown key`);
        }
        break;
      case "invalid_type":
        out.push(
          value === undefined
            ? `${at}is required`
            : `${at}expected ${issue.expected}: got ${formatValue(value)}`,
        );
        break;
      case "invalid_value":
        out.push(
          `${at}must be one of ${issue.values.map((v) => formatValue(v)).join(", ")}: got ${
            formatValue(value)
          }`,
        );
        break;
      case "custom": {
        // Config checks put the value in their message; generic refinements get it appended.
        const shown = formatValue(value);
        const named = value === undefined || issue.message.includes(shown);
        out.push(`${at}${issue.message}${named ? "" : `: got ${shown}`}`);
        break;
      }
      default:
        out.push(`${at}${lowerFirst(issue.message)}: got ${formatValue(value)}`);
    }
  }
  return out;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

export { formatPath, formatValue };

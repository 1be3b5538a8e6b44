/**
 * Turns zod issues into the lines the daemon prints: `path: what was wrong: got value`, with
 * one line per unknown key (`log.lvl: unknown key`). Shared by the config loader and the API
 * handler; private to the daemon.
 * @module
 */
import type * as z from "../src/lib/zod.ts";
import { describeIssue, formatPath } from "../src/zod_issues.ts";

/** One line per problem, each `path: what was wrong: got value`; `input` is what was parsed. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`);
    }
    const { key, text } = describeIssue(issue, input);
    return [key === "" ? text : `${key}: ${text}`];
  });
}

/**
 * Turns zod issues from manifest validation into (key path, value, text) triples, in the style
 * of the daemon's config errors: `spec.podCIDRs[1]`, what was wrong, the value that was given.
 * Private to `src/cluster`.
 * @module
 */
import type { z } from "zod";

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

/** Renders a key path as `a.b[0].c`; the empty path is the empty string. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Renders a value for an error message: JSON, cut to 80 characters. */
export function formatValue(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The value at `path` inside `input`, or undefined. */
export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let here: unknown = input;
  for (const key of path) {
    if (here === null || typeof here !== "object") return undefined;
    here = (here as Record<PropertyKey, unknown>)[key];
  }
  return here;
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

/**
 * The pieces every zod-validated edge of tern shares to report a problem: the key path
 * (`spec.podCIDRs[1]`), the value found there, how to show it, and the usual wording of a zod
 * issue (`expected string: got 5`). The daemon's config and API, the cluster manifests and the
 * policy resources use {@linkcode describeIssue} and word only the issues they report otherwise.
 * Pure.
 * @module
 */
import type * as z from "./lib/zod.ts";

/** One problem found in validated input. */
export interface Issue {
  /** Key path, as a list (for line lookup). */
  path: PropertyKey[];
  /** Key path, rendered (`a.b[0].c`); empty for the input itself. */
  key: string;
  /** The value found at the path, undefined when the key is missing. */
  value: unknown;
  /** What was wrong, with the value when it helps: `expected string: got 5`. */
  text: string;
}

/**
 * The usual wording of one zod issue, found in `input` (what was parsed): `is required`,
 * `expected string: got 5`, `must be one of "a", "b": got "c"`, a check's own message (with the
 * value appended unless the message shows it), else zod's message lower-cased with the value.
 */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown): Issue {
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
  return { path, key: formatPath(path), value, text };
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
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

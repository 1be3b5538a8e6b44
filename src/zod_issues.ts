/**
 * The pieces every zod-validated edge of tern shares to report a problem: the key path
 * (`spec.podCIDRs[1]`), the value found there and how to show it. The daemon's config and API,
 * the cluster manifests and the policy resources each word their messages on top of these.
 * Pure.
 * @module
 */

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

/**
 * Hand-written shape checks for the JSON the plugin reads (network config, prevResult). The
 * plugin runs on every pod's critical path, so it carries no schema library. Each check throws a
 * {@linkcode ShapeError} that names the key path and the bad value; callers wrap it in the right
 * CNI error. Private to `plugin/`.
 * @module
 */
import type { CniDns } from "./result.ts";

/** A value at `path` is not of the expected shape. */
export class ShapeError extends TypeError {
  /** Key path, e.g. `prevResult.ips[0].address`. */
  readonly path: string;
  /** `"<path>" <what>: got <value>`. */
  constructor(path: string, what: string, value: unknown) {
    super(`"${path}" ${what}: got ${show(value)}`);
    this.name = "ShapeError";
    this.path = path;
  }
}

/** A value as an operator would want to read it in an error: JSON, cut at 80 characters. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Whether `value` is a JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` as an object, or a {@linkcode ShapeError}. */
export function record(value: unknown, path: string): Record<string, unknown> {
  if (!isRecord(value)) throw new ShapeError(path, "must be an object", value);
  return value;
}

/** `value` as an array, or a {@linkcode ShapeError}. */
export function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(path, "must be a list", value);
  return value;
}

/** `value` as a non-empty string, or a {@linkcode ShapeError}. */
export function string(value: unknown, path: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ShapeError(path, "must be a non-empty string", value);
  }
  return value;
}

/** `value` as a non-empty string, undefined when absent, or a {@linkcode ShapeError}. */
export function optionalString(value: unknown, path: string): string | undefined {
  return value === undefined ? undefined : string(value, path);
}

/** `value` as a list of strings, undefined when absent, or a {@linkcode ShapeError}. */
export function optionalStrings(value: unknown, path: string): string[] | undefined {
  if (value === undefined) return undefined;
  return array(value, path).map((item, i) => string(item, `${path}[${i}]`));
}

/** A `dns` object (nameservers, domain, search, options), checked field by field. */
export function parseDns(value: unknown, path: string): CniDns {
  const obj = record(value, path);
  const dns: CniDns = {};
  const nameservers = optionalStrings(obj.nameservers, `${path}.nameservers`);
  if (nameservers !== undefined) dns.nameservers = nameservers;
  const domain = optionalString(obj.domain, `${path}.domain`);
  if (domain !== undefined) dns.domain = domain;
  const search = optionalStrings(obj.search, `${path}.search`);
  if (search !== undefined) dns.search = search;
  const options = optionalStrings(obj.options, `${path}.options`);
  if (options !== undefined) dns.options = options;
  return dns;
}

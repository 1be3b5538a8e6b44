/**
 * Label and field selectors as the API server parses them ("Labels and Selectors" page:
 * equality-based `=`, `==`, `!=` and set-based `in`, `notin`, `key`, `!key`; field selectors:
 * `=`, `==`, `!=` on the fields a resource supports, an unsupported field being a 400). A
 * selector is parsed once per request into a matcher; objects carry their labels and field values
 * beside their serialized bytes, so matching never parses an object.
 * @module
 */

import { badRequest } from "./status.ts";

/** Tests a label set. */
export type LabelMatcher = (labels: Readonly<Record<string, string>>) => boolean;
/** Tests an object's field values. */
export type FieldMatcher = (fields: Readonly<Record<string, string>>) => boolean;

/** Matches everything. */
export const everything = (): boolean => true;

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

function checkKey(key: string, whole: string): string {
  if (!KEY.test(key)) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${whole}"`);
  }
  return key;
}

function parseRequirement(req: string, whole: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(req);
  if (set) {
    const key = checkKey(set[1]!, whole);
    const values = new Set(set[3]!.split(",").map((v) => v.trim()).filter((v) => v !== ""));
    if (set[2] === "in") {
      return (l) => Object.hasOwn(l, key) && values.has(l[key]!);
    }
    return (l) => !Object.hasOwn(l, key) || !values.has(l[key]!);
  }
  const op = /^([^!=<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(req);
  if (op) {
    const key = checkKey(op[1]!, whole);
    const value = op[3]!.trim();
    switch (op[2]) {
      case "=":
      case "==":
        return (l) => l[key] === value && Object.hasOwn(l, key);
      case "!=":
        return (l) => !Object.hasOwn(l, key) || l[key] !== value;
      default: {
        const n = Number(value);
        if (!Number.isInteger(n)) {
          throw badRequest(
            `unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: "${req}"`,
          );
        }
        const gt = op[2] === ">";
        return (l) => {
          if (!Object.hasOwn(l, key)) return false;
          const have = Number(l[key]);
          return Number.isInteger(have) && (gt ? have > n : have < n);
        };
      }
    }
  }
  if (req.startsWith("!")) {
    const key = checkKey(req.slice(1).trim(), whole);
    return (l) => !Object.hasOwn(l, key);
  }
  const key = checkKey(req, whole);
  return (l) => Object.hasOwn(l, key);
}

/** Parses a `labelSelector` query value; empty or absent matches everything; a bad one is a 400. */
export function parseLabelSelector(text: string | null): LabelMatcher {
  if (text === null || text.trim() === "") return everything;
  const reqs = splitTop(text).map((r) => parseRequirement(r, text));
  return (labels) => reqs.every((r) => r(labels));
}

function unescapeFieldValue(v: string): string {
  return v.replace(/\\(.)/g, "$1");
}

/** Splits on a separator not preceded by a backslash. */
function splitUnescaped(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && i + 1 < text.length) {
      cur += c + text[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * Parses a `fieldSelector` query value. `supported` lists the field labels the resource accepts
 * (metadata.name and metadata.namespace always are); any other is a 400 `field label not
 * supported`, as the real server answers.
 */
export function parseFieldSelector(
  text: string | null,
  supported: readonly string[],
): FieldMatcher {
  if (text === null || text.trim() === "") return everything;
  const reqs: Requirement[] = [];
  for (const part of splitUnescaped(text, ",")) {
    const p = part.trim();
    if (p === "") continue;
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(p);
    if (!m) {
      throw badRequest(
        `invalid field selector: "${text}": ${p} is not field=value or field!=value`,
      );
    }
    const field = m[1]!.trim();
    if (field !== "metadata.name" && field !== "metadata.namespace" && !supported.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    const value = unescapeFieldValue(m[3]!);
    reqs.push(
      m[2] === "!=" ? (f) => (f[field] ?? "") !== value : (f) => (f[field] ?? "") === value,
    );
  }
  return (fields) => reqs.every((r) => r(fields));
}

/** The field values an object exposes to field selectors: `labels` paths read from the object. */
export function fieldValues(
  obj: Record<string, unknown>,
  labels: readonly string[],
): Record<string, string> {
  const meta = (obj.metadata ?? {}) as { name?: string; namespace?: string };
  const out: Record<string, string> = {
    "metadata.name": meta.name ?? "",
    "metadata.namespace": meta.namespace ?? "",
  };
  for (const label of labels) {
    let v: unknown = obj;
    // An Event's `source` field label reads source.component, as the events registry maps it.
    const path = label === "source" ? "source.component" : label;
    for (const seg of path.split(".")) {
      v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[seg] : undefined;
    }
    // Booleans read as "false" when absent (spec.hostNetwork, spec.unschedulable), as the
    // server's field set converts them.
    if (v === undefined && (label === "spec.hostNetwork" || label === "spec.unschedulable")) {
      v = false;
    }
    out[label] = v === undefined || v === null ? "" : typeof v === "object" ? "" : String(v);
  }
  return out;
}

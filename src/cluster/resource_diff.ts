/**
 * The difference between two sets of resources, keyed by `resourceKey`, as the events a watch
 * yields. Pure. Equality is structural and ignores key order, so a manifest whose keys were
 * merely reordered changes nothing.
 * @module
 */
import type { Resource } from "./types.ts";

/** One difference: a resource that appeared, changed or went away (with its last version). */
export interface ResourceChange {
  type: "added" | "modified" | "deleted";
  resource: Resource;
}

const KIND_ORDER: Record<Resource["kind"], number> = {
  Namespace: 0,
  Node: 1,
  Pod: 2,
  NodeEndpoints: 3,
  Other: 4,
};

/**
 * What changed from `before` to `after` (both keyed by `resourceKey`). Additions and changes come
 * first, namespaces before nodes before pods, so a consumer sees a namespace before its pods;
 * deletions follow in the reverse order. Within a kind, by key.
 */
export function diffResources(
  before: ReadonlyMap<string, Resource>,
  after: ReadonlyMap<string, Resource>,
): ResourceChange[] {
  const upserts: [string, ResourceChange][] = [];
  const deletes: [string, ResourceChange][] = [];
  for (const [key, resource] of after) {
    const old = before.get(key);
    if (old === undefined) upserts.push([key, { type: "added", resource }]);
    // The same object: its file was not read again (comparing would cost O(its size)).
    else if (old !== resource && !sameResource(old, resource)) {
      upserts.push([key, { type: "modified", resource }]);
    }
  }
  for (const [key, resource] of before) {
    if (!after.has(key)) deletes.push([key, { type: "deleted", resource }]);
  }
  const order = ([ka, a]: [string, ResourceChange], [kb, b]: [string, ResourceChange]) =>
    KIND_ORDER[a.resource.kind] - KIND_ORDER[b.resource.kind] || (ka < kb ? -1 : ka > kb ? 1 : 0);
  upserts.sort(order);
  deletes.sort((a, b) => order(b, a));
  return [...upserts, ...deletes].map(([, change]) => change);
}

/** Whether two resources are structurally equal, whatever the order of their keys. */
export function sameResource(a: Resource, b: Resource): boolean {
  return sameValue(a, b);
}

/**
 * Deep equality of JSON-like values, ignoring key order; stops at the first difference (a changed
 * 10k-rule group differs early, where serializing both would cost ~1 MB of text each).
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return false;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  // An absent key and one holding undefined are the same, as in JSON. Keys are walked, not
  // listed: the kubernetes source asks this for every watch event (two arrays per object level
  // were ~3 KiB of garbage an event).
  let count = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k) || x[k] === undefined) continue;
    count++;
    if (!Object.hasOwn(y, k) || !sameValue(x[k], y[k])) return false;
  }
  for (const k in y) if (Object.hasOwn(y, k) && y[k] !== undefined) count--;
  return count === 0;
}

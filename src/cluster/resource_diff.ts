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
  return stableJson(a) === stableJson(b);
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

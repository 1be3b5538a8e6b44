/**
 * What to change so that what the kernel has becomes what tern wants: entries are matched by
 * identity (a route's table, destination and metric; a rule's priority and selectors); a wanted
 * entry that is missing is added, one whose attributes differ is replaced, and an owned entry
 * nobody wants is deleted. Pure. `have` must hold only entries carrying tern's protocol, so
 * nothing else is ever deleted.
 * @module
 */
import {
  type Route,
  routeKey,
  routeSatisfies,
  type Rule,
  ruleKey,
  ruleSatisfies,
} from "./model.ts";

/** The changes, each list sorted by identity. */
export interface Diff<T> {
  add: T[];
  del: T[];
  /** `from` is what the kernel has, `to` what replaces it. */
  replace: { from: T; to: T }[];
}

/** The route changes that turn `have` into `want`. */
export function diffRoutes(have: readonly Route[], want: readonly Route[]): Diff<Route> {
  return diffBy(have, want, { key: routeKey, satisfies: routeSatisfies });
}

/** The rule changes that turn `have` into `want`. */
export function diffRules(have: readonly Rule[], want: readonly Rule[]): Diff<Rule> {
  return diffBy(have, want, { key: ruleKey, satisfies: ruleSatisfies });
}

/** Whether a diff changes nothing. */
export function isEmptyDiff<T>(diff: Diff<T>): boolean {
  return diff.add.length === 0 && diff.del.length === 0 && diff.replace.length === 0;
}

/**
 * The generic diff. Several `have` entries with one identity (duplicates the kernel allows, e.g.
 * rules differing only in table) are reduced to one: a satisfying one is kept, the rest deleted.
 */
function diffBy<T>(
  have: readonly T[],
  want: readonly T[],
  how: { key: (item: T) => string; satisfies: (have: T, want: T) => boolean },
): Diff<T> {
  const current = new Map<string, T[]>();
  for (const item of have) {
    const key = how.key(item);
    current.set(key, [...(current.get(key) ?? []), item]);
  }
  const wanted = new Map<string, T>();
  for (const item of want) {
    const key = how.key(item);
    if (!wanted.has(key)) wanted.set(key, item);
  }
  const diff: Diff<T> = { add: [], del: [], replace: [] };
  for (const key of [...new Set([...current.keys(), ...wanted.keys()])].sort()) {
    const there = current.get(key) ?? [];
    const target = wanted.get(key);
    if (target === undefined) {
      diff.del.push(...there);
      continue;
    }
    const keep = there.findIndex((item) => how.satisfies(item, target));
    if (keep >= 0) {
      diff.del.push(...there.filter((_, i) => i !== keep));
    } else if (there.length === 0) {
      diff.add.push(target);
    } else {
      diff.replace.push({ from: there[0]!, to: target });
      diff.del.push(...there.slice(1));
    }
  }
  return diff;
}

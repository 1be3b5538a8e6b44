/**
 * First-match flattening: an ordered list of rules, each matching a union of boxes in (peer
 * address × protocol × port) and (peer address × ICMP type × code), becomes one list of
 * non-overlapping boxes, each labelled with the first rule that matches every packet inside it.
 * That is what lets nftables decide a layer with one interval-map lookup however many rules
 * there are, and what explain looks packets up in.
 *
 * The address axis is swept once: between two consecutive range ends the set of rules whose
 * peers cover the addresses is constant, and so is the answer on the two other axes, which is
 * computed once per distinct set (the same sweep in two dimensions) and reused. Neighbouring
 * address segments with the same answer are merged. Pure.
 * @module
 */
import type { Range } from "./ranges.ts";

/** Part of what a rule matches: every address in `addresses` with every `l4` and `icmp` box. */
export interface MatchTerm {
  /** Peer addresses, normalized (sorted, disjoint). */
  addresses: readonly Range[];
  /** Protocol × destination port boxes; protocol ranges must not include ICMP (1). */
  l4: ReadonlyArray<readonly [Range, Range]>;
  /** ICMP type × code boxes. */
  icmp: ReadonlyArray<readonly [Range, Range]>;
}

/** A rule: a label (what explain and counters name) and the union of its terms. */
export interface OrderedRule<L> {
  label: L;
  terms: readonly MatchTerm[];
}

/** One output box. */
export interface FlatBox<L> {
  space: "l4" | "icmp";
  addresses: Range;
  first: Range;
  second: Range;
  label: L;
}

/**
 * The first-match decision of `rules` (earlier wins) as non-overlapping boxes, sorted by space
 * (`l4` first), address, then the other axes. A packet in no box matches no rule.
 */
export function flattenFirstMatch<L>(rules: readonly OrderedRule<L>[]): FlatBox<L>[] {
  const out: FlatBox<L>[] = [];
  for (const space of ["l4", "icmp"] as const) {
    // Each space is swept on its own, so that an ICMP rule does not cut the address ranges
    // of protocol/port boxes (and the other way round).
    // Terms that share one address list (rules reading the same selection: the compiler hands
    // out the selection's ranges themselves) are always active together: the sweep sees them as
    // one term with several parts, not N copies of thousands of ranges.
    const terms: Term[] = [];
    const byAddresses = new Map<readonly Range[], Term>();
    rules.forEach((rule, order) => {
      for (const term of rule.terms) {
        if (term.addresses.length === 0 || term[space].length === 0) continue;
        const part = { order, boxes: term[space] };
        const same = byAddresses.get(term.addresses);
        if (same !== undefined) {
          same.parts.push(part);
          continue;
        }
        const added: Term = { addresses: term.addresses, parts: [part] };
        byAddresses.set(term.addresses, added);
        terms.push(added);
      }
    });
    for (const run of sweepAddresses(terms)) {
      for (const plane of run.planes) {
        out.push({
          space,
          addresses: [run.first, run.last],
          first: plane.first,
          second: plane.second,
          label: rules[plane.order]!.label,
        });
      }
    }
  }
  // The sweeps emit boxes in this order already; the check costs less than sorting 10k boxes.
  for (let i = 1; i < out.length; i++) {
    if (boxOrder(out[i - 1]!, out[i]!) > 0) return out.sort(boxOrder);
  }
  return out;
}

function boxOrder<L>(a: FlatBox<L>, b: FlatBox<L>): number {
  return (a.space === b.space ? 0 : a.space === "l4" ? -1 : 1) ||
    a.addresses[0] - b.addresses[0] || a.first[0] - b.first[0] || a.second[0] - b.second[0];
}

interface Term {
  addresses: readonly Range[];
  /** The rules (by order) and their boxes on the two other axes over these addresses. */
  parts: { order: number; boxes: ReadonlyArray<readonly [Range, Range]> }[];
}

interface Plane {
  first: Range;
  second: Range;
  order: number;
}

/** Address runs with their answer on the two other axes, neighbours with equal answers merged. */
function sweepAddresses(terms: Term[]): Run[] {
  return disjointRuns(terms) ?? overlappingRuns(terms);
}

/** Room for an address range's index beside its first address in one exact float64 key. */
const INDEX_SPAN = 2 ** 20;

/**
 * {@linkcode sweepAddresses} when no two address ranges of the terms overlap (a large group of
 * rules with one address each, say): each range is a segment of its own with its term's answer,
 * so the sweep is a sort of the ranges; undefined when two overlap (or for over a million
 * ranges), for {@linkcode overlappingRuns}. The ranges are sorted as numbers, first address ×
 * 2^20 + range index, without a comparator.
 */
function disjointRuns(terms: readonly Term[]): Run[] | undefined {
  let count = 0;
  for (const term of terms) count += term.addresses.length;
  if (count >= INDEX_SPAN) return undefined;
  const rangeTerm = new Int32Array(count);
  const rangeOf: Range[] = new Array(count);
  const keys = new Float64Array(count);
  let n = 0;
  terms.forEach((term, index) => {
    for (const range of term.addresses) {
      rangeTerm[n] = index;
      rangeOf[n] = range;
      keys[n] = range[0] * INDEX_SPAN + n;
      n++;
    }
  });
  keys.sort();
  const single: (Plane[] | undefined)[] = new Array(terms.length);
  const runs: Run[] = [];
  let end = -1;
  for (let k = 0; k < count; k++) {
    const at = keys[k]! % INDEX_SPAN;
    const [first, last] = rangeOf[at]!;
    if (first <= end) return undefined;
    end = last;
    const index = rangeTerm[at]!;
    const planes = single[index] ??= solveTerms(terms, [index]);
    const previous = runs[runs.length - 1];
    if (
      previous !== undefined && previous.last === first - 1 && samePlanes(previous.planes, planes)
    ) {
      previous.last = last;
    } else {
      runs.push({ first, last, planes });
    }
  }
  return runs;
}

/** {@linkcode sweepAddresses} in general: between two range ends, the set of active terms. */
function overlappingRuns(terms: Term[]): Run[] {
  const starts = new Map<number, number[]>();
  const ends = new Map<number, number[]>();
  const push = (map: Map<number, number[]>, at: number, index: number) => {
    const list = map.get(at);
    if (list) list.push(index);
    else map.set(at, [index]);
  };
  terms.forEach((term, index) => {
    for (const [first, last] of term.addresses) {
      push(starts, first, index);
      push(ends, last + 1, index);
    }
  });
  const unique = new Set(starts.keys());
  for (const at of ends.keys()) unique.add(at);
  // A typed array sorts numbers without a comparator (10k rules make 20k points).
  const points = Float64Array.from(unique).sort();
  // The answer of an address segment depends only on the terms active there: computed once per
  // distinct set. A single active term (the common case: rules with disjoint peers) is looked
  // up by index, without building the set's signature.
  const single: (Plane[] | undefined)[] = new Array(terms.length);
  const cache = new Map<string, Plane[]>();
  const runs: Run[] = [];
  const active = new Set<number>();
  for (let k = 0; k < points.length - 1; k++) {
    const at = points[k]!;
    for (const index of ends.get(at) ?? []) active.delete(index);
    for (const index of starts.get(at) ?? []) active.add(index);
    if (active.size === 0) continue;
    let planes: Plane[] | undefined;
    if (active.size === 1) {
      const index = active.values().next().value!;
      planes = single[index] ??= solveTerms(terms, [index]);
    } else {
      const indexes = [...active].sort((a, b) => a - b);
      const signature = indexes.join(",");
      planes = cache.get(signature);
      if (planes === undefined) {
        planes = solveTerms(terms, indexes);
        cache.set(signature, planes);
      }
    }
    const last = points[k + 1]! - 1;
    const previous = runs[runs.length - 1];
    if (previous !== undefined && previous.last === at - 1 && samePlanes(previous.planes, planes)) {
      previous.last = last;
    } else {
      runs.push({ first: at, last, planes });
    }
  }
  return runs;
}

interface Run {
  first: number;
  last: number;
  planes: Plane[];
}

/** The first-match answer on the two other axes of the terms `indexes` (ascending). */
function solveTerms(terms: readonly Term[], indexes: readonly number[]): Plane[] {
  if (indexes.length === 1) {
    const { parts } = terms[indexes[0]!]!;
    if (parts.length === 1 && parts[0]!.boxes.length === 1) {
      // One box is its own answer (what solve2d returns for it, without the two sweeps).
      const { order, boxes } = parts[0]!;
      const [first, second] = boxes[0]!;
      return [{ first: [first[0], first[1]], second: [second[0], second[1]], order }];
    }
  }
  const items: Item2[] = [];
  for (const index of indexes) {
    for (const { order, boxes } of terms[index]!.parts) {
      for (const [first, second] of boxes) items.push({ order, first, second });
    }
  }
  return solve2d(items);
}

/** Whether two answers are the same boxes with the same rules (so neighbouring runs merge). */
function samePlanes(a: readonly Plane[], b: readonly Plane[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.order !== y.order || x.first[0] !== y.first[0] || x.first[1] !== y.first[1] ||
      x.second[0] !== y.second[0] || x.second[1] !== y.second[1]
    ) return false;
  }
  return true;
}

interface Item2 {
  order: number;
  first: Range;
  second: Range;
}

function solve2d(items: Item2[]): { first: Range; second: Range; order: number }[] {
  const points = sweepPoints(items.map((i) => i.first));
  const out: { first: Range; second: Range; order: number }[] = [];
  let previous: { first: number; last: number; key: string; segments: Segment[] } | undefined;
  const flush = () => {
    if (previous === undefined) return;
    for (const s of previous.segments) {
      out.push({
        first: [previous.first, previous.last],
        second: [s.first, s.last],
        order: s.order,
      });
    }
  };
  for (let k = 0; k < points.length - 1; k++) {
    const at = points[k]!;
    const last = points[k + 1]! - 1;
    const covering = items.filter((i) => i.first[0] <= at && at <= i.first[1]);
    if (covering.length === 0) continue;
    const segments = solve1d(covering.map((i) => ({ range: i.second, order: i.order })));
    const key = segments.map((s) => `${s.first}-${s.last}:${s.order}`).join(";");
    if (previous !== undefined && previous.last === at - 1 && previous.key === key) {
      previous.last = last;
    } else {
      flush();
      previous = { first: at, last, key, segments };
    }
  }
  flush();
  return out;
}

interface Segment {
  first: number;
  last: number;
  order: number;
}

function solve1d(items: { range: Range; order: number }[]): Segment[] {
  const points = sweepPoints(items.map((i) => i.range));
  const out: Segment[] = [];
  for (let k = 0; k < points.length - 1; k++) {
    const at = points[k]!;
    let order = Infinity;
    for (const item of items) {
      if (item.range[0] <= at && at <= item.range[1] && item.order < order) order = item.order;
    }
    if (order === Infinity) continue;
    const last = points[k + 1]! - 1;
    const top = out[out.length - 1];
    if (top !== undefined && top.last === at - 1 && top.order === order) top.last = last;
    else out.push({ first: at, last, order });
  }
  return out;
}

function sweepPoints(ranges: Range[]): number[] {
  const set = new Set<number>();
  for (const [first, last] of ranges) {
    set.add(first);
    set.add(last + 1);
  }
  return [...set].sort((a, b) => a - b);
}

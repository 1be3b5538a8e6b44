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
import { normalizeRanges, type Range, subtractRanges } from "./ranges.ts";

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

// ---- patching a kept flatten -------------------------------------------------------------------

/** What {@linkcode patchFirstMatch} needs of the caller's boxes (a `FlatBox` with its label renamed, say). */
export interface BoxAdapter<L, B> {
  /** The rule label of a box. */
  label(box: B): L;
  /** The caller's box for a flattened one. */
  make(box: FlatBox<L>): B;
  /**
   * A rule's identity: an old and a new rule with the same key are the same rule, and their
   * labels must be equal (the patch keeps the old label object).
   */
  key(label: L): string;
}

/** A box without its label: what {@linkcode patchFirstMatch} reads of the caller's boxes. */
export type BoxAxes = Omit<FlatBox<unknown>, "label">;

/** A kept flatten: the rules as {@linkcode patchFirstMatch} returned them, and their boxes. */
export interface KeptFlatten<L, B> {
  rules: readonly OrderedRule<L>[];
  boxes: readonly B[];
}

/**
 * Past this many changed address ranges a patch is no cheaper than flattening again (a rule
 * reading a large selection added or removed).
 */
const MAX_CHANGED_RANGES = 256;

/**
 * {@linkcode flattenFirstMatch} of `rules`, computed from `previous` (an earlier flatten of
 * rules that may differ) by redoing only the addresses where the answer can differ: those of
 * rules added or removed, of rules whose protocol/port or ICMP boxes changed, and the addresses
 * that entered or left a rule's peers (a pod added to or removed from a selection: one address).
 * Everywhere else the first-match answer is that of the same rules in the same order, so the old
 * boxes stay; the boxes around a redone range are cut at its ends and neighbours with the same
 * answer are merged again, which gives the same boxes as flattening from scratch.
 *
 * The rules returned are `rules` with the labels of `previous` where a rule is kept (so that
 * kept boxes and new ones name a rule by one object); keep them with the boxes for the next
 * patch. Undefined when a patch does not pay or does not apply: rules kept in another order, two
 * rules with one key, or more than a few hundred address ranges changed; then flatten anew.
 */
export function patchFirstMatch<L, B extends BoxAxes>(
  previous: KeptFlatten<L, B>,
  rules: readonly OrderedRule<L>[],
  adapter: BoxAdapter<L, B>,
): KeptFlatten<L, B> | undefined {
  const diff = changedAddresses(previous.rules, rules, adapter.key);
  if (diff === undefined) return undefined;
  const { relabelled, changed } = diff;
  if (changed.length === 0) return { rules: relabelled, boxes: previous.boxes };
  // The answer inside the changed ranges: the rules with their peers cut to those ranges. Lists
  // shared by several terms stay shared (one term for the sweep).
  const clipped = new Map<readonly Range[], Range[]>();
  const clip = (list: readonly Range[]) => {
    let out = clipped.get(list);
    if (out === undefined) clipped.set(list, out = clipRanges(list, changed));
    return out;
  };
  const fresh = flattenFirstMatch(relabelled.map((rule) => ({
    label: rule.label,
    terms: rule.terms.map((term) => ({ ...term, addresses: clip(term.addresses) })),
  })));
  // The old boxes are sorted by space, `l4` first (as flatten sorts them); so are the fresh.
  const boxes: B[] = [];
  const oldL4 = spaceEnd(previous.boxes);
  const freshL4 = spaceEnd(fresh);
  const made = fresh.map((b) => adapter.make(b));
  spliceSpace({
    old: previous.boxes,
    oldSpan: [0, oldL4],
    fresh: made,
    freshSpan: [0, freshL4],
    changed,
    adapter,
    out: boxes,
  });
  spliceSpace({
    old: previous.boxes,
    oldSpan: [oldL4, previous.boxes.length],
    fresh: made,
    freshSpan: [freshL4, made.length],
    changed,
    adapter,
    out: boxes,
  });
  return { rules: relabelled, boxes };
}

/**
 * The addresses where the first-match answer of `now` may differ from that of `old`, and `now`
 * with the labels of `old` where a rule is kept; undefined when the kept rules changed order.
 */
function changedAddresses<L>(
  old: readonly OrderedRule<L>[],
  now: readonly OrderedRule<L>[],
  key: (label: L) => string,
): { relabelled: OrderedRule<L>[]; changed: Range[] } | undefined {
  const oldIndex = new Map<string, number>();
  for (let i = 0; i < old.length; i++) {
    const k = key(old[i]!.label);
    if (oldIndex.has(k)) return undefined;
    oldIndex.set(k, i);
  }
  const parts: (readonly Range[])[] = [];
  let count = 0;
  const add = (ranges: readonly Range[]) => {
    if (ranges.length === 0) return;
    parts.push(ranges);
    count += ranges.length;
  };
  const addRule = (rule: OrderedRule<L>) => {
    for (const term of rule.terms) add(term.addresses);
  };
  const kept = new Uint8Array(old.length);
  const differences = new Map<readonly Range[], Map<readonly Range[], Range[]>>();
  const relabelled: OrderedRule<L>[] = [];
  let last = -1;
  for (const rule of now) {
    const j = oldIndex.get(key(rule.label));
    if (j === undefined || kept[j] === 1) {
      if (j !== undefined) return undefined;
      relabelled.push(rule);
      addRule(rule);
      continue;
    }
    if (j < last) return undefined;
    last = j;
    kept[j] = 1;
    const before = old[j]!;
    relabelled.push(
      rule.label === before.label ? rule : { label: before.label, terms: rule.terms },
    );
    if (!sameAxes(before.terms, rule.terms)) {
      addRule(before);
      addRule(rule);
      continue;
    }
    for (let t = 0; t < rule.terms.length; t++) {
      const a = before.terms[t]!.addresses;
      const b = rule.terms[t]!.addresses;
      if (a === b) continue;
      let byNew = differences.get(a);
      if (byNew === undefined) differences.set(a, byNew = new Map());
      let difference = byNew.get(b);
      if (difference === undefined) {
        difference = [...subtractRanges(a, b), ...subtractRanges(b, a)];
        byNew.set(b, difference);
        add(difference);
      }
    }
    if (count > MAX_CHANGED_RANGES) return undefined;
  }
  for (let j = 0; j < old.length; j++) if (kept[j] === 0) addRule(old[j]!);
  if (count > MAX_CHANGED_RANGES) return undefined;
  return { relabelled, changed: normalizeRanges(parts.flat()) };
}

/** Whether two rules' terms are the same but for their addresses. */
function sameAxes(a: readonly MatchTerm[], b: readonly MatchTerm[]): boolean {
  if (a.length !== b.length) return false;
  for (let t = 0; t < a.length; t++) {
    if (!samePairs(a[t]!.l4, b[t]!.l4) || !samePairs(a[t]!.icmp, b[t]!.icmp)) return false;
  }
  return true;
}

function samePairs(
  a: ReadonlyArray<readonly [Range, Range]>,
  b: ReadonlyArray<readonly [Range, Range]>,
): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const [x1, x2] = a[i]!;
    const [y1, y2] = b[i]!;
    if (x1[0] !== y1[0] || x1[1] !== y1[1] || x2[0] !== y2[0] || x2[1] !== y2[1]) return false;
  }
  return true;
}

/** The parts of normalized `ranges` inside normalized `within` (binary search per range of `within`). */
function clipRanges(ranges: readonly Range[], within: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (const [first, last] of within) {
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid]![1] < first) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < ranges.length && ranges[k]![0] <= last; k++) {
      const [a, b] = ranges[k]!;
      out.push([Math.max(a, first), Math.min(b, last)]);
    }
  }
  return out;
}

/** The index of the first `icmp` box of boxes sorted by space (`l4` first). */
function spaceEnd(boxes: readonly BoxAxes[]): number {
  let lo = 0;
  let hi = boxes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (boxes[mid]!.space === "l4") lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Appends to `out` the boxes of one space: the old ones (`old[oldSpan[0]..oldSpan[1])`) outside
 * `changed`, cut at its ends, and the fresh ones inside, neighbours with the same answer merged
 * as the sweep merges them. A piece (the boxes of one address range with one answer:
 * `source[from..to)` on `[first, last]`) is merged into the one before or emitted as it comes,
 * with no object per piece: a patch walks every one of a layer's ~10 000 boxes.
 */
function spliceSpace<L, B extends BoxAxes>(
  at: {
    old: readonly B[];
    oldSpan: readonly [number, number];
    fresh: readonly B[];
    freshSpan: readonly [number, number];
    changed: readonly Range[];
    adapter: BoxAdapter<L, B>;
    out: B[];
  },
): void {
  const { old, fresh, changed, adapter, out } = at;
  const oldEnd = at.oldSpan[1];
  const freshEnd = at.freshSpan[1];
  // The piece being built.
  let open = false;
  let curFirst = 0;
  let curLast = 0;
  let curSource: readonly B[] = old;
  let curFrom = 0;
  let curTo = 0;
  const sameAnswer = (source: readonly B[], from: number, to: number) => {
    if (curTo - curFrom !== to - from) return false;
    for (let k = 0; k < to - from; k++) {
      const x = curSource[curFrom + k]!;
      const y = source[from + k]!;
      if (
        adapter.label(x) !== adapter.label(y) ||
        x.first[0] !== y.first[0] || x.first[1] !== y.first[1] ||
        x.second[0] !== y.second[0] || x.second[1] !== y.second[1]
      ) return false;
    }
    return true;
  };
  const emit = () => {
    const whole = curSource[curFrom]!.addresses;
    if (whole[0] === curFirst && whole[1] === curLast) {
      for (let k = curFrom; k < curTo; k++) out.push(curSource[k]!);
      return;
    }
    const addresses: Range = [curFirst, curLast];
    for (let k = curFrom; k < curTo; k++) {
      const box = curSource[k]!;
      out.push(adapter.make({
        space: box.space,
        addresses,
        first: box.first,
        second: box.second,
        label: adapter.label(box),
      }));
    }
  };
  const piece = (first: number, last: number, source: readonly B[], from: number, to: number) => {
    if (open && curLast + 1 === first && sameAnswer(source, from, to)) {
      curLast = last;
      return;
    }
    if (open) emit();
    open = true;
    curFirst = first;
    curLast = last;
    curSource = source;
    curFrom = from;
    curTo = to;
  };
  let f = at.freshSpan[0];
  const freshBefore = (address: number) => {
    while (f < freshEnd && fresh[f]!.addresses[0] < address) {
      const from = f;
      const range = fresh[f]!.addresses;
      while (f < freshEnd && fresh[f]!.addresses[0] === range[0]) f++;
      piece(range[0], range[1], fresh, from, f);
    }
  };
  let c = 0;
  for (let i = at.oldSpan[0]; i < oldEnd;) {
    const from = i;
    const range = old[i]!.addresses;
    const first = range[0];
    const last = range[1];
    while (i < oldEnd && old[i]!.addresses[0] === first) i++;
    while (c < changed.length && changed[c]![1] < first) c++;
    let start = first;
    for (let k = c; k < changed.length && changed[k]![0] <= last; k++) {
      const cut = changed[k]!;
      if (cut[0] > start) {
        freshBefore(start);
        piece(start, cut[0] - 1, old, from, i);
      }
      start = cut[1] + 1;
    }
    if (start <= last) {
      freshBefore(start);
      piece(start, last, old, from, i);
    }
  }
  freshBefore(Infinity);
  if (open) emit();
}

/**
 * Sets of unsigned integers as sorted, disjoint, inclusive ranges: the peer addresses (IPv4 as
 * 32-bit integers), protocols and ports of policy rules. Pure.
 * @module
 */
import { maskOf, parseCidr } from "../cidr.ts";

/** An inclusive range `[first, last]` of unsigned integers. */
export type Range = readonly [number, number];

/** Every IPv4 address. */
export const ALL_ADDRESSES: Range = [0, 0xffffffff];

/** Every port (and every ICMP type or code is `[0, 255]`). */
export const ALL_PORTS: Range = [0, 65535];

/** The addresses of an IPv4 CIDR; host bits are ignored (`10.0.0.1/24` is `10.0.0.0/24`). */
export function cidrRange(text: string): Range {
  const { network, prefix } = parseCidr(text, { strict: false });
  return [network, (network + 2 ** (32 - prefix) - 1) >>> 0];
}

/** Sorts `ranges` and merges those that overlap or touch. */
export function normalizeRanges(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [first, last] of sorted) {
    const top = out[out.length - 1];
    if (top !== undefined && first <= top[1] + 1) top[1] = Math.max(top[1], last);
    else out.push([first, last]);
  }
  return out;
}

/**
 * The union of normalized lists, normalized: merged in one walk per list (no sort), so that the
 * union of two 10 000-range selections costs their length. May return one of `lists`.
 */
export function unionRanges(lists: readonly (readonly Range[])[]): readonly Range[] {
  let out: readonly Range[] = [];
  for (const list of lists) {
    out = out.length === 0 ? list : list.length === 0 ? out : mergeTwo(out, list);
  }
  return out;
}

/**
 * The merge of two normalized lists. A range of the result that is a range of `a` or `b` is that
 * range object, not a copy: a selection's union is kept between policy runs and remade when a
 * peer comes or goes, and copying its ~10 000 pairs each time was most of a run's garbage (the
 * ranges are read-only).
 */
function mergeTwo(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let i = 0;
  let j = 0;
  // The range being built: `[first, last]`, and the input range it still equals, if any.
  let same: Range | undefined;
  let first = 0;
  let last = -2;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const nextFirst = next[0];
    const nextLast = next[1];
    if (same !== undefined || last >= first) {
      if (nextFirst <= last + 1) {
        if (nextLast > last) {
          last = nextLast;
          same = undefined;
        }
        continue;
      }
      out.push(same ?? [first, last]);
    }
    same = next;
    first = nextFirst;
    last = nextLast;
  }
  if (same !== undefined || last >= first) out.push(same ?? [first, last]);
  return out;
}

/** Normalized `ranges` with `value` added (a copy; `ranges` itself when it has it already). */
export function withValue(ranges: readonly Range[], value: number): readonly Range[] {
  // Every range before `at` ends before value - 1: neither holds nor touches value.
  const at = firstEndingAtOrAfter(ranges, value - 1);
  const range = ranges[at];
  if (range !== undefined && range[0] <= value && value <= range[1]) return ranges;
  const out = ranges.slice();
  if (range === undefined || range[0] > value + 1) {
    out.splice(at, 0, [value, value]);
  } else if (range[0] === value + 1) {
    out[at] = [value, range[1]];
  } else {
    // The range ends right before value; the next one may start right after it.
    const after = ranges[at + 1];
    if (after !== undefined && after[0] === value + 1) out.splice(at, 2, [range[0], after[1]]);
    else out[at] = [range[0], value];
  }
  return out;
}

/** Normalized `ranges` without `value` (a copy; `ranges` itself when it does not have it). */
export function withoutValue(ranges: readonly Range[], value: number): readonly Range[] {
  const at = firstEndingAtOrAfter(ranges, value);
  const range = ranges[at];
  if (range === undefined || range[0] > value) return ranges;
  const [first, last] = range;
  const parts: Range[] = [];
  if (first < value) parts.push([first, value - 1]);
  if (value < last) parts.push([value + 1, last]);
  const out = ranges.slice();
  out.splice(at, 1, ...parts);
  return out;
}

/** The index of the first of normalized `ranges` whose last value is `value` or more. */
function firstEndingAtOrAfter(ranges: readonly Range[], value: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]![1] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * What is in `a` and not in `b`; both must be normalized. A range of `a` that `b` does not touch
 * is that range object (ranges are read-only). Indexed loops, no destructuring: the patch of a
 * kept flatten calls this on selections of ~10 000 ranges (docs/benchmarks.md, "Less garbage per
 * event").
 */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    const range = a[i]!;
    const first = range[0];
    const last = range[1];
    let from = first;
    while (j < b.length && b[j]![1] < from) j++;
    if (j >= b.length || b[j]![0] > last) {
      out.push(range);
      continue;
    }
    for (let k = j; k < b.length && b[k]![0] <= last && from <= last; k++) {
      const hole = b[k]!;
      if (hole[0] > from) out.push([from, hole[0] - 1]);
      from = Math.max(from, hole[1] + 1);
    }
    if (from <= last) out.push([from, last]);
  }
  return out;
}

/** What is in both `a` and `b`; both must be normalized. */
export function intersectRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    const first = Math.max(x[0], y[0]);
    const last = Math.min(x[1], y[1]);
    if (first <= last) out.push(first === x[0] && last === x[1] ? x : [first, last]);
    if (x[1] < y[1]) i++;
    else j++;
  }
  return out;
}

/** Whether `value` lies in one of the normalized `ranges` (binary search). */
export function rangesContain(ranges: readonly Range[], value: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = ranges[mid]!;
    if (value < first) hi = mid - 1;
    else if (value > last) lo = mid + 1;
    else return true;
  }
  return false;
}

/** A dotted quad (as `formatIp`, without building an array: tables have 10k of them). */
function formatIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** `n`, or `first-last`. */
export function formatRange(range: Range): string {
  return range[0] === range[1] ? String(range[0]) : `${range[0]}-${range[1]}`;
}

/** An address range as nft writes it: `a.b.c.d`, `a.b.c.d/len` when it is a prefix, or `a-b`. */
export function formatAddressRange(range: Range): string {
  const [first, last] = range;
  if (first === last) return formatIp(first);
  const size = last - first + 1;
  const prefix = 32 - Math.log2(size);
  if (Number.isInteger(prefix) && ((first & maskOf(prefix)) >>> 0) === first) {
    return `${formatIp(first)}/${prefix}`;
  }
  return `${formatIp(first)}-${formatIp(last)}`;
}

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

function mergeTwo(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const top = out[out.length - 1];
    if (top !== undefined && next[0] <= top[1] + 1) top[1] = Math.max(top[1], next[1]);
    else out.push([next[0], next[1]]);
  }
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

/** What is in `a` and not in `b`; both must be normalized. */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let j = 0;
  for (const [first, last] of a) {
    let from = first;
    while (j < b.length && b[j]![1] < from) j++;
    let k = j;
    while (k < b.length && b[k]![0] <= last && from <= last) {
      const [bFirst, bLast] = b[k]!;
      if (bFirst > from) out.push([from, bFirst - 1]);
      from = Math.max(from, bLast + 1);
      k++;
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
    const [aFirst, aLast] = a[i]!;
    const [bFirst, bLast] = b[j]!;
    const first = Math.max(aFirst, bFirst);
    const last = Math.min(aLast, bLast);
    if (first <= last) out.push([first, last]);
    if (aLast < bLast) i++;
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

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

import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import { CIDR_SPELLINGS, MALFORMED_CIDRS } from "../_cidr_cases.ts";
import { parseCidr, parseIp } from "../cidr.ts";
import {
  cidrRange,
  formatAddressRange,
  formatRange,
  intersectRanges,
  normalizeRanges,
  type Range,
  rangesContain,
  subtractRanges,
  unionRanges,
  withoutValue,
  withValue,
} from "./ranges.ts";

Deno.test("normalizeRanges() sorts and merges overlapping and touching ranges", () => {
  assertEquals(normalizeRanges([[10, 20], [1, 3], [4, 5], [15, 30], [40, 40]]), [[1, 5], [
    10,
    30,
  ], [40, 40]]);
});

Deno.test("subtractRanges() cuts holes, trims ends and drops covered ranges", () => {
  assertEquals(subtractRanges([[0, 100]], [[10, 20], [30, 30]]), [[0, 9], [21, 29], [31, 100]]);
  assertEquals(subtractRanges([[0, 10], [20, 30]], [[5, 25]]), [[0, 4], [26, 30]]);
  assertEquals(subtractRanges([[5, 6]], [[0, 100]]), []);
  assertEquals(subtractRanges([[5, 6]], []), [[5, 6]]);
});

Deno.test("intersectRanges() keeps only the common part", () => {
  assertEquals(intersectRanges([[0, 10], [20, 30]], [[5, 25]]), [[5, 10], [20, 25]]);
  assertEquals(intersectRanges([[0, 10]], [[11, 20]]), []);
});

Deno.test("rangesContain() finds values at the edges and misses the gaps", () => {
  const set = normalizeRanges([[1, 3], [10, 10], [20, 30]]);
  assertEquals([0, 1, 3, 4, 10, 11, 20, 30, 31].map((n) => rangesContain(set, n)), [
    false,
    true,
    true,
    false,
    true,
    false,
    true,
    true,
    false,
  ]);
});

Deno.test("cidrRange() clears host bits and covers the whole prefix", () => {
  assertEquals(cidrRange("10.0.0.1/24"), [parseIp("10.0.0.0"), parseIp("10.0.0.255")]);
  assertEquals(cidrRange("0.0.0.0/0"), [0, 0xffffffff]);
  assertEquals(cidrRange("192.168.1.7/32"), [parseIp("192.168.1.7"), parseIp("192.168.1.7")]);
});

Deno.test("formatAddressRange() writes an address, a prefix or a range", () => {
  assertEquals(formatAddressRange(cidrRange("10.0.0.7/32")), "10.0.0.7");
  assertEquals(formatAddressRange(cidrRange("10.0.0.0/24")), "10.0.0.0/24");
  assertEquals(formatAddressRange([0, 0xffffffff]), "0.0.0.0/0");
  assertEquals(formatAddressRange([parseIp("10.0.0.1"), parseIp("10.0.0.2")]), "10.0.0.1-10.0.0.2");
  assertEquals(formatAddressRange([parseIp("10.0.0.2"), parseIp("10.0.0.5")]), "10.0.0.2-10.0.0.5");
  assertEquals(formatRange([80, 80]), "80");
  assertEquals(formatRange([80, 90]), "80-90");
});

Deno.test("cidrRange() reads what parseCidr reads, clears host bits and refuses the rest", () => {
  for (const [text] of CIDR_SPELLINGS) {
    const { network, prefix } = parseCidr(text, { strict: false });
    assertEquals(cidrRange(text), [network, (network + 2 ** (32 - prefix) - 1) >>> 0], text);
  }
  for (const text of MALFORMED_CIDRS) {
    assertThrows(() => cidrRange(text), TypeError);
  }
});

/** Random normalized lists over a small space, so that ranges touch often. */
function randomLists(seed: number): () => Range[] {
  let state = seed;
  const random = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  return () => {
    const out: Range[] = [];
    for (let k = 0; k < random(8); k++) {
      const first = random(40);
      out.push([first, first + random(3)]);
    }
    return normalizeRanges(out);
  };
}

Deno.test("unionRanges() equals normalizing the lists together", () => {
  const next = randomLists(7);
  for (let i = 0; i < 500; i++) {
    const lists = [next(), next(), next()].slice(0, 1 + (i % 3));
    assertEquals(unionRanges(lists), normalizeRanges(lists.flat()), `case ${i}`);
  }
});

Deno.test("withValue() and withoutValue() equal normalizing the values with or without it", () => {
  const next = randomLists(11);
  for (let i = 0; i < 500; i++) {
    const list = next();
    const values = new Set(
      list.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k)),
    );
    const value = i % 43;
    const as = (set: Set<number>) => normalizeRanges([...set].map((v) => [v, v] as const));
    assertEquals(
      withValue(list, value),
      as(new Set([...values, value])),
      `add ${value} to ${JSON.stringify(list)}`,
    );
    values.delete(value);
    assertEquals(
      withoutValue(list, value),
      as(values),
      `remove ${value} from ${JSON.stringify(list)}`,
    );
  }
});

/** The values of normalized ranges, one by one (small spaces only). */
function valuesOf(list: readonly Range[]): Set<number> {
  return new Set(list.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k)));
}

/** The normalized ranges of a set of values. */
function rangesOf(values: Set<number>): Range[] {
  return normalizeRanges([...values].map((v) => [v, v] as const));
}

Deno.test("subtractRanges() and intersectRanges() equal the set operations on random lists", () => {
  const next = randomLists(23);
  for (let i = 0; i < 500; i++) {
    const a = next();
    const b = next();
    const va = valuesOf(a);
    const vb = valuesOf(b);
    const at = `${JSON.stringify(a)} and ${JSON.stringify(b)}`;
    assertEquals(subtractRanges(a, b), rangesOf(new Set([...va].filter((v) => !vb.has(v)))), at);
    assertEquals(intersectRanges(a, b), rangesOf(new Set([...va].filter((v) => vb.has(v)))), at);
  }
});

Deno.test("subtractRanges(), intersectRanges() and unionRanges() give untouched ranges as they are", () => {
  // A selection's ranges are kept between policy runs: a range the operation does not change
  // is the same object, not a copy (docs/benchmarks.md, "Less garbage per event").
  const a: Range[] = [[1, 3], [10, 12], [20, 20], [30, 40]];
  const b: Range[] = [[11, 11], [25, 26], [50, 50]];
  const difference = subtractRanges(a, b);
  assertEquals(difference, [[1, 3], [10, 10], [12, 12], [20, 20], [30, 40]]);
  assert(difference[0] === a[0] && difference[3] === a[2] && difference[4] === a[3]);
  const common = intersectRanges(a, [[0, 5], [30, 40], [60, 70]]);
  assertEquals(common, [[1, 3], [30, 40]]);
  assert(common[0] === a[0] && common[1] === a[3]);
  const union = unionRanges([a, b]);
  assertEquals(union, [[1, 3], [10, 12], [20, 20], [25, 26], [30, 40], [50, 50]]);
  assert(union[0] === a[0] && union[1] === a[1] && union[3] === b[1] && union[5] === b[2]);
  // Merged ranges are new; the inputs are not changed.
  const touching = unionRanges([[[1, 3]], [[4, 6], [8, 9]]]);
  assertEquals(touching, [[1, 6], [8, 9]]);
  assertEquals(a, [[1, 3], [10, 12], [20, 20], [30, 40]]);
});

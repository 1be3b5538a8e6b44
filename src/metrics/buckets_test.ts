import { assertEquals, assertThrows } from "../../test/assert.ts";
import { decadeBuckets } from "./buckets.ts";

Deno.test("decadeBuckets() gives the 1, 2.5 and 5 steps of each decade as exact decimals", () => {
  assertEquals(decadeBuckets(0.005, 10), [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  assertEquals(decadeBuckets(0.0005, 0.01), [0.0005, 0.001, 0.0025, 0.005, 0.01]);
  assertEquals(decadeBuckets(100, 1000), [100, 250, 500, 1000]);
});

Deno.test("decadeBuckets() keeps only the steps between bounds that are not steps", () => {
  assertEquals(decadeBuckets(0.003, 0.3), [0.005, 0.01, 0.025, 0.05, 0.1, 0.25]);
  assertEquals(decadeBuckets(1, 1), [1]);
});

Deno.test("decadeBuckets() refuses an empty or unbounded range", () => {
  assertThrows(() => decadeBuckets(0, 1), RangeError, "need 0 < from <= to");
  assertThrows(() => decadeBuckets(2, 1), RangeError, "from 2 to 1");
  assertThrows(() => decadeBuckets(1, Infinity), RangeError);
});

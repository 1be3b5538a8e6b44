import { assert, assertEquals } from "../test/assert.ts";
import {
  createTransaction,
  elementAddress,
  formatNftMaps,
  operationTransaction,
  quantile,
  SHAPES,
  shardOf,
} from "./bench_nft_maps.ts";

Deno.test("elementAddress() spaces elements two apart so that none merge into a range", () => {
  assertEquals([0, 1, 127, 128].map(elementAddress), [
    "10.0.0.1",
    "10.0.0.3",
    "10.0.0.255",
    "10.0.1.1",
  ]);
});

Deno.test("shardOf() splits elements by address into equal runs", () => {
  const counts = new Array(16).fill(0);
  for (let i = 0; i < 10000; i++) counts[shardOf(i, 10000, 16)]++;
  assertEquals(counts, new Array(16).fill(625));
  assertEquals(shardOf(10000, 10000, 16), 15, "a new element goes to the last shard");
});

Deno.test("createTransaction() writes each map's elements in one block, interval or not", () => {
  const [interval, sharded, hash] = SHAPES;
  const whole = createTransaction(interval!, 2500);
  assertEquals(whole.match(/elements = \{/g)?.length, 1, "a second block would replace the first");
  assertEquals(whole.match(/ : accept/g)?.length, 2500);
  assert(whole.includes("flags interval"));
  assertEquals(createTransaction(sharded!, 32).match(/\tmap m\d+ \{/g)?.length, 16);
  assert(!createTransaction(hash!, 10).includes("flags interval"));
});

Deno.test("operationTransaction() replaces a verdict by a delete and an add in one transaction", () => {
  assertEquals(
    operationTransaction("replace verdict", { i: 1, shard: 3 }),
    "delete element inet bench m3 { 10.0.0.3 . tcp . 7777 }\n" +
      "add element inet bench m3 { 10.0.0.3 . tcp . 7777 : drop }\n",
  );
  assertEquals(
    operationTransaction("delete oldest", { i: 0, shard: 0 }),
    "delete element inet bench m0 { 10.0.0.1 . tcp . 7777 }\n",
  );
});

Deno.test("formatNftMaps() prints each shape's median and p90 per size and operation", () => {
  const times = (ms: number) =>
    new Map(
      (["nothing", "add", "replace verdict", "delete newest", "delete oldest"] as const).map((
        op,
      ) => [op, [ms, ms, ms * 2]]),
    );
  const text = formatNftMaps({
    rounds: 3,
    loadBefore: "1.00 1.00 1.00",
    loadAfter: "2.00 1.00 1.00",
    results: [
      { shape: "interval", size: 1000, create: [30], times: times(40) },
      { shape: "hash", size: 1000, create: [20], times: times(10) },
    ],
  });
  assert(text.startsWith("3 rounds, load 1.00 1.00 1.00 at start, 2.00 1.00 1.00 at end"));
  assert(/1000, delete newest +40\.0 \/ 80\.0 +10\.0 \/ 20\.0/.test(text), text);
  assertEquals(quantile([5, 1, 3], 0.5), 3);
});

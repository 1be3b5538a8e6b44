import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import { formatCidr, parseCidr, parseIp } from "../cidr.ts";
import {
  blockAt,
  blockCount,
  blockFromName,
  blockIndex,
  blockName,
  blockOf,
  blockRange,
  candidateIndexes,
  fnv1a,
  nextFreeBlock,
} from "./block_cidrs.ts";

const pool = parseCidr("10.244.0.0/16");

Deno.test("blockCount() counts the blocks of a pool and refuses a block larger than it", () => {
  assertEquals(blockCount(pool, 26), 1024);
  assertEquals(blockCount(pool, 16), 1);
  assertEquals(blockCount(parseCidr("10.0.0.0/24"), 32), 256);
  assertThrows(() => blockCount(pool, 15), RangeError, "/16../32");
});

Deno.test("blockAt() and blockIndex() are inverse over the whole pool", () => {
  assertEquals(formatCidr(blockAt(pool, 26, 0)), "10.244.0.0/26");
  assertEquals(formatCidr(blockAt(pool, 26, 5)), "10.244.1.64/26");
  assertEquals(formatCidr(blockAt(pool, 26, 1023)), "10.244.255.192/26");
  for (let i = 0; i < 1024; i += 37) assertEquals(blockIndex(pool, 26, blockAt(pool, 26, i)), i);
  assertThrows(() => blockAt(pool, 26, 1024), RangeError, "1024 of 1024");
  assertEquals(blockIndex(pool, 26, parseCidr("10.245.0.0/26")), undefined);
  assertEquals(blockIndex(pool, 26, parseCidr("10.244.0.0/25")), undefined);
});

Deno.test("blockOf() finds the block that holds an address", () => {
  assertEquals(formatCidr(blockOf(parseIp("10.244.3.77"), 26)), "10.244.3.64/26");
  assertEquals(formatCidr(blockOf(parseIp("255.255.255.255"), 26)), "255.255.255.192/26");
});

Deno.test("blockName() and blockFromName() round-trip and refuse other names", () => {
  assertEquals(blockName(parseCidr("10.244.3.64/26")), "10-244-3-64-26");
  assertEquals(blockName("10.244.3.64/26"), "10-244-3-64-26");
  assertEquals(formatCidr(blockFromName("10-244-3-64-26")!), "10.244.3.64/26");
  assertEquals(blockFromName("10-244-3-65-26"), undefined);
  assertEquals(blockFromName("my-block"), undefined);
});

Deno.test("blockRange() hands out every address of a block", () => {
  const range = blockRange(parseCidr("10.244.3.64/26"));
  assertEquals(range.last - range.first + 1, 64);
  assertEquals(range.first, parseIp("10.244.3.64"));
});

Deno.test("candidateIndexes() visits every block once, from a start that depends on the node", () => {
  const order = [...candidateIndexes(64, "node-a")];
  assertEquals(order.length, 64);
  assertEquals(new Set(order).size, 64);
  assertEquals(order[0], fnv1a("node-a") % 64);
  assertEquals([...candidateIndexes(64, "node-a")], order, "stable across calls");
  const starts = new Set(
    Array.from({ length: 50 }, (_, i) => [...candidateIndexes(1024, `node-${i}`)][0]),
  );
  assert(starts.size >= 45, `50 nodes should start at spread offsets: ${starts.size} distinct`);
  assertEquals([...candidateIndexes(0, "x")], []);
});

Deno.test("fnv1a() matches the published FNV-1a test vectors", () => {
  assertEquals(fnv1a(""), 0x811c9dc5);
  assertEquals(fnv1a("a"), 0xe40c292c);
  assertEquals(fnv1a("foobar"), 0xbf9cf968);
});

Deno.test("nextFreeBlock() skips taken blocks and is undefined when the pool is full", () => {
  const small = parseCidr("10.0.0.0/24");
  const first = nextFreeBlock(small, 26, "n1", new Set())!;
  const second = nextFreeBlock(small, 26, "n1", new Set([formatCidr(first)]))!;
  assert(formatCidr(first) !== formatCidr(second));
  const all = new Set([0, 1, 2, 3].map((i) => formatCidr(blockAt(small, 26, i))));
  assertEquals(nextFreeBlock(small, 26, "n1", all), undefined);
});

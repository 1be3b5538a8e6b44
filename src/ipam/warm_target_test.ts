import { assertEquals } from "../../test/assert.ts";
import { decideWarm, type OwnedBlock, type WarmTargets } from "./warm_target.ts";

const targets: WarmTargets = {
  warmIPTarget: 10,
  minimumIPTarget: 0,
  maxBlocks: 4,
  releaseCooldownMs: 60_000,
};
const opts = { blockCapacity: 64, now: 1_000_000 };

function block(cidr: string, used: number, emptySince?: number): OwnedBlock {
  const b: OwnedBlock = { cidr, capacity: 64, used };
  if (emptySince !== undefined) b.emptySince = emptySince;
  return b;
}

Deno.test("decideWarm() claims a block when free addresses fall below warmIPTarget", () => {
  assertEquals(decideWarm([block("a", 60)], targets, opts).claim, 1);
  assertEquals(decideWarm([block("a", 54)], targets, opts).claim, 0);
  assertEquals(decideWarm([], targets, opts).claim, 1);
});

Deno.test("decideWarm() claims enough blocks for minimumIPTarget at once", () => {
  const d = decideWarm([], { ...targets, warmIPTarget: 0, minimumIPTarget: 150 }, opts);
  assertEquals(d.claim, 3);
  assertEquals(d.wanted, 150);
});

Deno.test("decideWarm() never claims past maxBlocks", () => {
  const full = [block("a", 64), block("b", 64), block("c", 64)];
  assertEquals(decideWarm(full, targets, opts).claim, 1);
  assertEquals(decideWarm([...full, block("d", 64)], targets, opts).claim, 0);
  assertEquals(decideWarm([], { ...targets, minimumIPTarget: 1000 }, opts).claim, 4);
});

Deno.test("decideWarm() keeps nothing when no target asks for addresses", () => {
  const d = decideWarm([], { ...targets, warmIPTarget: 0 }, opts);
  assertEquals(d, { claim: 0, release: [], wanted: 0 });
});

Deno.test("decideWarm() releases an empty block beyond the target only after the cooldown", () => {
  const early = decideWarm([block("a", 5), block("b", 0, opts.now - 1_000)], targets, opts);
  assertEquals(early.release, []);
  assertEquals(early.recheckAt, opts.now - 1_000 + 60_000);
  const late = decideWarm([block("a", 5), block("b", 0, opts.now - 60_000)], targets, opts);
  assertEquals(late.release, ["b"]);
});

Deno.test("decideWarm() never releases a block in use, nor one the target still needs", () => {
  const inUse = decideWarm([block("a", 1), block("b", 1)], { ...targets, warmIPTarget: 0 }, opts);
  assertEquals(inUse.release, []);
  const needed = decideWarm([block("a", 60), block("b", 0, 0)], targets, opts);
  assertEquals(needed.release, []);
  const floor = decideWarm(
    [block("a", 0, 0)],
    { ...targets, warmIPTarget: 0, minimumIPTarget: 1 },
    opts,
  );
  assertEquals(floor.release, []);
});

Deno.test("decideWarm() releases the longest-empty blocks first, down to the target", () => {
  const blocks = [block("a", 0, 500), block("b", 0, 100), block("c", 0, 300)];
  const d = decideWarm(blocks, targets, opts);
  assertEquals(d.release, ["b", "c"]);
});

import { assertEquals } from "../test/assert.ts";
import { FakeClock } from "../src/clock.ts";
import { heapWorthCollecting, MemoryTrimmer } from "./memory_trimmer.ts";

Deno.test("MemoryTrimmer trims once an interval after a poke, and not at rest", async () => {
  const clock = new FakeClock(0);
  let rss = 150 * 2 ** 20;
  const calls: number[] = [];
  const trimmer = new MemoryTrimmer({
    clock,
    intervalMs: 60_000,
    rss: () => rss,
    trim: (pad) => {
      calls.push(pad);
      rss -= 40 * 2 ** 20; // glibc gave 40 MiB back
      return 1;
    },
  });
  trimmer.start();
  await clock.tick(60_000);
  assertEquals(calls, [], "nothing happened: nothing to trim");
  trimmer.poke();
  trimmer.poke();
  await clock.tick(60_000);
  assertEquals(calls, [0], "one trim for any number of pokes");
  await clock.tick(60_000);
  assertEquals(calls.length, 1, "at rest again");
  assertEquals(trimmer.stats, { trims: 1, collections: 0, releasedBytes: 40 * 2 ** 20 });
  trimmer.stop();
  trimmer.poke();
  await clock.tick(120_000);
  assertEquals(calls.length, 1, "stopped");
});

Deno.test("MemoryTrimmer does nothing where there is no malloc_trim", async () => {
  const clock = new FakeClock(0);
  const trimmer = new MemoryTrimmer({ clock, trim: undefined });
  assertEquals(trimmer.available, false);
  trimmer.start();
  trimmer.poke();
  await trimmer.trimNow("test");
  await clock.tick(120_000);
  assertEquals(trimmer.stats, { trims: 0, collections: 0, releasedBytes: 0 });
});

Deno.test("MemoryTrimmer counts a trim that released nothing as no memory given back", async () => {
  let rss = 100;
  const trimmer = new MemoryTrimmer({
    rss: () => rss++, // resident memory moved up by a page meanwhile
    trim: () => 0,
  });
  await trimmer.trimNow("test");
  assertEquals(trimmer.stats, { trims: 1, collections: 0, releasedBytes: 0 });
});

Deno.test("glibc's malloc_trim is found on this machine and a trim runs off the event loop", async () => {
  const trimmer = new MemoryTrimmer();
  assertEquals(trimmer.available, true);
  await trimmer.trimNow("test");
  assertEquals(trimmer.stats.trims, 1);
});

Deno.test("heapWorthCollecting: more spare than live, and at least 16 MiB of it", () => {
  const mib = 2 ** 20;
  assertEquals(
    heapWorthCollecting({ used: 16 * mib, total: 60 * mib }),
    true,
    "the soak after load",
  );
  assertEquals(heapWorthCollecting({ used: 16 * mib, total: 30 * mib }), false, "a sawtooth");
  assertEquals(heapWorthCollecting({ used: 4 * mib, total: 18 * mib }), false, "little to gain");
  assertEquals(heapWorthCollecting({ used: 225 * mib, total: 340 * mib }), false, "at scale");
});

Deno.test("MemoryTrimmer collects before a trim when V8 keeps spare heap, at most every collectEveryMs", async () => {
  const clock = new FakeClock(0);
  const mib = 2 ** 20;
  let heap = { used: 16 * mib, total: 60 * mib };
  const calls: string[] = [];
  const trimmer = new MemoryTrimmer({
    clock,
    intervalMs: 60_000,
    collectEveryMs: 600_000,
    rss: () => 100,
    heap: () => heap,
    collect: () => {
      calls.push("collect");
      heap = { used: 15 * mib, total: 20 * mib };
    },
    trim: () => {
      calls.push("trim");
      return 1;
    },
  });
  trimmer.start();
  trimmer.poke();
  await clock.tick(60_000);
  assertEquals(
    calls,
    ["collect", "trim"],
    "the collection first, so the trim returns what it freed",
  );
  heap = { used: 16 * mib, total: 60 * mib }; // grown again at once
  trimmer.poke();
  await clock.tick(60_000);
  assertEquals(calls, ["collect", "trim", "trim"], "not again within ten minutes");
  for (let i = 0; i < 9; i++) {
    trimmer.poke();
    await clock.tick(60_000);
  }
  assertEquals(calls.filter((c) => c === "collect").length, 2, "again after ten minutes");
  heap = { used: 16 * mib, total: 24 * mib };
  for (let i = 0; i < 11; i++) {
    trimmer.poke();
    await clock.tick(60_000);
  }
  assertEquals(calls.filter((c) => c === "collect").length, 2, "not while the heap is tight");
  assertEquals(trimmer.stats.collections, 2);
  trimmer.stop();
});

import { assertEquals } from "../test/assert.ts";
import { FakeClock } from "../src/clock.ts";
import { MemoryTrimmer } from "./memory_trimmer.ts";

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
  assertEquals(trimmer.stats, { trims: 1, releasedBytes: 40 * 2 ** 20 });
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
  assertEquals(trimmer.stats, { trims: 0, releasedBytes: 0 });
});

Deno.test("MemoryTrimmer counts a trim that released nothing as no memory given back", async () => {
  let rss = 100;
  const trimmer = new MemoryTrimmer({
    rss: () => rss++, // resident memory moved up by a page meanwhile
    trim: () => 0,
  });
  await trimmer.trimNow("test");
  assertEquals(trimmer.stats, { trims: 1, releasedBytes: 0 });
});

Deno.test("glibc's malloc_trim is found on this machine and a trim runs off the event loop", async () => {
  const trimmer = new MemoryTrimmer();
  assertEquals(trimmer.available, true);
  await trimmer.trimNow("test");
  assertEquals(trimmer.stats.trims, 1);
});

import { assertEquals } from "../test/assert.ts";
import { FakeClock } from "../src/clock.ts";
import { recordingLogger } from "../test/recording_logger.ts";
import { LoopStalls } from "./loop_stalls.ts";

/** A fake clock whose reading runs ahead of its timers by `held`: a loop held that long. */
class HeldClock extends FakeClock {
  held = 0;
  override now(): number {
    return super.now() + this.held;
  }
}

Deno.test("LoopStalls logs a timer that fired later than the threshold, not one on time", async () => {
  const clock = new HeldClock(1_000);
  const lines: string[] = [];
  const watch = new LoopStalls({
    clock,
    log: recordingLogger(lines),
    processNow: () => 5_000,
  });
  watch.start();
  await clock.tick(50); // on time
  await clock.tick(40);
  clock.held = 250; // the loop was held: the timer fires 250 ms after it was due
  await clock.tick(10);
  watch.stop();
  assertEquals(lines, ['info The event loop was held {"heldMs":250,"endedAtMs":5000}']);
  assertEquals(watch.stats, { stalls: 1, longestMs: 250, heldMs: 250 });
  await clock.tick(1_000); // stopped: nothing more
  assertEquals(lines.length, 1);
});

Deno.test("LoopStalls parks when nothing pokes it, and a poke wakes it", async () => {
  const clock = new HeldClock(1_000);
  const lines: string[] = [];
  const watch = new LoopStalls({ clock, log: recordingLogger(lines), idleAfterMs: 1_000 });
  watch.start();
  assertEquals(watch.watching, true);
  await clock.tick(1_100); // a second with no poke: the timer parks
  assertEquals(watch.watching, false);
  clock.held = 500; // held while parked: nobody waited, nothing is logged
  await clock.tick(50);
  assertEquals(lines, []);
  clock.held = 0;
  watch.poke();
  assertEquals(watch.watching, true);
  await clock.tick(40);
  clock.held = 300;
  await clock.tick(10);
  assertEquals(watch.stats.stalls, 1);
  watch.stop();
  watch.poke(); // stopped: a poke does not start it
  assertEquals(watch.watching, false);
});

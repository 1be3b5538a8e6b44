import { assertEquals, assertRejects } from "../test/assert.ts";
import { FakeClock, sleep } from "./clock.ts";

Deno.test("FakeClock.tick() fires due timers in time order and advances now", async () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push("late"), 100);
  await clock.tick(50);
  assertEquals(fired, ["a@10", "b@20"]);
  assertEquals(clock.now(), 50);
  assertEquals(clock.pending, 1);
});

Deno.test("FakeClock.tick() lets code awaiting a timer set the next one within the same tick", async () => {
  const clock = new FakeClock(0);
  const seen: number[] = [];
  (async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(clock, 10);
      seen.push(clock.now());
    }
  })();
  await clock.tick(35);
  assertEquals(seen, [10, 20, 30]);
});

Deno.test("FakeClock.clearTimeout() cancels a pending timer", async () => {
  const clock = new FakeClock(0);
  let fired = false;
  const handle = clock.setTimeout(() => fired = true, 5);
  clock.clearTimeout(handle);
  await clock.tick(10);
  assertEquals(fired, false);
});

Deno.test("sleep() rejects with the signal's reason when aborted", async () => {
  const clock = new FakeClock(0);
  const abort = new AbortController();
  const slept = sleep(clock, 1_000, abort.signal);
  abort.abort(new Error("Stopped"));
  await assertRejects(() => slept, Error, "Stopped");
  assertEquals(clock.pending, 0);
});

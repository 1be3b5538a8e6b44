import { assertEquals } from "../../test/assert.ts";
import { FakeClock } from "../../src/clock.ts";
import { BoundedRead } from "./bounded_read.ts";

Deno.test("BoundedRead reads at most once per maxAgeMs, however often it is asked", async () => {
  const clock = new FakeClock();
  let reads = 0;
  const read = new BoundedRead(() => Promise.resolve(++reads), {
    maxAgeMs: 10_000,
    waitMs: 1_000,
    clock,
  });
  assertEquals((await read.get()).value, 1);
  for (let i = 0; i < 5; i++) {
    await clock.tick(1_000);
    assertEquals((await read.get()).value, 1);
  }
  await clock.tick(5_000);
  assertEquals((await read.get()).value, 2);
  assertEquals(reads, 2);
});

Deno.test("BoundedRead answers a scrape with the last reading once waitMs passed, and keeps the slow read for the next", async () => {
  const clock = new FakeClock();
  const slow = Promise.withResolvers<string>();
  let calls = 0;
  const read = new BoundedRead(() => {
    calls++;
    return calls === 1 ? Promise.resolve("first") : slow.promise;
  }, { maxAgeMs: 1_000, waitMs: 500, clock });
  assertEquals((await read.get()).value, "first");
  await clock.tick(1_000);
  const scrape = read.get();
  await clock.tick(500);
  const answered = await scrape;
  assertEquals([answered.value, answered.readAt], ["first", 1_000_000]);
  // Another scrape meanwhile starts no second read.
  const again = read.get();
  slow.resolve("second");
  assertEquals((await again).value, "second");
  assertEquals(calls, 2);
});

Deno.test("BoundedRead counts failures, keeps the last value, and waits maxAgeMs before trying again", async () => {
  const clock = new FakeClock();
  let fail = false;
  const read = new BoundedRead(
    () => fail ? Promise.reject(new Error("Table inet tern is missing")) : Promise.resolve(7),
    { maxAgeMs: 1_000, waitMs: 100, clock },
  );
  await read.get();
  fail = true;
  await clock.tick(1_000);
  const failed = await read.get();
  assertEquals([failed.value, failed.failures, failed.error], [7, 1, "Table inet tern is missing"]);
  assertEquals((await read.get()).failures, 1);
  fail = false;
  await clock.tick(1_000);
  const ok = await read.get();
  assertEquals([ok.value, ok.failures, ok.error], [7, 1, undefined]);
});

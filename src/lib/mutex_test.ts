import { assertEquals, assertRejects } from "../../test/assert.ts";
import { Mutex } from "./mutex.ts";

Deno.test("Mutex.run() never overlaps sections and keeps call order", async () => {
  const mutex = new Mutex();
  const events: string[] = [];
  const section = (name: string, ms: number) =>
    mutex.run(async () => {
      events.push(`${name}+`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      events.push(`${name}-`);
      return name;
    });
  const results = await Promise.all([section("a", 20), section("b", 1), section("c", 5)]);
  assertEquals(results, ["a", "b", "c"]);
  assertEquals(events, ["a+", "a-", "b+", "b-", "c+", "c-"]);
});

Deno.test("Mutex.run() goes on after a section that throws", async () => {
  const mutex = new Mutex();
  await assertRejects(() => mutex.run(() => Promise.reject(new Error("boom"))), Error, "boom");
  assertEquals(await mutex.run(() => Promise.resolve(7)), 7);
});

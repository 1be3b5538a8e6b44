import { assertEquals } from "../../test/assert.ts";
import { pooled } from "./pooled.ts";

Deno.test("pooled() keeps the items' order whatever order they finish in", async () => {
  const out = await pooled([30, 0, 10], 3, async (ms) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return ms * 2;
  });
  assertEquals(out, [60, 0, 20]);
});

Deno.test("pooled() never runs more than limit at once", async () => {
  let running = 0;
  let most = 0;
  await pooled(Array.from({ length: 10 }, (_, i) => i), 3, async () => {
    running++;
    most = Math.max(most, running);
    await Promise.resolve();
    await Promise.resolve();
    running--;
  });
  assertEquals(most, 3);
});

Deno.test("pooled() of no items is empty", async () => {
  assertEquals(await pooled([], 4, () => Promise.resolve(1)), []);
});

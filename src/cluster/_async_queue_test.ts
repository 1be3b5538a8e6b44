import { assertEquals } from "../../test/assert.ts";
import { AsyncQueue } from "./_async_queue.ts";

Deno.test("AsyncQueue takes a burst larger than any argument list, in order", async () => {
  // A relist of 150 000 pods is one burst: spread into push(...) it overflowed the call stack.
  const queue = new AsyncQueue<number>();
  const burst = Array.from({ length: 300_000 }, (_, i) => i);
  queue.pushAll(burst);
  queue.push(300_000);
  queue.close();
  let count = 0;
  let ordered = true;
  for await (const n of queue) ordered &&= n === count++;
  assertEquals([count, ordered], [300_001, true]);
});

Deno.test("AsyncQueue ignores pushes after close", async () => {
  const queue = new AsyncQueue<string>();
  queue.push("a");
  queue.close();
  queue.pushAll(["b"]);
  const seen: string[] = [];
  for await (const s of queue) seen.push(s);
  assertEquals(seen, ["a"]);
});

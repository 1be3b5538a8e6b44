import { assertEquals } from "../../test/assert.ts";
import { CleanupStack } from "./cleanup_stack.ts";

Deno.test("CleanupStack.unwind() stops the last pushed first, and every step once", async () => {
  const stack = new CleanupStack();
  const order: string[] = [];
  const part = stack.push({ stop: () => Promise.resolve(void order.push("cluster")) });
  stack.defer(() => void order.push("kv"));
  stack.push({ stop: () => Promise.resolve(void order.push("api")) });
  assertEquals([typeof part.stop, stack.size], ["function", 3]);
  await stack.unwind();
  await stack.unwind();
  assertEquals(order, ["api", "kv", "cluster"]);
  assertEquals(stack.size, 0);
});

Deno.test("CleanupStack.unwind() reports a failing step and still runs the others", async () => {
  const stack = new CleanupStack();
  const order: string[] = [];
  const errors: string[] = [];
  stack.defer(() => void order.push("first"));
  stack.defer(() => Promise.reject(new Error("Cannot stop: stuck")));
  stack.defer(() => void order.push("last"));
  await stack.unwind((err) => errors.push((err as Error).message));
  assertEquals([order, errors], [["last", "first"], ["Cannot stop: stuck"]]);
});

import { assertEquals } from "../../test/assert.ts";
import { RetryBackoff } from "./retry_backoff.ts";

Deno.test("RetryBackoff doubles the wait per failure up to the bound and forgets on success", () => {
  const backoff = new RetryBackoff({ initialMs: 100, maxMs: 1_000 });
  assertEquals(backoff.due("a", 0), true);
  const waits = [];
  let now = 0;
  for (let i = 0; i < 6; i++) {
    const entry = backoff.failed("a", `e${i}`, now);
    waits.push(entry.retryAt - now);
    assertEquals(backoff.due("a", entry.retryAt - 1), false);
    assertEquals(backoff.due("a", entry.retryAt), true);
    now = entry.retryAt;
  }
  assertEquals(waits, [100, 200, 400, 800, 1_000, 1_000]);
  assertEquals(backoff.entries()[0]![1].since, 0);
  assertEquals(backoff.entries()[0]![1].error, "e5");
  backoff.succeeded("a");
  assertEquals(backoff.size, 0);
  assertEquals(backoff.nextRetryAt(), undefined);
});

Deno.test("RetryBackoff.retain() forgets what is no longer wanted; nextRetryAt() is the earliest", () => {
  const backoff = new RetryBackoff({ initialMs: 100 });
  backoff.failed("a", "x", 50);
  backoff.failed("b", "x", 0);
  backoff.failed("b", "x", 0);
  assertEquals(backoff.nextRetryAt(), 150);
  backoff.retain(new Set(["b"]));
  assertEquals(backoff.entries().map(([id]) => id), ["b"]);
  assertEquals(backoff.nextRetryAt(), 200);
});

import { assert, assertEquals, assertRejects } from "./assert.ts";
import { PollTimeoutError, pollUntil } from "./poll.ts";

Deno.test("pollUntil() returns the first value that is neither undefined nor false", async () => {
  let calls = 0;
  const { value, ms } = await pollUntil(() => (++calls >= 3 ? "ready" : false), {
    what: "the third call",
    intervalMs: 1,
  });
  assertEquals(value, "ready");
  assertEquals(calls, 3);
  assert(ms >= 0);
});

Deno.test("pollUntil() treats a throwing check as not yet and reports its error on timeout", async () => {
  const err = await assertRejects(
    () =>
      pollUntil(() => {
        throw new Error("Route is missing: 10.244.2.0/24");
      }, { what: "a route", timeoutMs: 30, intervalMs: 5 }),
    PollTimeoutError,
    "waiting for a route: last seen Route is missing: 10.244.2.0/24",
  );
  assert(err.message.startsWith("Timed out after 30 ms"));
});

Deno.test("pollUntil() reports lastSeen() on timeout", async () => {
  await assertRejects(
    () =>
      pollUntil(() => undefined, {
        what: "nothing",
        timeoutMs: 10,
        intervalMs: 2,
        lastSeen: () => ({ routes: ["10.244.3.0/24"] }),
      }),
    PollTimeoutError,
    `{"routes":["10.244.3.0/24"]}`,
  );
});

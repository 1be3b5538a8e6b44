import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";
import type { ApiError, StatusResponse } from "../../src/api.ts";
import { FakeClock } from "../../src/clock.ts";
import { startingHandler } from "./starting_handler.ts";

const status = () => new Request("http://ternd/v1/status");
const allocate = () =>
  new Request("http://ternd/v1/endpoints", { method: "POST", body: JSON.stringify({}) });

Deno.test("a starting daemon answers status with ready false and what it waits for", async () => {
  const clock = new FakeClock(1_000);
  const serving = startingHandler("node-a", {
    waitMs: 8_000,
    clock,
    state: () => ({
      phase: "waiting for the first lists from the Kubernetes API server",
      cluster: () => ({
        source: "kubernetes:https://10.0.0.1:6443",
        nodes: 0,
        pods: 0,
        errors: [],
        publishEndpoints: true,
        synced: false,
      }),
    }),
  });
  await clock.tick(250);
  const res = await serving.handle(status());
  assertEquals(res.status, 200);
  const body = await res.json() as StatusResponse;
  assertEquals([body.ready, body.node, body.uptimeMs, body.free], [false, "node-a", 250, 0]);
  assertEquals(body.starting, "waiting for the first lists from the Kubernetes API server");
  assertEquals(body.cluster?.synced, false);
});

Deno.test("a request to a starting daemon goes to the handler attached within the wait", async () => {
  const clock = new FakeClock();
  const serving = startingHandler("node-a", {
    waitMs: 8_000,
    clock,
    state: () => ({ phase: "x" }),
  });
  const answered = serving.handle(allocate());
  await clock.tick(3_000);
  serving.attach((req) => Promise.resolve(new Response(`real ${req.method}`, { status: 201 })));
  const res = await answered;
  assertEquals([res.status, await res.text()], [201, "real POST"]);
  assert(serving.attached);
  assertEquals(clock.pending, 0, "the wait's timer is cleared");
  // From now on everything, status included, is the real handler's.
  assertEquals(await (await serving.handle(status())).text(), "real GET");
});

Deno.test("a request to a starting daemon fails with 503 unavailable after the wait", async () => {
  const clock = new FakeClock();
  const serving = startingHandler("node-a", {
    waitMs: 8_000,
    clock,
    state: () => ({ phase: "waiting for the first lists from the Kubernetes API server" }),
  });
  let settled = false;
  const answered = serving.handle(allocate()).finally(() => settled = true);
  await clock.tick(7_999);
  assertEquals(settled, false, "still waiting just before the bound");
  await clock.tick(1);
  const res = await answered;
  assertEquals(res.status, 503);
  const body = await res.json() as ApiError;
  assertEquals(body.reason, "unavailable");
  assertStringIncludes(
    body.error,
    "Daemon is not ready: starting: waiting for the first lists from the Kubernetes API server",
  );
});

Deno.test("a daemon stopping during start-up answers its waiting requests at once", async () => {
  // The server's shutdown waits for requests in flight: without this, a stop during start-up
  // would wait out every ADD's syncWait first.
  const clock = new FakeClock();
  const serving = startingHandler("node-a", {
    waitMs: 60_000,
    clock,
    state: () => ({ phase: "waiting for the first lists from the Kubernetes API server" }),
  });
  const answered = serving.handle(allocate());
  await clock.tick(1_000);
  serving.close();
  const res = await answered;
  assertEquals(res.status, 503);
  const body = await res.json() as ApiError;
  assertEquals(body.reason, "unavailable");
  assertStringIncludes(body.error, "Daemon is stopping");
  assertEquals(clock.pending, 0, "the wait's timer is cleared");
  // A request that comes later does not wait either.
  const late = await serving.handle(allocate());
  assertEquals(late.status, 503);
  assertEquals(clock.pending, 0);
});

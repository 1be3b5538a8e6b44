import { assert, assertEquals } from "../../test/assert.ts";
import type { PublishedEndpoint } from "../../src/cluster/types.ts";
import { EndpointPublisher } from "./endpoint_publisher.ts";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ep(n: number): PublishedEndpoint {
  return { containerID: `c${n}`, ifname: "eth0", ip: `10.244.1.${n}` };
}

Deno.test("EndpointPublisher coalesces a burst of 50 changes into one write that has them all, soon after", async () => {
  let list: PublishedEndpoint[] = [];
  const writes: { at: number; count: number }[] = [];
  const start = performance.now();
  const publisher = new EndpointPublisher(
    (endpoints) => {
      writes.push({ at: performance.now() - start, count: endpoints.length });
      return Promise.resolve(true);
    },
    () => list,
    { delayMs: 30 },
  );
  for (let i = 1; i <= 50; i++) {
    list = [...list, ep(i)];
    publisher.markDirty();
    await Promise.resolve();
  }
  await tick(80);
  assertEquals(writes.map((w) => w.count), [50]);
  assert(writes[0]!.at < 200, `written after ${writes[0]!.at} ms`);
  assertEquals([publisher.writes, publisher.status?.endpoints], [1, 50]);
  await publisher.stop();
});

Deno.test("EndpointPublisher writes at most once per delay while changes keep coming, never starving", async () => {
  let list: PublishedEndpoint[] = [];
  const writes: number[] = [];
  const publisher = new EndpointPublisher(
    (endpoints) => {
      writes.push(endpoints.length);
      return Promise.resolve(true);
    },
    () => list,
    { delayMs: 40 },
  );
  const start = performance.now();
  for (let i = 1; i <= 20; i++) {
    list = [...list, ep(i)];
    publisher.markDirty();
    await tick(5);
  }
  const spent = performance.now() - start;
  await tick(80);
  assert(writes.length >= 2, `wrote during the stream: ${writes.join(", ")}`);
  assert(writes.length <= Math.ceil(spent / 40) + 1, `${writes.length} writes in ${spent} ms`);
  assertEquals(writes.at(-1), 20);
  await publisher.stop();
});

Deno.test("EndpointPublisher writes once more for changes made during a write", async () => {
  let list = [ep(1)];
  const seen: number[] = [];
  const release = Promise.withResolvers<void>();
  let first = true;
  const publisher = new EndpointPublisher(
    async (endpoints) => {
      seen.push(endpoints.length);
      if (first) {
        first = false;
        await release.promise;
      }
      return true;
    },
    () => list,
    { delayMs: 5 },
  );
  publisher.markDirty();
  await tick(20);
  list = [ep(1), ep(2)];
  publisher.markDirty();
  publisher.markDirty();
  release.resolve();
  await tick(30);
  assertEquals(seen, [1, 2]);
  await publisher.stop();
});

Deno.test("EndpointPublisher retries a failed write with a growing wait and reports it in status", async () => {
  let fail = 2;
  const attempts: number[] = [];
  const start = performance.now();
  const publisher = new EndpointPublisher(
    () => {
      attempts.push(Math.round(performance.now() - start));
      return fail-- > 0 ? Promise.reject(new Error("disk full")) : Promise.resolve(true);
    },
    () => [ep(1)],
    { delayMs: 1, retryMinMs: 20, retryMaxMs: 100 },
  );
  publisher.markDirty();
  await tick(10);
  assertEquals(publisher.status?.error, "disk full");
  await tick(100);
  assertEquals(attempts.length, 3);
  assert(attempts[2]! - attempts[1]! >= 35, `second wait doubled: ${attempts.join(", ")}`);
  assertEquals(publisher.status?.error, undefined);
  await publisher.stop();
});

Deno.test("EndpointPublisher.retryNow() runs a waiting retry at once, and does nothing otherwise", async () => {
  let fail = true;
  let attempts = 0;
  const publisher = new EndpointPublisher(
    () => {
      attempts++;
      return fail ? Promise.reject(new Error("API server unreachable")) : Promise.resolve(true);
    },
    () => [ep(1)],
    { delayMs: 10_000, retryMinMs: 10_000 },
  );
  publisher.retryNow(); // nothing failed, nothing scheduled: no write
  await tick(20);
  assertEquals(attempts, 0);
  await publisher.flush(); // fails; the retry waits 10 s
  assertEquals([attempts, publisher.status?.error], [1, "API server unreachable"]);
  fail = false;
  publisher.retryNow();
  await tick(20);
  assertEquals([attempts, publisher.status?.error], [2, undefined]);
  publisher.markDirty(); // a change waits its delay, not cut short by retryNow()
  publisher.retryNow();
  await tick(20);
  assertEquals(attempts, 2);
  await publisher.stop();
});

Deno.test("EndpointPublisher.stop() writes what is pending, then nothing more", async () => {
  let writes = 0;
  const publisher = new EndpointPublisher(
    () => {
      writes++;
      return Promise.resolve(true);
    },
    () => [ep(1)],
    { delayMs: 10_000 },
  );
  publisher.markDirty();
  await publisher.stop();
  assertEquals(writes, 1);
  publisher.markDirty();
  await tick(20);
  assertEquals(writes, 1);
});

import { assertEquals, assertRejects } from "../../test/assert.ts";
import { FakeClock } from "../clock.ts";
import { Scheduler } from "./scheduler.ts";

/** A scheduler whose runs record their trigger and the fake time; `hold` keeps a run open. */
function fixture(options: { delayMs?: number; intervalMs?: number } = {}) {
  const clock = new FakeClock(0);
  const runs: string[] = [];
  let hold: Promise<void> | undefined;
  const scheduler = new Scheduler(async (trigger) => {
    runs.push(`${trigger}@${clock.now()}`);
    await hold;
  }, { clock, ...options });
  return {
    clock,
    runs,
    scheduler,
    holdRuns(): () => void {
      const gate = Promise.withResolvers<void>();
      hold = gate.promise;
      return () => {
        hold = undefined;
        gate.resolve();
      };
    },
  };
}

Deno.test("request() coalesces a burst into one run at the earliest due time, with every reason", async () => {
  const { clock, runs, scheduler } = fixture({ delayMs: 50 });
  scheduler.start();
  scheduler.request("endpoints");
  scheduler.request("cluster", 20);
  scheduler.request("monitor", 30);
  await clock.tick(19);
  assertEquals(runs, []);
  await clock.tick(1);
  assertEquals(runs, ["cluster,endpoints,monitor@20"]);
  await clock.tick(100);
  assertEquals(runs.length, 1, "the later due times rode along");
  await scheduler.stop();
});

Deno.test("request() is ignored before start() and after stop()", async () => {
  const { clock, runs, scheduler } = fixture();
  scheduler.request("early", 0);
  await clock.runAll();
  scheduler.start();
  scheduler.request("armed", 10);
  await scheduler.stop();
  scheduler.request("late", 0);
  await clock.runAll();
  assertEquals([runs, clock.pending], [[], 0]);
});

Deno.test("a request made during a run is served after it, never beside it", async () => {
  const { clock, runs, scheduler, holdRuns } = fixture();
  scheduler.start();
  const release = holdRuns();
  const first = scheduler.runNow("manual");
  await clock.tick(0);
  scheduler.request("monitor", 0);
  scheduler.request("cluster", 5);
  await clock.tick(50);
  assertEquals(runs, ["manual@0"], "nothing runs beside the run in progress");
  release();
  await first;
  await clock.tick(0);
  assertEquals(runs, ["manual@0", "cluster,monitor@50"]);
  await scheduler.stop();
});

Deno.test("runNow() leaves pending requests pending and returns the run's result", async () => {
  const clock = new FakeClock(0);
  const runs: string[] = [];
  const scheduler = new Scheduler((trigger) => {
    runs.push(trigger);
    return Promise.resolve(runs.length);
  }, { clock });
  scheduler.start();
  scheduler.request("endpoints", 10);
  assertEquals(await scheduler.runNow("start"), 1);
  await clock.tick(10);
  assertEquals(runs, ["start", "endpoints"]);
  await scheduler.stop();
});

Deno.test("requestAt() from inside a run retries at the time the run names", async () => {
  const clock = new FakeClock(0);
  const runs: string[] = [];
  const scheduler: Scheduler = new Scheduler((trigger) => {
    runs.push(`${trigger}@${clock.now()}`);
    if (runs.length < 3) scheduler.requestAt("retry", clock.now() + 1_000 * runs.length);
    return Promise.resolve();
  }, { clock });
  scheduler.start();
  await scheduler.runNow("start");
  await clock.tick(10_000);
  assertEquals(runs, ["start@0", "retry@1000", "retry@3000"]);
  await scheduler.stop();
});

Deno.test("a periodic run follows intervalMs after the last run, whatever started it", async () => {
  const { clock, runs, scheduler } = fixture({ intervalMs: 100 });
  scheduler.start();
  await clock.tick(60);
  scheduler.request("cluster", 0);
  await clock.tick(0);
  await clock.tick(99);
  assertEquals(runs, ["cluster@60"]);
  await clock.tick(1);
  assertEquals(runs, ["cluster@60", "periodic@160"]);
  await clock.tick(100);
  assertEquals(runs.at(-1), "periodic@260");
  await scheduler.stop();
  assertEquals(clock.pending, 0, "stop() leaves no timer");
});

Deno.test("intervalMs given as a function is read again after every run", async () => {
  const clock = new FakeClock(0);
  const runs: number[] = [];
  let interval = 100;
  const scheduler = new Scheduler(() => {
    runs.push(clock.now());
    interval *= 2;
    return Promise.resolve();
  }, { clock, intervalMs: () => interval });
  scheduler.start();
  await clock.tick(700);
  assertEquals(runs, [100, 300, 700]);
  await scheduler.stop();
});

Deno.test("serial() tasks and runs never overlap, and a timer run that throws is reported", async () => {
  const clock = new FakeClock(0);
  const order: string[] = [];
  const errors: string[] = [];
  const scheduler = new Scheduler(async (trigger) => {
    order.push(`run ${trigger} begins`);
    await Promise.resolve();
    order.push(`run ${trigger} ends`);
    throw new Error("Cannot apply: refused");
  }, { clock, onError: (err) => errors.push((err as Error).message) });
  scheduler.start();
  scheduler.request("cluster", 0);
  await clock.tick(0);
  const task = scheduler.serial(async () => {
    order.push("task begins");
    await Promise.resolve();
    order.push("task ends");
    return 7;
  });
  await assertRejects(() => scheduler.runNow("manual"), Error, "refused");
  assertEquals(await task, 7);
  assertEquals(order, [
    "run cluster begins",
    "run cluster ends",
    "task begins",
    "task ends",
    "run manual begins",
    "run manual ends",
  ]);
  assertEquals(errors, ["Cannot apply: refused"]);
  await scheduler.stop();
});

Deno.test("stop() waits for the run in progress", async () => {
  const { clock, runs, scheduler, holdRuns } = fixture();
  scheduler.start();
  const release = holdRuns();
  void scheduler.runNow("manual");
  await clock.tick(0);
  let stopped = false;
  const stopping = scheduler.stop().then(() => stopped = true);
  await clock.tick(0);
  assertEquals(stopped, false);
  release();
  await stopping;
  assertEquals([runs, stopped], [["manual@0"], true]);
});

Deno.test("hurry() brings a pending run forward to now, and does nothing without one", async () => {
  const { clock, runs, scheduler } = fixture({ delayMs: 5_000 });
  scheduler.start();
  scheduler.hurry();
  await clock.tick(0);
  assertEquals(runs, []);
  scheduler.request("endpoints");
  await clock.tick(10);
  scheduler.hurry();
  await clock.tick(0);
  assertEquals(runs, ["endpoints@10"]);
  await clock.tick(10_000);
  assertEquals(runs.length, 1, "the hurried request is not served twice");
  await scheduler.stop();
});

Deno.test("hurry() starts the run without waiting for a timer", async () => {
  const { clock, runs, scheduler } = fixture({ delayMs: 5_000 });
  scheduler.start();
  scheduler.request("endpoints");
  scheduler.hurry();
  await Promise.resolve();
  await Promise.resolve();
  assertEquals(runs, ["endpoints@0"]);
  assertEquals(clock.pending, 0, "no timer left armed");
  await scheduler.stop();
});

Deno.test("hurry() during a run starts the next run as that run ends, without a timer", async () => {
  const { clock, runs, scheduler, holdRuns } = fixture({ delayMs: 5_000 });
  scheduler.start();
  const release = holdRuns();
  const first = scheduler.runNow("manual");
  await Promise.resolve();
  scheduler.request("endpoints");
  scheduler.hurry();
  assertEquals(runs, ["manual@0"]);
  release();
  await first;
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assertEquals(runs, ["manual@0", "endpoints@0"]);
  await clock.tick(10_000);
  assertEquals(runs.length, 2, "the hurried request is not served twice");
  await scheduler.stop();
});

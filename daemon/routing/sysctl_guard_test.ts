import { assertEquals } from "../../test/assert.ts";
import { FakeClock } from "../../src/clock.ts";
import { recordingLogger } from "../../test/recording_logger.ts";
import { startSysctlGuard } from "./sysctl_guard.ts";

Deno.test("startSysctlGuard() repairs drifted sysctls every interval and logs what it repaired", async () => {
  const clock = new FakeClock(0);
  const answers = [[], ["net.ipv4.ip_forward"], []];
  let calls = 0;
  const lines: string[] = [];
  const guard = startSysctlGuard(
    { repairSysctls: () => Promise.resolve(answers[calls++] ?? []) },
    { intervalMs: 10_000, clock, log: recordingLogger(lines) },
  );
  await clock.tick(9_999);
  assertEquals(calls, 0);
  await clock.tick(1);
  assertEquals(calls, 1);
  await clock.tick(10_000);
  assertEquals(calls, 2);
  assertEquals(lines, ['warn Repaired drifted sysctls {"sysctls":"net.ipv4.ip_forward"}']);
  await guard.stop();
  await clock.tick(60_000);
  assertEquals(calls, 2);
});

Deno.test("startSysctlGuard() logs a failed repair and keeps going", async () => {
  const clock = new FakeClock(0);
  let calls = 0;
  const lines: string[] = [];
  const guard = startSysctlGuard({
    repairSysctls: () => {
      calls++;
      return Promise.reject(new Error("Permission denied"));
    },
  }, { intervalMs: 1_000, clock, log: recordingLogger(lines) });
  await clock.tick(1_000);
  await clock.tick(1_000);
  assertEquals(calls, 2);
  assertEquals(lines[0], 'warn Cannot repair sysctls {"error":"Permission denied"}');
  await guard.stop();
});

import { assertEquals, assertThrows } from "../../test/assert.ts";
import { formatDuration, parseDuration } from "./duration.ts";

Deno.test("parseDuration() reads single and combined units", () => {
  assertEquals(parseDuration("30s"), 30_000);
  assertEquals(parseDuration("2m"), 120_000);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("1m30s"), 90_000);
  assertEquals(parseDuration("250ms"), 250);
  assertEquals(parseDuration("1.5s"), 1_500);
  assertEquals(parseDuration("0"), 0);
});

Deno.test("parseDuration() rejects text without a unit, naming it", () => {
  assertThrows(() => parseDuration("30"), TypeError, 'Not a duration: "30"');
  assertThrows(() => parseDuration("30 s"), TypeError, '"30 s"');
  assertThrows(() => parseDuration("-1s"), TypeError);
  assertThrows(() => parseDuration(""), TypeError);
});

Deno.test("formatDuration() round-trips through parseDuration()", () => {
  for (const ms of [0, 250, 30_000, 90_000, 5_400_000, 3_723_004]) {
    assertEquals(parseDuration(formatDuration(ms)), ms);
  }
  assertEquals(formatDuration(90_000), "1m30s");
});

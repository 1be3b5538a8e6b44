import { assertEquals, assertThrows } from "../test/assert.ts";
import { median, parseBitrate, percentile, selectBenchmarks } from "./bench.ts";

Deno.test("selectBenchmarks() runs everything by default and keeps run order for --only", () => {
  assertEquals(selectBenchmarks(undefined), [
    "pod-add-del",
    "plugin-startup",
    "iperf",
    "idle",
    "reconcile",
    "policy",
    "ipam-burst",
    "ipam-burst-e2e",
    "table-repair",
    "kube-admit",
    "kube-scale",
  ]);
  assertEquals(selectBenchmarks("idle, iperf"), ["iperf", "idle"]);
  assertEquals(selectBenchmarks("policy,pod-add-del"), ["pod-add-del", "policy"]);
  assertEquals(selectBenchmarks("kube-scale"), ["kube-scale"]);
  assertThrows(() => selectBenchmarks("iperf,ipref"), Error, "Unknown benchmark in --only: ipref");
});

Deno.test("parseBitrate() reads decimal K, M and G as iperf3 does", () => {
  assertEquals(parseBitrate("2G"), 2e9);
  assertEquals(parseBitrate("500m"), 5e8);
  assertEquals(parseBitrate("1.5K"), 1500);
  assertEquals(parseBitrate("1000"), 1000);
  assertThrows(() => parseBitrate("fast"), Error, "Invalid bitrate: fast");
});

Deno.test("median() and percentile() of small series", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 2.5);
  assertEquals(Number.isNaN(median([])), true);
  assertEquals(percentile([5, 1, 4, 2, 3], 50), 3);
  assertEquals(percentile([5, 1, 4, 2, 3], 99), 5);
});

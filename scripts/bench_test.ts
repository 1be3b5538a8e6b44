import { assertEquals, assertThrows } from "../test/assert.ts";
import {
  addedPhases,
  deletedPhases,
  median,
  parseBitrate,
  percentile,
  selectBenchmarks,
} from "./bench.ts";

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
    "nft-maps",
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

Deno.test("addedPhases() reads the phases of the plugin's Added lines and nothing else", () => {
  const log = [
    "2026-12-04T17:00:00.000Z INFO Added component=plugin containerID=a ip=10.244.0.2 allocateMs=3.1 addMs=7.4",
    "2026-12-04T17:00:00.100Z INFO Deleted component=plugin containerID=a addMs=99",
    "2026-12-04T17:00:00.200Z INFO Added component=plugin containerID=b addMs=12",
  ].join("\n");
  assertEquals(addedPhases(log), [{ allocateMs: 3.1, addMs: 7.4 }, { addMs: 12 }]);
});

Deno.test("deletedPhases() reads the phases of the plugin's Deleted lines and nothing else", () => {
  const log = [
    "2026-12-04T17:00:00.000Z INFO Added component=plugin containerID=a vethMs=3.1 addMs=7.4",
    "2026-12-04T17:00:00.100Z INFO Deleted component=plugin containerID=a vethMs=20.5 delMs=24",
  ].join("\n");
  assertEquals(deletedPhases(log), [{ vethMs: 20.5, delMs: 24 }]);
});

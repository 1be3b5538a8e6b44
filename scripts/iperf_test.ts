import { assertEquals, assertThrows } from "../test/assert.ts";
import { iperfArgs, parseIperf, pinned } from "./iperf.ts";

// Trimmed from iperf 3.12's -J output in the sandbox (the fields parseIperf reads, and some not).
const TCP = JSON.stringify({
  start: { test_start: { protocol: "TCP", num_streams: 4 } },
  end: {
    sum_sent: { seconds: 3, bytes: 7.8e9, bits_per_second: 20.809e9, retransmits: 12 },
    sum_received: { seconds: 3, bytes: 7.8e9, bits_per_second: 20.808e9 },
    cpu_utilization_percent: { host_total: 95 },
  },
});
const UDP = JSON.stringify({
  start: { test_start: { protocol: "UDP", num_streams: 1 } },
  end: {
    sum: { bits_per_second: 1.28e9, lost_percent: 0, sender: true },
    sum_sent: { bits_per_second: 1.281e9, lost_packets: 0, packets: 114391, lost_percent: 0 },
    sum_received: {
      bits_per_second: 1.256e9,
      lost_packets: 2181,
      packets: 114391,
      lost_percent: 1.9066,
    },
  },
});

Deno.test("parseIperf() reads a TCP run's received throughput and the sender's retransmits", () => {
  assertEquals(parseIperf(TCP), { receivedBps: 20.808e9, sentBps: 20.809e9, retransmits: 12 });
});

Deno.test("parseIperf() reads a UDP run's received throughput and loss from the receiver's sum", () => {
  assertEquals(parseIperf(UDP), { receivedBps: 1.256e9, sentBps: 1.281e9, lostPercent: 1.9066 });
});

Deno.test("parseIperf() reports iperf3's own error and output that is not JSON", () => {
  assertThrows(
    () => parseIperf(JSON.stringify({ start: {}, end: {}, error: "unable to connect to server" })),
    Error,
    "iperf3 failed: unable to connect to server",
  );
  assertThrows(() => parseIperf("iperf3: error"), Error, "not JSON: iperf3: error");
  assertThrows(() => parseIperf(JSON.stringify({ end: {} })), Error, "sum_received");
});

Deno.test("iperfArgs() splits a UDP target bitrate across the streams and sizes datagrams below the MTU", () => {
  assertEquals(
    iperfArgs("10.244.2.3", { protocol: "udp", streams: 4, udpBps: 2e9 }, { seconds: 4 }),
    [
      "iperf3",
      "-c",
      "10.244.2.3",
      "-p",
      "5201",
      "-J",
      "-t",
      "4",
      "-P",
      "4",
      "-u",
      "-b",
      "500000000",
      "-l",
      "1400",
    ],
  );
  assertEquals(
    iperfArgs("10.244.1.9", { protocol: "tcp", streams: 1 }, { seconds: 3, port: 5300 }),
    ["iperf3", "-c", "10.244.1.9", "-p", "5300", "-J", "-t", "3", "-P", "1"],
  );
});

Deno.test("pinned() prefixes taskset only when a CPU is given", () => {
  assertEquals(pinned(["iperf3", "-s"], 1), ["taskset", "-c", "1", "iperf3", "-s"]);
  assertEquals(pinned(["iperf3", "-s"], undefined), ["iperf3", "-s"]);
});

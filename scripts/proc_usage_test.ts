import { assertEquals, assertThrows } from "../test/assert.ts";
import {
  parseCpuLine,
  parseRssKiB,
  parseRssParts,
  parseStatTicks,
  readUsage,
} from "./proc_usage.ts";

Deno.test("parseStatTicks() adds utime and stime, even when the command name holds spaces and parens", () => {
  const stat =
    "4242 (deno (main) x) S 1 4242 4242 0 -1 4194560 9000 0 12 0 731 129 0 0 20 0 9 0 100 0 0";
  assertEquals(parseStatTicks(stat), 731 + 129);
});

Deno.test("parseStatTicks() refuses text without the command field", () => {
  assertThrows(() => parseStatTicks("garbage"), Error, "no command field");
});

Deno.test("parseRssKiB() reads VmRSS", () => {
  assertEquals(
    parseRssKiB("Name:\tdeno\nVmHWM:\t  60000 kB\nVmRSS:\t   51234 kB\nThreads: 9\n"),
    51234,
  );
  assertThrows(() => parseRssKiB("Name:\tkthreadd\n"), Error, "no VmRSS");
});

Deno.test("parseRssParts() reads the anonymous, file and shared parts of the resident set", () => {
  const status = "VmRSS:\t   80000 kB\nRssAnon:\t   50000 kB\nRssFile:\t   29000 kB\n" +
    "RssShmem:\t    1000 kB\n";
  assertEquals(parseRssParts(status), { anon: 50000, file: 29000, shmem: 1000 });
  assertThrows(() => parseRssParts("VmRSS:\t 1 kB\n"), Error, "no RssAnon");
});

Deno.test("readUsage() reads this very process", async () => {
  const usage = await readUsage(Deno.pid);
  assertEquals(usage.rssKiB > 1000, true);
  assertEquals(usage.ticks >= 0, true);
});

Deno.test("parseCpuLine() counts idle and iowait as idle, everything else as busy", () => {
  const stat = "cpu  100 5 50 800 20 0 10 15 0 0\ncpu0 50 0 25 400 10 0 5 7 0 0\n";
  assertEquals(parseCpuLine(stat), { busy: 100 + 5 + 50 + 10 + 15, total: 1000 });
  assertThrows(() => parseCpuLine("intr 1 2 3"), Error, "no cpu line");
});

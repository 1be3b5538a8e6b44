import { assertEquals, assertThrows } from "../../test/assert.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import {
  parseMaxFds,
  parseProcStatCpuSeconds,
  parseProcStatus,
  processMetrics,
  selfProcess,
} from "./process_metrics.ts";

const STATUS = "Name:\tternd\nVmPeak:\t  90000 kB\nVmSize:\t   81234 kB\nVmRSS:\t   52000 kB\n";
// A command name with spaces and a ")" in it: fields are counted after the last ")".
const STAT =
  "4242 (ternd (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 9 0 1061841 3133440 417 18446744073709551615";
const LIMITS = [
  "Limit                     Soft Limit           Hard Limit           Units     ",
  "Max cpu time              unlimited            unlimited            seconds   ",
  "Max open files            1024                 524288               files     ",
].join("\n");

Deno.test("the /proc parsers read resident and virtual memory, CPU seconds and the fd limit", () => {
  assertEquals(parseProcStatus(STATUS), {
    residentBytes: 52000 * 1024,
    virtualBytes: 81234 * 1024,
  });
  assertEquals(parseProcStatCpuSeconds(STAT), 18.01);
  assertEquals(parseMaxFds(LIMITS), 1024);
  assertEquals(parseMaxFds(LIMITS.replace("1024     ", "unlimited")), undefined);
  assertThrows(() => parseProcStatus("Name: x\n"), Error, "no VmRSS line");
  assertThrows(() => parseProcStatCpuSeconds("4242 ternd S"), Error, "no utime and stime");
});

Deno.test("processMetrics() sets the process_* metrics at each scrape", async () => {
  const registry = new Registry();
  let fds = 12;
  processMetrics(registry, {
    read: (name) => Promise.resolve(name === "status" ? STATUS : name === "stat" ? STAT : LIMITS),
    openFds: () => Promise.resolve(fds),
    heap: () => ({ used: 10, total: 20, external: 30 }),
    startTimeSeconds: 1_700_000_000.5,
  });
  let families = parseExposition(await registry.expose());
  assertEquals(sampleValue(families, "process_resident_memory_bytes"), 52000 * 1024);
  assertEquals(sampleValue(families, "process_open_fds"), 12);
  assertEquals(sampleValue(families, "process_max_fds"), 1024);
  assertEquals(sampleValue(families, "process_cpu_seconds_total"), 18.01);
  assertEquals(sampleValue(families, "process_start_time_seconds"), 1_700_000_000.5);
  assertEquals(sampleValue(families, "tern_js_heap_used_bytes"), 10);
  assertEquals(sampleValue(families, "tern_js_external_bytes"), 30);
  assertEquals(families.find((f) => f.name === "tern_build_info")?.samples.length, 1);
  fds = 13;
  families = parseExposition(await registry.expose());
  assertEquals(sampleValue(families, "process_open_fds"), 13);
});

Deno.test("selfProcess reads this process: its memory, and an fd it opens is counted", async () => {
  const registry = new Registry();
  processMetrics(registry, selfProcess);
  // Another test's descriptor may close between two scrapes (seen once: a difference of 0), so
  // the file is opened again until a pair of scrapes saw nothing else change.
  const differences: number[] = [];
  for (let attempt = 0; attempt < 5 && differences.at(-1) !== 1; attempt++) {
    const before = parseExposition(await registry.expose());
    const file = await Deno.open(Deno.execPath());
    try {
      const after = parseExposition(await registry.expose());
      differences.push(
        sampleValue(after, "process_open_fds")! - sampleValue(before, "process_open_fds")!,
      );
      assertEquals(sampleValue(after, "process_resident_memory_bytes")! > 10_000_000, true);
      assertEquals(sampleValue(after, "tern_js_external_bytes")! > 0, true);
      const started = sampleValue(after, "process_start_time_seconds")!;
      assertEquals(started <= Date.now() / 1000 && started > Date.now() / 1000 - 3600, true);
    } finally {
      file.close();
    }
  }
  assertEquals(differences.at(-1), 1, `differences seen: ${differences.join(", ")}`);
});

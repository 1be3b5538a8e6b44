import { assert, assertEquals } from "../../test/assert.ts";
import type { Logger } from "../../src/log.ts";
import { parseConfig } from "../config.ts";
import { DaemonMetrics } from "./daemon_metrics.ts";

const config = parseConfig("podCIDRs: [10.244.1.0/24]\n", { hostname: "h" });

Deno.test("docs/metrics.md documents every metric the daemon has, and no other", async () => {
  const names = (await new DaemonMetrics(config).registry.collect()).map((f) => f.name);
  const doc = await Deno.readTextFile(new URL("../../docs/metrics.md", import.meta.url));
  const documented = new Set(
    [...doc.matchAll(/^\| `((?:tern|process)_[a-z_]+)`/gm)].map((m) => m[1]!),
  );
  assertEquals(names.filter((n) => !documented.has(n)), [], "undocumented");
  assertEquals([...documented].filter((n) => !names.includes(n)), [], "documented, not there");
});

Deno.test("DaemonMetrics logs a reader that fails once per distinct error, and the scrape goes on", async () => {
  const warnings: string[] = [];
  const log = {
    warn: (message: string, fields?: Record<string, unknown>) =>
      warnings.push(`${message}: ${fields?.error}`),
  } as unknown as Logger;
  let fail = true;
  const metrics = new DaemonMetrics(config, {
    log,
    process: {
      read: () =>
        fail ? Promise.reject(new Error("No such file: /proc/self/limits")) : Promise.resolve(""),
      openFds: () => Promise.resolve(3),
      heap: () => ({ used: 1, total: 2, external: 3 }),
      startTimeSeconds: 1,
    },
  });
  for (let i = 0; i < 3; i++) assert((await metrics.expose()).includes("tern_ready 0"));
  assertEquals(warnings, [
    "Cannot read a metric; the scrape goes on without it: No such file: /proc/self/limits",
  ]);
  fail = false;
  await metrics.expose(); // now it fails to parse the empty text: another error, said once
  assertEquals(warnings.length, 2);
});

Deno.test("DaemonMetrics exposes the event loop's stalls and the memory trims", async () => {
  const metrics = new DaemonMetrics(config, {
    loopStalls: () => ({ stalls: 3, longestMs: 400, heldMs: 750 }),
    memoryTrims: () => ({ trims: 2, collections: 1, releasedBytes: 41_000_000 }),
  });
  const text = await metrics.expose();
  assert(text.includes("tern_malloc_trims_total 2\n"), text);
  assert(text.includes("tern_heap_collections_total 1\n"), text);
  assert(text.includes("tern_malloc_trim_released_bytes_total 41000000\n"), text);
  assert(text.includes("tern_event_loop_stalls_total 3\n"), text);
  assert(text.includes("tern_event_loop_held_seconds_total 0.75\n"), text);
});

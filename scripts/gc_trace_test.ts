import { assertEquals } from "../test/assert.ts";
import { parseGcTrace, summarizeGc } from "./gc_trace.ts";

const line = (at: number, fields: Record<string, unknown>) =>
  `[123:0x55d0:0]    ${at} ms: GC: ${JSON.stringify(fields)}`;

const TRACE = [
  line(100, { pause: 1.5, gc: "s", promoted: 2 * 2 ** 20 }),
  "Collected the list's garbage",
  line(200, { pause: 2.5, gc: "s", promoted: 2 ** 20 }),
  line(300, { pause: 30, gc: "mc", incremental: 250, promoted: 2 ** 19 }),
  `[123:0x55d0:0]    310 ms: GC: {"pause":1.0,"gc":"s"`, // cut by another writer
  line(400, { pause: 0.5, gc: "s", promoted: 0 }),
].join("\n");

Deno.test("parseGcTrace() reads V8's nvp records and skips other and cut lines", () => {
  const records = parseGcTrace(TRACE);
  assertEquals(records.map((r) => [r.atMs, r.kind]), [[100, "s"], [200, "s"], [300, "mc"], [
    400,
    "s",
  ]]);
  assertEquals(records[2], {
    atMs: 300,
    kind: "mc",
    pauseMs: 30,
    incrementalMs: 250,
    promoted: 2 ** 19,
  });
});

Deno.test("summarizeGc() sums a window's scavenges, promotion and full collections' main-thread work", () => {
  assertEquals(summarizeGc(parseGcTrace(TRACE), { from: 150, to: 350 }), {
    scavenges: 1,
    scavengePauseMs: 2.5,
    promotedMiB: 1.5,
    fullCollections: 1,
    fullMainThreadMs: [280],
    fullMainThreadTotalMs: 280,
  });
  assertEquals(summarizeGc(parseGcTrace(TRACE)).scavenges, 3);
});

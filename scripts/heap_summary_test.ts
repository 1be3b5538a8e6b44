import { assert, assertEquals } from "../test/assert.ts";
import { writeHeapSnapshot } from "node:v8";
import { formatSummary, summarize } from "./heap_summary.ts";
import { parseSnapshot, type SnapshotJson } from "./heap_owners.ts";

Deno.test("summarize() groups a real snapshot's objects by shape, retainer and reach", async () => {
  // 500 objects of a shape nothing else has, held by one holder object's array.
  const holder = {
    heapSummaryProbes: Array.from({ length: 500 }, (_, i) => ({
      heapSummaryProbe: i,
      heapSummaryText: `probe-${i}-${"x".repeat(40)}`,
    })),
  };
  const dir = await Deno.makeTempDir();
  try {
    const file = writeHeapSnapshot(`${dir}/t.heapsnapshot`);
    const snap = parseSnapshot(JSON.parse(await Deno.readTextFile(file)) as SnapshotJson);
    const summary = summarize(snap, "Object{heapSummaryProbes}");
    const probes = summary.byShape.find((g) =>
      g.key === "Object{heapSummaryProbe,heapSummaryText}"
    );
    // 500, and maybe the literal's boilerplate V8 keeps for its allocation site.
    assert(probes!.count === 500 || probes!.count === 501, `${probes?.count} probes`);
    assert(probes!.bytes >= 500 * 24);
    const held = summary.byOwner.filter((g) =>
      g.key.startsWith("Object{heapSummaryProbe,heapSummaryText} ← ")
    );
    assertEquals(held.reduce((sum, g) => sum + g.count, 0), probes!.count);
    // The reach: the holder, its array and its elements, the probes and their 500 strings.
    assertEquals(summary.reach?.roots, 1);
    const reached = new Map(summary.reach!.byShape.map((g) => [g.key, g.count]));
    assertEquals(reached.get("Object{heapSummaryProbe,heapSummaryText}"), 500);
    assert((reached.get("string") ?? 0) >= 500);
    assert(summary.reach!.bytes > probes!.bytes);
    assert(formatSummary(summary, 5, 500).includes("B per unit (500)"));
    assertEquals(holder.heapSummaryProbes.length, 500); // held until the snapshot is read
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

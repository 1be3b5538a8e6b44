import { assertEquals } from "../../test/assert.ts";
import type { IpamBlock } from "./ipam_objects.ts";
import { OrphanTracker } from "./orphan_blocks.ts";

function block(uid: string, node: string): IpamBlock {
  return {
    name: uid,
    cidr: "10.0.0.0/26",
    pool: "p",
    node,
    allocated: 0,
    releasing: false,
    uid,
    resourceVersion: "1",
    createdAt: 0,
  };
}

Deno.test("OrphanTracker releases a block only after its node was missing for the grace period", () => {
  const tracker = new OrphanTracker(60_000);
  const blocks = [block("a", "gone"), block("b", "live")];
  const nodes = new Set(["live"]);
  assertEquals(tracker.due(blocks, nodes, 1_000), { release: [], recheckAt: 61_000 });
  assertEquals(tracker.due(blocks, nodes, 30_000), { release: [], recheckAt: 61_000 });
  assertEquals(tracker.due(blocks, nodes, 61_000).release.map((b) => b.uid), ["a"]);
});

Deno.test("OrphanTracker starts the grace period again when the node came back meanwhile", () => {
  const tracker = new OrphanTracker(60_000);
  const blocks = [block("a", "n1")];
  tracker.due(blocks, new Set(), 0);
  tracker.due(blocks, new Set(["n1"]), 30_000);
  assertEquals(tracker.due(blocks, new Set(), 61_000), { release: [], recheckAt: 121_000 });
});

import { assertEquals } from "../../test/assert.ts";
import type { ClusterChange } from "../../src/cluster/state.ts";
import type { Pod, Resource } from "../../src/cluster/types.ts";
import { testPod } from "../../test/cluster_fixtures.ts";
import { affectsRouting, touchesOwnEndpoints } from "./cluster_triggers.ts";

function pod(name: string, nodeName?: string): Pod {
  return testPod(name, nodeName ? { nodeName } : {});
}

const change = (resource: Resource, previous?: Resource): ClusterChange =>
  previous
    ? { type: "modified", resource, previous, resourceVersion: "2" }
    : { type: "added", resource, resourceVersion: "2" };

const options = { nodeName: "node-a", isLocalPod: (_ns: string, name: string) => name === "mine" };

Deno.test("affectsRouting() is true for nodes, this node's pods and resets, false for the rest", () => {
  const node: Resource = { kind: "Node", name: "node-b", labels: {}, addresses: [], podCIDRs: [] };
  assertEquals(affectsRouting(change(node), options), true);
  assertEquals(affectsRouting({ type: "reset", resourceVersion: "1" }, options), true);
  assertEquals(affectsRouting(change(pod("web", "node-a")), options), true);
  assertEquals(affectsRouting(change(pod("web", "node-b")), options), false);
  assertEquals(affectsRouting(change(pod("web", "node-b"), pod("web", "node-a")), options), true);
  assertEquals(affectsRouting(change(pod("mine")), options), true, "unscheduled but ours");
  assertEquals(affectsRouting(change(pod("other")), options), false);
  assertEquals(
    affectsRouting(change({ kind: "Namespace", name: "x", labels: {} }), options),
    false,
  );
  assertEquals(
    affectsRouting(
      { type: "error", error: { file: "f", key: "", value: undefined, message: "m" } },
      options,
    ),
    false,
  );
});

Deno.test("touchesOwnEndpoints() is true only for this node's NodeEndpoints and resets", () => {
  assertEquals(
    touchesOwnEndpoints(change({ kind: "NodeEndpoints", node: "node-a", endpoints: [] }), "node-a"),
    true,
  );
  assertEquals(
    touchesOwnEndpoints(change({ kind: "NodeEndpoints", node: "node-b", endpoints: [] }), "node-a"),
    false,
  );
  assertEquals(touchesOwnEndpoints({ type: "reset", resourceVersion: "1" }, "node-a"), true);
});

import { assertEquals } from "../../test/assert.ts";
import { snapshotOf } from "./snapshot.ts";
import type { ManifestError, Resource } from "./types.ts";

Deno.test("snapshotOf() sorts resources into their kinds' lists in the order given", () => {
  const resources: Resource[] = [
    { kind: "Node", name: "b", podCIDRs: [], addresses: [], labels: {} },
    { kind: "Namespace", name: "ns", labels: {} },
    { kind: "Node", name: "a", podCIDRs: [], addresses: [], labels: {} },
    { kind: "NodeEndpoints", node: "a", endpoints: [] },
  ];
  const snapshot = snapshotOf(resources, { resourceVersion: "7" });
  assertEquals(snapshot.resourceVersion, "7");
  assertEquals(snapshot.nodes.map((n) => n.name), ["b", "a"]);
  assertEquals(snapshot.namespaces.map((n) => n.name), ["ns"]);
  assertEquals(snapshot.nodeEndpoints.map((e) => e.node), ["a"]);
  assertEquals([snapshot.pods, snapshot.others, snapshot.errors], [[], [], []]);
});

Deno.test("snapshotOf() carries the errors it is given", () => {
  const error: ManifestError = { file: "f", key: "", value: undefined, message: "Bad" };
  assertEquals(snapshotOf([], { resourceVersion: "1", errors: [error] }).errors, [error]);
});

import { assertEquals } from "../../test/assert.ts";
import { testPod } from "../../test/cluster_fixtures.ts";
import { diffResources, sameResource } from "./resource_diff.ts";
import { resourceKey } from "./resource_key.ts";
import type { Namespace, Node, Pod, Resource } from "./types.ts";

const node = (name: string, cidr: string): Node => ({
  kind: "Node",
  name,
  labels: {},
  addresses: [],
  podCIDRs: [cidr],
});
const ns = (name: string): Namespace => ({ kind: "Namespace", name, labels: {} });
const pod = (name: string): Pod => testPod(name);
const map = (...rs: Resource[]) => new Map(rs.map((r) => [resourceKey(r), r]));

Deno.test("diffResources() reports added, modified and deleted, namespaces before pods and deletions last", () => {
  const before = map(node("a", "10.0.1.0/24"), node("b", "10.0.2.0/24"), pod("old"), ns("gone"));
  const after = map(pod("new"), node("a", "10.0.9.0/24"), node("b", "10.0.2.0/24"), ns("team"));
  assertEquals(
    diffResources(before, after).map((c) => [c.type, resourceKey(c.resource)]),
    [
      ["added", "Namespace/team"],
      ["modified", "Node/a"],
      ["added", "Pod/default/new"],
      ["deleted", "Pod/default/old"],
      ["deleted", "Namespace/gone"],
    ],
  );
});

Deno.test("diffResources() carries the last version of a deleted resource", () => {
  const [change] = diffResources(map(node("a", "10.0.1.0/24")), new Map());
  assertEquals(change, { type: "deleted", resource: node("a", "10.0.1.0/24") });
});

Deno.test("sameResource() ignores key order but not values", () => {
  const a = { ...pod("p"), labels: { x: "1", y: "2" } };
  const b = { ...pod("p"), labels: { y: "2", x: "1" } };
  assertEquals(sameResource(a, b), true);
  assertEquals(sameResource(a, { ...b, labels: { x: "1", y: "3" } }), false);
  assertEquals(diffResources(map(a), map(b)), []);
});

Deno.test("diffResources() takes the very same object as unchanged without looking into it", () => {
  let reads = 0;
  const watched = () => {
    const n = node("big", "10.0.3.0/24");
    Object.defineProperty(n, "labels", {
      enumerable: true,
      get: () => (reads++, {}),
    });
    return n;
  };
  const big = watched();
  assertEquals(diffResources(map(big), map(big)), []);
  assertEquals(reads, 0);
  assertEquals(diffResources(map(big), map(watched())), []);
  assertEquals(reads > 0, true, "an equal copy is still compared");
});

Deno.test("sameResource() compares nested lists and maps, and takes an undefined key as absent", () => {
  const sg = (ingress: unknown[], extra: Record<string, unknown> = {}) =>
    ({
      kind: "Other",
      apiVersion: "tern.dev/v1alpha1",
      resourceKind: "SecurityGroup",
      name: "sg",
      labels: {},
      raw: { spec: { ingress }, ...extra },
    }) as unknown as Resource;
  const rule = (port: number) => ({
    action: "allow",
    ports: [port],
    from: [{ cidr: "10.0.0.1/32" }],
  });
  assertEquals(sameResource(sg([rule(80), rule(81)]), sg([rule(80), rule(81)])), true);
  assertEquals(sameResource(sg([rule(80), rule(81)]), sg([rule(81), rule(80)])), false);
  assertEquals(sameResource(sg([rule(80)]), sg([rule(80), rule(81)])), false);
  assertEquals(sameResource(sg([rule(80)]), sg([{ ...rule(80), ports: { 0: 80 } }])), false);
  assertEquals(sameResource(sg([rule(80)], { note: undefined }), sg([rule(80)])), true);
  assertEquals(sameResource(sg([rule(80)], { note: null }), sg([rule(80)])), false);
});

import { assertEquals, assertThrows } from "../../test/assert.ts";
import { podObject } from "../kube/_test_server.ts";
import { compactNode, compactPod, podPools, SharedValues, StringPool } from "./compact_pod.ts";
import { parseManifestObject } from "./manifest.ts";
import type { Node, Pod } from "./types.ts";
import { validPod } from "./valid_pod.ts";

function parsed(name: string, labels: Record<string, string> = { app: "web" }): Pod {
  return parseManifestObject(
    JSON.parse(JSON.stringify({
      ...podObject(name, "1", { ip: "10.0.0.1", labels }),
      apiVersion: "v1",
      kind: "Pod",
    })),
    { file: "t" },
  ).resources[0] as Pod;
}

Deno.test("compactPod() shares repeated strings and empty annotations between pods", () => {
  const pools = podPools();
  const a = parsed("a");
  const b = parsed("b");
  compactPod(a, pools);
  compactPod(b, pools);
  assertEquals([a.labels, a.namespace, a.nodeName], [{ app: "web" }, "default", "node-1"]);
  assertEquals(a.annotations, {});
  assertEquals(a.annotations === b.annotations, true);
  assertEquals(Object.isFrozen(a.annotations), true);
  // One pooled copy per distinct string seen twice: `default` (namespace and service account),
  // the node, the phase, the label's value; the container's name was seen once (b shares a's
  // containers list), so it waits.
  assertEquals([pools.strings.size, pools.strings.waiting], [4, 1]);
});

Deno.test("compactPod() gives pods with the same containers one frozen list", () => {
  const pools = podPools();
  const a = parsed("a", { app: "web", "pod-template-hash": "1" });
  const b = parsed("b", { app: "web", "pod-template-hash": "2" });
  const expected = structuredClone(a.containers);
  compactPod(a, pools);
  compactPod(b, pools);
  assertEquals(a.containers === b.containers, true);
  assertEquals(a.containers, expected);
  assertEquals(a.labels === b.labels, false);
  assertEquals(a.labels["pod-template-hash"], "1");
  assertEquals(Object.isFrozen(a.containers[0]!.ports), true);
  assertThrows(() => a.containers[0]!.ports.push({ containerPort: 1, protocol: "TCP" }));
  const c = parsed("c");
  c.containers = [{ name: "other", ports: [] }];
  compactPod(c, pools);
  assertEquals(c.containers === a.containers, false);
  assertEquals(pools.containers.size, 2);
});

Deno.test("compactPod() keeps the labels object validPod() took from the API's JSON", () => {
  const object = JSON.parse(JSON.stringify({
    ...podObject("a", "1", { ip: "10.0.0.1", labels: { app: "web", tier: "front" } }),
    apiVersion: "v1",
    kind: "Pod",
  }));
  const labels = object.metadata.labels;
  const pod = validPod(object)!;
  compactPod(pod, podPools());
  assertEquals(pod.labels === labels, true);
  assertEquals(pod.labels, { app: "web", tier: "front" });
});

Deno.test("StringPool pools a string at its second sighting, not before", () => {
  const pool = new StringPool();
  assertEquals(pool.get("hash-1"), "hash-1");
  assertEquals([pool.size, pool.waiting], [0, 1]);
  assertEquals(pool.get("team-000"), "team-000");
  assertEquals(pool.get("team-000"), "team-000");
  assertEquals([pool.size, pool.waiting], [1, 1]);
  pool.get("team-000");
  assertEquals([pool.size, pool.waiting], [1, 1]);
});

Deno.test("StringPool starts afresh past its bound", () => {
  const pool = new StringPool(2);
  for (const text of ["a", "a", "b", "b"]) pool.get(text);
  assertEquals(pool.size, 2);
  pool.get("c");
  pool.get("c");
  assertEquals([pool.size, pool.waiting], [1, 0]);
  assertEquals(pool.get("a"), "a");
  assertEquals([pool.size, pool.waiting], [1, 1]);
});

Deno.test("StringPool remembers a string seen once for one to two windows of newer ones", () => {
  const pool = new StringPool(10, 2);
  for (const text of ["a", "b", "c", "d"]) pool.get(text); // a and b are now the older window
  assertEquals([pool.size, pool.waiting], [0, 4]);
  pool.get("a");
  assertEquals([pool.size, pool.waiting], [1, 3]);
  pool.get("e"); // the window c, d is full: it becomes the older one, b is forgotten
  assertEquals([pool.size, pool.waiting], [1, 3]);
  pool.get("b");
  assertEquals([pool.size, pool.waiting], [1, 4]);
  pool.get("c");
  assertEquals([pool.size, pool.waiting], [2, 3]);
});

Deno.test("SharedValues returns the first value of a key and starts afresh past its bound", () => {
  const pool = new SharedValues<number[]>(2);
  const one = [1];
  assertEquals(pool.get("1", one) === one, true);
  assertEquals(pool.get("1", [1]) === one, true);
  pool.get("2", [2]);
  pool.get("3", [3]);
  assertEquals(pool.size, 1);
  assertEquals(pool.get("1", [1]) === one, false);
});

Deno.test("compactNode() pools a Node's name, label values and address types, changing none", () => {
  const pools = podPools();
  const node = (name: string, zone: string) =>
    parseManifestObject(
      JSON.parse(JSON.stringify({
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          labels: { "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone },
        },
        spec: { podCIDR: "10.244.1.0/24" },
        status: { addresses: [{ type: "InternalIP", address: "192.168.0.1" }] },
      })),
      { file: "t" },
    ).resources[0] as Node;
  const a = node("node-1", "zone-a");
  const b = node("node-2", "zone-a");
  const expected = [structuredClone(a), structuredClone(b)];
  compactNode(a, pools);
  compactNode(b, pools);
  assertEquals([a, b], expected);
  // Pooled, seen twice: each name (also its hostname label), the zone, the address type.
  assertEquals([pools.strings.size, pools.strings.waiting], [4, 0]);
});

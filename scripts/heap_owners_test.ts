import { assertEquals } from "../test/assert.ts";
import { dominators, ownersOf, parseSnapshot, type SnapshotJson } from "./heap_owners.ts";

const NODE_TYPES = ["synthetic", "object", "closure", "string"];
const EDGE_TYPES = ["property", "element", "internal", "weak"];

/**
 * A snapshot in V8's layout from nodes `[type, name, selfSize]` and edges
 * `[from, type, name, to]` (node 0 is the root).
 */
function snapshot(
  nodes: [string, string, number][],
  edges: [number, string, string, number][],
): SnapshotJson {
  const strings: string[] = [];
  const str = (s: string) => {
    const at = strings.indexOf(s);
    return at >= 0 ? at : strings.push(s) - 1;
  };
  const flatNodes: number[] = [];
  const flatEdges: number[] = [];
  nodes.forEach(([type, name, size], n) => {
    const own = edges.filter(([from]) => from === n);
    flatNodes.push(NODE_TYPES.indexOf(type), str(name), n + 1, size, own.length);
    for (const [, edgeType, edgeName, to] of own) {
      flatEdges.push(EDGE_TYPES.indexOf(edgeType), str(edgeName), to * 5);
    }
  });
  return {
    snapshot: {
      meta: {
        node_fields: ["type", "name", "id", "self_size", "edge_count"],
        node_types: [NODE_TYPES, "string", "number", "number", "number"],
        edge_fields: ["type", "name_or_index", "to_node"],
        edge_types: [EDGE_TYPES, "string_or_number", "node"],
      },
    },
    nodes: flatNodes,
    edges: flatEdges,
    strings,
  };
}

// root → Owner → x; Owner and Other both → shared; Other → y; Owner → closure → hidden;
// root ⇢ (weak) gone.
const GRAPH = snapshot(
  [
    ["synthetic", "(root)", 0], // 0
    ["object", "Owner", 100], // 1
    ["object", "Other", 50], // 2
    ["object", "Object", 10], // 3 x
    ["string", "shared text", 20], // 4 shared
    ["object", "Object", 5], // 5 y
    ["closure", "f", 7], // 6
    ["object", "Object", 3], // 7 behind the closure
    ["object", "Object", 1000], // 8 gone
  ],
  [
    [0, "property", "owner", 1],
    [0, "property", "other", 2],
    [0, "weak", "w", 8],
    [1, "property", "#mine", 3],
    [1, "property", "#text", 4],
    [1, "property", "fn", 6],
    [2, "property", "text", 4],
    [2, "property", "y", 5],
    [6, "internal", "context", 7],
  ],
);

Deno.test("dominators() finds each object's nearest dominator and what it retains", () => {
  const graph = parseSnapshot(GRAPH);
  const { idom, retained } = dominators(graph);
  assertEquals([...idom], [0, 0, 0, 1, 0, 2, 1, 6, -1]);
  assertEquals(retained[1], 100 + 10 + 7 + 3);
  assertEquals(retained[2], 55);
  assertEquals(retained[0], 100 + 50 + 10 + 20 + 5 + 7 + 3);
  assertEquals(retained[8], 0, "reached by a weak edge only: not live");
});

Deno.test("ownersOf() gives shared objects to the first owner that reaches them", () => {
  const graph = parseSnapshot(GRAPH);
  const { idom } = dominators(graph);
  assertEquals(ownersOf(graph, idom, ["Owner"]), [
    { owner: "Owner", instances: 1, bytes: 100 + 10 + 20 + 7 + 3 },
    { owner: "(other) Other", instances: 0, bytes: 55 },
  ]);
  // Listed first, Other takes the shared string; Owner keeps what it dominates.
  assertEquals(ownersOf(graph, idom, ["Other", "Owner"]), [
    { owner: "Owner", instances: 1, bytes: 120 },
    { owner: "Other", instances: 1, bytes: 75 },
  ]);
});

Deno.test("ownersOf() splits an owner by its fields and leaves what a closure holds unnamed", () => {
  const graph = parseSnapshot(GRAPH);
  const { idom } = dominators(graph);
  assertEquals(ownersOf(graph, idom, ["Owner", "Other"], "field"), [
    { owner: "Owner", instances: 1, bytes: 100 },
    { owner: "Other", instances: 1, bytes: 50 },
    { owner: "Owner.#text", instances: 1, bytes: 20 },
    { owner: "Owner (internal)", instances: 1, bytes: 10 },
    { owner: "Owner.#mine", instances: 1, bytes: 10 },
    { owner: "Other.y", instances: 1, bytes: 5 },
  ]);
});

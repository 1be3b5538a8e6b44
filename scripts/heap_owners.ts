/**
 * What a V8 heap snapshot's live objects belong to: the dominator tree of the snapshot (an object
 * is _owned_ by its nearest dominator, the one object every path from the roots passes through),
 * each object's retained size (itself and what it alone keeps alive), and the heap grouped by
 * _owner_: the nearest dominator whose constructor is one of the classes asked for. Used on
 * ternd's snapshots (`scripts/heap_snapshot.ts`) to say which part of the daemon holds which share
 * of its heap (docs/benchmarks.md, "What ternd's heap holds").
 *
 * `deno run -A --v8-flags=--max-old-space-size=8192 scripts/heap_owners.ts SNAPSHOT
 * [--owners ClusterState,PeerIndex,...] [--tree MiB] [--depth N]`: the owners' table, and with
 * `--tree` the dominator tree down to the objects retaining at least that much. Objects no
 * listed owner dominates are `(other)`, split by their top dominator's name.
 *
 * The pure parts ({@linkcode parseSnapshot}, {@linkcode dominators}, {@linkcode ownersOf}) are
 * unit-tested on hand-made graphs.
 * @module
 */
import { parseArgs } from "node:util";

/** A heap snapshot's graph in flat arrays, as V8 writes it (nodes and edges by index). */
export interface HeapGraph {
  /** Node count. */
  count: number;
  /** Per node: its type's name (`object`, `string`, `closure`, `hidden`, …). */
  type: string[];
  /** Per node: index of its name in `strings` (a constructor, a string's value, …). */
  name: Uint32Array;
  /** Per node: its own size in bytes. */
  selfSize: Float64Array;
  /** Per node: index of its first edge in `edgeTo`; edges of node n end at `firstEdge[n + 1]!`. */
  firstEdge: Uint32Array;
  /** Per edge: the node it points to. */
  edgeTo: Uint32Array;
  /** Per edge: its type (`property`, `element`, `internal`, `weak`, …). */
  edgeType: string[];
  /** Per edge: its name (a property's) or index (an element's), as in the snapshot. */
  edgeName: Uint32Array;
  /** The snapshot's string table. */
  strings: string[];
}

/** The subset of V8's `.heapsnapshot` JSON that {@linkcode parseSnapshot} reads. */
export interface SnapshotJson {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: (string[] | string)[];
      edge_fields: string[];
      edge_types: (string[] | string)[];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The graph of a parsed snapshot (pure). */
export function parseSnapshot(json: SnapshotJson): HeapGraph {
  const meta = json.snapshot.meta;
  const nodeWidth = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const nf = (field: string) => meta.node_fields.indexOf(field);
  const ef = (field: string) => meta.edge_fields.indexOf(field);
  const [nType, nName, nSize, nEdges] = ["type", "name", "self_size", "edge_count"].map(nf) as [
    number,
    number,
    number,
    number,
  ];
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map(ef) as [
    number,
    number,
    number,
  ];
  const nodeTypes = meta.node_types[nType]! as string[];
  const edgeTypes = meta.edge_types[eType]! as string[];
  const count = json.nodes.length / nodeWidth;
  const edgeCount = json.edges.length / edgeWidth;
  const graph: HeapGraph = {
    count,
    type: new Array(count),
    name: new Uint32Array(count),
    selfSize: new Float64Array(count),
    firstEdge: new Uint32Array(count + 1),
    edgeTo: new Uint32Array(edgeCount),
    edgeType: new Array(edgeCount),
    edgeName: new Uint32Array(edgeCount),
    strings: json.strings,
  };
  let edge = 0;
  for (let n = 0; n < count; n++) {
    const at = n * nodeWidth;
    graph.type[n] = nodeTypes[json.nodes[at + nType]!]!;
    graph.name[n] = json.nodes[at + nName]!;
    graph.selfSize[n] = json.nodes[at + nSize]!;
    graph.firstEdge[n] = edge;
    edge += json.nodes[at + nEdges]!;
  }
  graph.firstEdge[count] = edge;
  for (let e = 0; e < edgeCount; e++) {
    const at = e * edgeWidth;
    graph.edgeType[e] = edgeTypes[json.edges[at + eType]!]!;
    graph.edgeName[e] = json.edges[at + eName]!;
    graph.edgeTo[e] = json.edges[at + eTo]! / nodeWidth;
  }
  return graph;
}

/**
 * Each node's immediate dominator from node 0 (the snapshot's root), weak edges left out, and
 * each node's retained size (pure). Unreachable nodes have `idom` -1 and retain nothing. The
 * iterative algorithm of Cooper, Harvey and Kennedy over a reverse postorder.
 */
export function dominators(graph: HeapGraph): { idom: Int32Array; retained: Float64Array } {
  const { count, firstEdge, edgeTo, edgeType } = graph;
  const strong = (e: number) => edgeType[e]! !== "weak";
  // Postorder by an iterative depth-first walk.
  const order = new Int32Array(count).fill(-1); // postorder number
  const post: number[] = [];
  const visited = new Uint8Array(count);
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  visited[0] = 1;
  cursor[0] = firstEdge[0]!;
  while (stack.length > 0) {
    const n = stack[stack.length - 1]!;
    let pushed = false;
    while (cursor[n]! < firstEdge[n + 1]!) {
      const e = cursor[n]!;
      cursor[n] = e + 1;
      const to = edgeTo[e]!;
      if (!strong(e) || visited[to]!) continue;
      visited[to] = 1;
      cursor[to] = firstEdge[to]!;
      stack.push(to);
      pushed = true;
      break;
    }
    if (!pushed) {
      stack.pop();
      order[n] = post.length;
      post.push(n);
    }
  }
  // Predecessors (strong edges between reached nodes), as a compressed list.
  const predStart = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) {
    if (!visited[n]!) continue;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
      const to = edgeTo[e]!;
      if (strong(e) && visited[to]) predStart[to + 1] = predStart[to + 1]! + 1;
    }
  }
  for (let n = 0; n < count; n++) predStart[n + 1] = predStart[n + 1]! + predStart[n]!;
  const preds = new Uint32Array(predStart[count]!);
  const fill = predStart.slice(0, count);
  for (let n = 0; n < count; n++) {
    if (!visited[n]!) continue;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
      const to = edgeTo[e]!;
      if (!strong(e) || !visited[to]) continue;
      preds[fill[to]!] = n;
      fill[to] = fill[to]! + 1;
    }
  }
  // idom in postorder numbers.
  const dom = new Int32Array(post.length).fill(-1);
  const root = order[0]!;
  dom[root] = root;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (a < b) a = dom[a]!;
      while (b < a) b = dom[b]!;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let i = post.length - 1; i >= 0; i--) {
      if (i === root) continue;
      const n = post[i]!;
      let next = -1;
      for (let p = predStart[n]!; p < predStart[n + 1]!; p++) {
        const q = order[preds[p]!]!;
        if (dom[q]! === -1) continue;
        next = next === -1 ? q : intersect(q, next);
      }
      if (next !== dom[i]!) {
        dom[i] = next;
        changed = true;
      }
    }
  }
  const idom = new Int32Array(count).fill(-1);
  const retained = new Float64Array(count);
  for (let i = 0; i < post.length; i++) {
    const n = post[i]!;
    idom[n] = i === root ? n : post[dom[i]!]!;
    retained[n] = retained[n]! + graph.selfSize[n]!;
  }
  // Postorder: a node comes after everything it dominates.
  for (let i = 0; i < post.length; i++) {
    const n = post[i]!;
    if (i !== root) retained[idom[n]!] = retained[idom[n]!]! + retained[n]!;
  }
  return { idom, retained };
}

/** The bytes owned by one owner: every object it dominates that no nearer owner does. */
export interface OwnerShare {
  /**
   * The owner's constructor name (with `.field` when split by field), or `(other) …` for the
   * rest: its topmost dominator's name, or its kind.
   */
  owner: string;
  /** Instances of the owner that own something. */
  instances: number;
  /** Bytes owned. */
  bytes: number;
}

/** Which owner instance holds each node, and through which of the owner's edges. */
export interface Ownership {
  /** Per node: the owner instance's node, or -1 (none; or unreachable). */
  owner: Int32Array;
  /** Per node: the owner's edge it was reached through (a field of the owner), or -1. */
  field: Int32Array;
}

/**
 * Each reachable node's owner (pure): its nearest dominator (or itself) whose name is in `owners`
 * and whose type is `object`. What several owners share (dominated by none of them) goes to the
 * first owner, in the order given, that reaches it through objects no other owner owns; that walk
 * does not enter code, closures or V8's internal objects (hidden classes, contexts), which lead
 * everywhere.
 */
export function ownership(
  graph: HeapGraph,
  idom: Int32Array,
  owners: readonly string[],
): Ownership {
  const wanted = new Set(owners);
  const owner = new Int32Array(graph.count).fill(-2); // -2: not yet known
  const isOwner = (n: number) =>
    graph.type[n]! === "object" && wanted.has(graph.strings[graph.name[n]!]!);
  for (let n = 0; n < graph.count; n++) {
    if (idom[n]! < 0) {
      owner[n] = -1;
      continue;
    }
    const path: number[] = [];
    let at = n;
    while (owner[at]! === -2) {
      if (isOwner(at)) {
        owner[at] = at;
        break;
      }
      if (idom[at]! === at) {
        owner[at] = -1;
        break;
      }
      path.push(at);
      at = idom[at]!;
    }
    for (const p of path) owner[p] = owner[at]!;
  }
  const opaque = (n: number) => {
    const t = graph.type[n]!;
    return t === "code" || t === "closure" || t === "hidden" || t === "synthetic" ||
      t === "object shape" || isSystem(graph.strings[graph.name[n]!]!);
  };
  const byName = new Map<string, number[]>();
  for (let n = 0; n < graph.count; n++) {
    if (owner[n]! !== n) continue;
    const name = graph.strings[graph.name[n]!]!;
    const list = byName.get(name);
    if (list === undefined) byName.set(name, [n]);
    else list.push(n);
  }
  const field = new Int32Array(graph.count).fill(-1);
  const seen = new Uint8Array(graph.count);
  for (const name of owners) {
    for (const instance of byName.get(name) ?? []) {
      const stack = [instance];
      seen[instance] = 1;
      while (stack.length > 0) {
        const n = stack.pop()!;
        for (let e = graph.firstEdge[n]!; e < graph.firstEdge[n + 1]!; e++) {
          if (graph.edgeType[e]! === "weak") continue;
          const to = graph.edgeTo[e]!;
          if (seen[to]! || opaque(to)) continue;
          if (owner[to]! === -1) owner[to] = instance;
          else if (owner[to]! !== instance) continue;
          seen[to] = 1;
          // A WeakMap's value reached from its key starts a field of its own.
          field[to] = n === instance || isEphemeron(graph, e) ? e : field[n]!;
          stack.push(to);
        }
      }
    }
  }
  return { owner, field };
}

/**
 * V8's internal objects that lead everywhere (contexts, hidden classes, code): all `system / …`
 * but an object's own out-of-object properties (`system / PropertyArray`).
 */
function isSystem(name: string): boolean {
  return name.startsWith("system / ") && name !== "system / PropertyArray";
}

/** Whether edge `e` is V8's edge from a WeakMap's key to its value. */
function isEphemeron(graph: HeapGraph, e: number): boolean {
  const t = graph.edgeType[e]!;
  return t === "internal" && graph.strings[graph.edgeName[e]!]!.includes("pair in WeakMap");
}

/**
 * An edge's name as a person reads it: a property's name, an element's `[index]`, or
 * `(WeakMap value)` for the edge from a WeakMap's key to its value.
 */
function edgeLabel(graph: HeapGraph, e: number): string {
  const t = graph.edgeType[e]!;
  if (t === "element" || t === "hidden") return `[${graph.edgeName[e]!}]`;
  return isEphemeron(graph, e) ? "(WeakMap value)" : graph.strings[graph.edgeName[e]!]!;
}

/**
 * The heap grouped by owner (pure; see {@linkcode ownership}), largest first. `split`: `top`
 * labels the rest by its topmost dominator below the root, `kind` by each object's kind, and
 * `field` also splits each owner by the field of it that holds the bytes.
 */
export function ownersOf(
  graph: HeapGraph,
  idom: Int32Array,
  owners: readonly string[],
  split: "top" | "kind" | "field" = "top",
): OwnerShare[] {
  const { owner, field } = ownership(graph, idom, owners);
  // The topmost dominator of a node below the root (for the rest's label).
  const top = (n: number): number => {
    let at = n;
    while (idom[at]! >= 0 && idom[idom[at]!]! !== idom[at]!) at = idom[at]!;
    return at;
  };
  const shares = new Map<string, { bytes: number; instances: Set<number> }>();
  for (let n = 0; n < graph.count; n++) {
    if (idom[n]! < 0) continue;
    const o = owner[n]!;
    let label: string;
    if (o >= 0) {
      label = graph.strings[graph.name[o]!]!;
      if (split === "field" && o !== n) {
        label += field[n]! >= 0 ? `.${edgeLabel(graph, field[n]!)}` : " (internal)";
      }
    } else {
      label = split === "top"
        ? `(other) ${graph.strings[graph.name[top(n)]!]!}`
        : `(other) ${kindOf(graph, n)}`;
    }
    let share = shares.get(label);
    if (share === undefined) shares.set(label, share = { bytes: 0, instances: new Set() });
    share.bytes += graph.selfSize[n]!;
    if (o >= 0) share.instances.add(o);
  }
  return [...shares.entries()]
    .filter(([, s]) => s.bytes > 0)
    .map(([owner, s]) => ({ owner, instances: s.instances.size, bytes: s.bytes }))
    .sort((a, b) => b.bytes - a.bytes || (a.owner < b.owner ? -1 : 1));
}

/** A node's kind: its type, and its name unless it is a string's value. */
function kindOf(graph: HeapGraph, n: number): string {
  const t = graph.type[n]!;
  return t.includes("string") || t === "number" ? t : describe(graph, n);
}

/** A node as a person reads it: type, name (cut to 60 characters), id. */
function describe(graph: HeapGraph, n: number): string {
  const name = graph.strings[graph.name[n]!]!.replace(/\s+/g, " ").slice(0, 60);
  return `${graph.type[n]!} ${name}`;
}

/**
 * The dominator tree's lines down to nodes retaining at least `minBytes`, `depth` levels deep,
 * each with the edge it is reached by from its dominator when there is one.
 */
function treeLines(
  graph: HeapGraph,
  idom: Int32Array,
  retained: Float64Array,
  minBytes: number,
  depth: number,
): string[] {
  const children = new Map<number, number[]>();
  for (let n = 0; n < graph.count; n++) {
    if (idom[n]! < 0 || idom[n]! === n || retained[n]! < minBytes) continue;
    let list = children.get(idom[n]!);
    if (list === undefined) children.set(idom[n]!, list = []);
    list.push(n);
  }
  const edgeTo = (from: number, to: number) => {
    for (let e = graph.firstEdge[from]!; e < graph.firstEdge[from + 1]!; e++) {
      if (graph.edgeTo[e]! === to) return `.${edgeLabel(graph, e)} `;
    }
    return "";
  };
  const lines: string[] = [];
  const walk = (n: number, level: number) => {
    const kids = (children.get(n) ?? []).sort((a, b) => retained[b]! - retained[a]!);
    for (const k of kids) {
      lines.push(
        `${"  ".repeat(level)}${(retained[k]! / 2 ** 20).toFixed(2)} MiB ${edgeTo(n, k)}${
          describe(graph, k)
        } (self ${graph.selfSize[k]!})`,
      );
      if (level + 1 < depth) walk(k, level + 1);
    }
  };
  walk(0, 0);
  return lines;
}

/**
 * The objects owned by instances of `name` (through `field` when given) grouped by kind, largest
 * first.
 */
function ownedByKind(
  graph: HeapGraph,
  own: Ownership,
  name: string,
  field: string | undefined,
): { kind: string; count: number; bytes: number }[] {
  const kinds = new Map<string, { count: number; bytes: number }>();
  for (let n = 0; n < graph.count; n++) {
    const o = own.owner[n]!;
    if (o < 0 || graph.strings[graph.name[o]!]! !== name) continue;
    if (field !== undefined && (own.field[n]! < 0 || edgeLabel(graph, own.field[n]!) !== field)) {
      continue;
    }
    const kind = kindOf(graph, n);
    const k = kinds.get(kind) ?? { count: 0, bytes: 0 };
    k.count++;
    k.bytes += graph.selfSize[n]!;
    kinds.set(kind, k);
  }
  return [...kinds.entries()].map(([kind, k]) => ({ kind, ...k }))
    .sort((a, b) => b.bytes - a.bytes);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      owners: { type: "string", default: "" },
      tree: { type: "string" },
      depth: { type: "string", default: "8" },
      kinds: { type: "string" },
      split: { type: "string", default: "top" },
    },
  });
  if (positionals.length !== 1) throw new Error("No snapshot: give the .heapsnapshot file");
  const graph = parseSnapshot(JSON.parse(await Deno.readTextFile(positionals[0]!)));
  const { idom, retained } = dominators(graph);
  let total = 0;
  for (let n = 0; n < graph.count; n++) if (idom[n]! >= 0) total += graph.selfSize[n]!;
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  console.log(`${graph.count} nodes, ${mib(total)} MiB reachable`);
  const owners = values.owners.split(",").filter((o) => o !== "");
  if (owners.length > 0) {
    console.log("\n| owner | instances | MiB | share |\n| --- | ---: | ---: | ---: |");
    const split = values.split as "top" | "kind" | "field";
    for (const s of ownersOf(graph, idom, owners, split)) {
      if (s.bytes < total / 1000) continue;
      const share = (100 * s.bytes / total).toFixed(1);
      console.log(`| ${s.owner} | ${s.instances} | ${mib(s.bytes)} | ${share} % |`);
    }
  }
  if (values.tree !== undefined) {
    console.log("");
    const min = Number(values.tree) * 2 ** 20;
    for (const line of treeLines(graph, idom, retained, min, Number(values.depth))) {
      console.log(line);
    }
  }
  if (values.kinds !== undefined) {
    // What an owner (or one of its fields: `Owner.#field`) holds, by kind.
    const dot = values.kinds.indexOf(".");
    const name = dot < 0 ? values.kinds : values.kinds.slice(0, dot);
    const field = dot < 0 ? undefined : values.kinds.slice(dot + 1);
    const own = ownership(graph, idom, owners.length > 0 ? owners : [name]);
    console.log(`\n${values.kinds}, by kind:`);
    for (const k of ownedByKind(graph, own, name, field).slice(0, 40)) {
      console.log(`${mib(k.bytes).padStart(8)} MiB ${String(k.count).padStart(8)} ${k.kind}`);
    }
  }
}

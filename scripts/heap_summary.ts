/**
 * What a V8 heap snapshot holds, grouped: the self sizes summed by object shape (a plain
 * object's shape is its property names, `Object{kind,namespace,…}`; anything else its V8 type
 * and name), by shape and first retainer (the object holding it and through which edge: a Map's
 * hash table, a pod's `podIPs`), and optionally everything reachable from the objects of one shape
 * (a policy's kept JSON). Divided by `--per N` (pods, say) it reads as bytes per pod. For
 * `profile_kube_sync.ts --heap-snapshot FILE` (docs/benchmarks.md, "A smaller live heap per pod").
 * The file is read by `heap_owners.ts` (`parseSnapshot`), which groups the same graph by owner
 * (dominators) instead of by shape.
 *
 * `deno run -A --v8-flags=--max-old-space-size=8000 scripts/heap_summary.ts FILE [--top 40]
 * [--per 1] [--reach SHAPE_PREFIX]`
 * @module
 */
import { parseArgs } from "node:util";
import { type HeapGraph, parseSnapshot, type SnapshotJson } from "./heap_owners.ts";

/** One group: how many objects and their self sizes, in bytes. */
export interface Group {
  key: string;
  count: number;
  bytes: number;
}

/** What {@linkcode summarize} finds. */
export interface HeapSummary {
  /** Every object's self size, in bytes. */
  totalBytes: number;
  /** Objects. */
  objects: number;
  /** By shape, largest first. */
  byShape: Group[];
  /** By `shape ← owner's shape.edge`, largest first. */
  byOwner: Group[];
  /** What the objects of `reach`'s shape lead to, by shape, largest first (when asked). */
  reach?: { roots: number; bytes: number; byShape: Group[] };
}

const STRING_TYPES = new Set(["string", "concatenated string", "sliced string"]);
/** Not followed by `reach`: what every object of a kind shares. */
const SHARED_TYPES = new Set(["code", "object shape", "closure", "synthetic"]);

/**
 * Groups the self sizes of `graph` (a snapshot read by `heap_owners.ts`'s `parseSnapshot`);
 * `reach` names a shape prefix whose objects' reach is summed.
 */
export function summarize(graph: HeapGraph, reach?: string): HeapSummary {
  const { count: n, firstEdge, strings } = graph;
  const typeOf = (i: number) => graph.type[i]!;
  const sizeOf = (i: number) => graph.selfSize[i]!;
  const edgeType = (e: number) => graph.edgeType[e]!;
  const edgeName = (e: number) => strings[graph.edgeName[e]!] ?? "";
  const shape = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const type = typeOf(i);
    const name = strings[graph.name[i]!]!;
    if (STRING_TYPES.has(type)) shape[i] = type;
    else if (type === "object" && name === "Object") {
      const props: string[] = [];
      for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e++) {
        if (edgeType(e) === "property" && edgeName(e) !== "__proto__") props.push(edgeName(e));
      }
      shape[i] = `Object{${props.slice(0, 12).join(",")}}`;
    } else shape[i] = `${type}:${name.slice(0, 40)}`;
  }
  // The first strong retainer of each object, and the edge it holds it through.
  const owner = new Int32Array(n).fill(-1);
  const via = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e++) {
      const type = edgeType(e);
      if (type === "weak" || type === "shortcut") continue;
      const to = graph.edgeTo[e]!;
      if (owner[to] !== -1) continue;
      owner[to] = i;
      via[to] = type === "element" || type === "hidden"
        ? "[]"
        : type === "property"
        ? `.${edgeName(e)}`
        : ` ${edgeName(e)}`;
    }
  }
  const byShape = new Map<string, Group>();
  const byOwner = new Map<string, Group>();
  const add = (groups: Map<string, Group>, key: string, bytes: number) => {
    const group = groups.get(key) ?? { key, count: 0, bytes: 0 };
    group.count++;
    group.bytes += bytes;
    groups.set(key, group);
  };
  let totalBytes = 0;
  for (let i = 0; i < n; i++) {
    const bytes = sizeOf(i);
    totalBytes += bytes;
    add(byShape, shape[i]!, bytes);
    const o = owner[i]!;
    add(byOwner, `${shape[i]} ← ${o < 0 ? "(root)" : `${shape[o]}${via[i]}`}`, bytes);
  }
  const largest = (groups: Map<string, Group>) =>
    [...groups.values()].sort((a, b) => b.bytes - a.bytes);
  const summary: HeapSummary = {
    totalBytes,
    objects: n,
    byShape: largest(byShape),
    byOwner: largest(byOwner),
  };
  if (reach !== undefined) {
    const seen = new Uint8Array(n);
    const stack: number[] = [];
    for (let i = 0; i < n; i++) if (shape[i]!.startsWith(reach)) stack.push(i);
    const roots = stack.length;
    const reached = new Map<string, Group>();
    let bytes = 0;
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (seen[i] === 1) continue;
      seen[i] = 1;
      if (SHARED_TYPES.has(typeOf(i))) continue;
      bytes += sizeOf(i);
      add(reached, shape[i]!, sizeOf(i));
      for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e++) {
        const type = edgeType(e);
        if (type === "weak" || type === "shortcut") continue;
        if (edgeName(e) === "__proto__" || (type === "internal" && edgeName(e) === "map")) continue;
        stack.push(graph.edgeTo[e]!);
      }
    }
    summary.reach = { roots, bytes, byShape: largest(reached) };
  }
  return summary;
}

/** The summary as text: `top` groups of each kind, bytes also per `per` units. */
export function formatSummary(summary: HeapSummary, top: number, per: number): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2).padStart(8);
  const rows = (groups: Group[]) =>
    groups.slice(0, top).map((g) =>
      `${mib(g.bytes)} MiB ${String(g.count).padStart(8)} × ${
        (g.bytes / g.count).toFixed(0).padStart(5)
      } B ${(g.bytes / per).toFixed(1).padStart(8)} B/unit  ${g.key.slice(0, 160)}`
    );
  const lines = [
    `${mib(summary.totalBytes)} MiB in ${summary.objects} objects: ${
      (summary.totalBytes / per).toFixed(0)
    } B per unit (${per})`,
    "by shape:",
    ...rows(summary.byShape),
    "by shape ← first retainer:",
    ...rows(summary.byOwner),
  ];
  if (summary.reach !== undefined) {
    const { roots, bytes, byShape } = summary.reach;
    lines.push(
      `reached from ${roots} roots: ${mib(bytes)} MiB, ${
        (bytes / Math.max(1, roots)).toFixed(0)
      } B each:`,
      ...rows(byShape),
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      top: { type: "string", default: "40" },
      per: { type: "string", default: "1" },
      reach: { type: "string" },
    },
  });
  const file = positionals[0];
  if (file === undefined) {
    console.error("Usage: heap_summary.ts FILE [--top 40] [--per 1] [--reach SHAPE_PREFIX]");
    Deno.exit(2);
  }
  const graph = parseSnapshot(JSON.parse(await Deno.readTextFile(file)) as SnapshotJson);
  console.log(
    formatSummary(summarize(graph, values.reach), Number(values.top), Number(values.per)),
  );
}

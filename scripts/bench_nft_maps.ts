/**
 * What one change to a layer's map costs the kernel, by map shape and size (issue 11: the event →
 * kernel tail). A layer's map today is one interval map (`nft_set_pipapo`) of `ipv4_addr .
 * inet_proto . inet_service : verdict` with per-element counters (src/policy/render.ts). Each
 * shape below holds the same `--sizes` elements (`10.0.0.1 . tcp . 7777`, `10.0.0.3 . …`: no two
 * merge into a range), each in a namespace of its own (`ternt<pid>x…`, never the root one), and
 * each round times one `nft -f FILE` transaction per operation, the shapes in turn, alternately
 * first:
 *
 * - `interval`: the shape tern renders (`flags interval; counter;`).
 * - `interval/16`: the same elements in 16 interval maps by address range; a change touches one
 *   (its elements: size / 16).
 * - `hash`: one concatenated map without `flags interval` (`nft_set_hash`), which holds only
 *   single addresses, protocols and ports.
 *
 * Operations: `add` (a new element, after every address), `replace verdict` (that element
 * deleted and added with another verdict, one transaction), `delete newest` (that element),
 * `delete oldest` (the element inserted first; it is put back, untimed, and becomes the newest),
 * and `nothing` (a transaction on a one-element set of its own: the floor of starting `nft`
 * through `ip netns exec`). Also the time to create each shape whole (the initial programming).
 * Prints the median and p90 of each, with the load average at start and end. Needs root.
 *
 *   deno run -A scripts/bench_nft_maps.ts [--sizes 1000,10000,30000] [--rounds 15]
 *
 * {@linkcode benchNftMaps} is what `deno task bench --only nft-maps` calls; the pure parts (the
 * elements, the transactions, the figures) are exported and unit-tested.
 * @module
 */
import { parseArgs } from "node:util";
import { must, timeNftLoad } from "./_nft_load.ts";

/** A map layout measured: its name and how many maps its elements are spread over. */
export interface MapShape {
  name: string;
  interval: boolean;
  shards: number;
}

/** The shapes measured, in order. */
export const SHAPES: readonly MapShape[] = [
  { name: "interval", interval: true, shards: 1 },
  { name: "interval/16", interval: true, shards: 16 },
  { name: "hash", interval: false, shards: 1 },
];

/** The operations timed, in the order each round runs them. */
export const OPERATIONS = [
  "nothing",
  "add",
  "replace verdict",
  "delete newest",
  "delete oldest",
] as const;

/** One timed operation. */
export type Operation = typeof OPERATIONS[number];

/** The element of index `i`: `10.0.0.1`, `10.0.0.3`, … (pure). */
export function elementAddress(i: number): string {
  const a = 10 * 2 ** 24 + 2 * i + 1;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** The shard of element `i` of `size` in `shards` maps split by address range (pure). */
export function shardOf(i: number, size: number, shards: number): number {
  return Math.min(shards - 1, Math.floor((i * shards) / size));
}

const TABLE = "inet bench";
const key = (i: number) => `${elementAddress(i)} . tcp . 7777`;

/** The transaction that creates `shape` holding elements 0 … size − 1 (pure). */
export function createTransaction(shape: MapShape, size: number): string {
  const out = [`table ${TABLE} {}`, `delete table ${TABLE}`, `table ${TABLE} {`];
  out.push("\tset nothing { type ipv4_addr; }");
  for (let s = 0; s < shape.shards; s++) {
    const elements: string[] = [];
    for (let i = 0; i < size; i++) {
      if (shardOf(i, size, shape.shards) === s) elements.push(`${key(i)} : accept`);
    }
    out.push(
      `\tmap m${s} {`,
      "\t\ttype ipv4_addr . inet_proto . inet_service : verdict",
      ...(shape.interval ? ["\t\tflags interval"] : []),
      "\t\tcounter",
    );
    // One block (as the whole table's render writes it): a second `elements =` would replace it.
    if (elements.length > 0) out.push(`\t\telements = { ${elements.join(",\n\t\t\t")} }`);
    out.push("\t}");
  }
  out.push("}", "");
  return out.join("\n");
}

/**
 * The transaction of `operation` on element `i` of a shape of `size` elements, in map
 * `m<shard>` (pure). `nothing` adds and deletes an element of a one-element set.
 */
export function operationTransaction(
  operation: Operation,
  at: { i: number; shard: number },
): string {
  const map = `${TABLE} m${at.shard}`;
  switch (operation) {
    case "nothing":
      return `add element ${TABLE} nothing { 192.0.2.1 }\ndelete element ${TABLE} nothing { 192.0.2.1 }\n`;
    case "add":
      return `add element ${map} { ${key(at.i)} : accept }\n`;
    case "replace verdict":
      return `delete element ${map} { ${key(at.i)} }\nadd element ${map} { ${key(at.i)} : drop }\n`;
    case "delete newest":
    case "delete oldest":
      return `delete element ${map} { ${key(at.i)} }\n`;
  }
}

/** The times of one shape and size, by operation (ms), and its creation times. */
export interface ShapeTimes {
  shape: string;
  size: number;
  create: number[];
  times: Map<Operation, number[]>;
}

/** A run: every shape and size, with the load average at start and end. */
export interface NftMapsResult {
  rounds: number;
  loadBefore: string;
  loadAfter: string;
  results: ShapeTimes[];
}

/** The `q` quantile of `xs` (nearest rank, pure). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The result as a table: per size and operation, each shape's median / p90 (pure). */
export function formatNftMaps(result: NftMapsResult): string {
  const shapes = [...new Set(result.results.map((r) => r.shape))];
  const sizes = [...new Set(result.results.map((r) => r.size))];
  const lines = [
    `${result.rounds} rounds, load ${result.loadBefore} at start, ${result.loadAfter} at end; ` +
    "median / p90 ms of one nft -f (ip netns exec included)",
    `${"size, operation".padEnd(24)}${shapes.map((s) => s.padEnd(16)).join("")}`,
  ];
  for (const size of sizes) {
    for (const op of ["create", ...OPERATIONS] as const) {
      const cells = shapes.map((shape) => {
        const r = result.results.find((x) => x.shape === shape && x.size === size)!;
        const xs = op === "create" ? r.create : r.times.get(op)!;
        return `${quantile(xs, 0.5).toFixed(1)} / ${quantile(xs, 0.9).toFixed(1)}`.padEnd(16);
      });
      lines.push(`${`${size}, ${op}`.padEnd(24)}${cells.join("")}`);
    }
  }
  return lines.join("\n");
}

/** What {@linkcode benchNftMaps} measures; every field documents its default. */
export interface NftMapsOptions {
  /** Map sizes. Default 1 000, 10 000, 30 000. */
  sizes?: number[];
  /** Rounds per size. Default 15. */
  rounds?: number;
}

const loadAverage = async () =>
  (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");

/** Runs the measurement (root; namespaces of its own, removed at the end). */
export async function benchNftMaps(options: NftMapsOptions = {}): Promise<NftMapsResult> {
  const sizes = options.sizes ?? [1000, 10000, 30000];
  const rounds = options.rounds ?? 15;
  const loadBefore = await loadAverage();
  const results: ShapeTimes[] = [];
  const spaces = SHAPES.map((shape, s) => ({ shape, netns: `ternt${Deno.pid}xmaps${s}` }));
  for (const { netns } of spaces) await must(["ip", "netns", "add", netns]);
  try {
    for (const size of sizes) {
      const states = spaces.map(({ shape, netns }) => ({
        shape,
        netns,
        /** Per shard: its elements, oldest first. */
        order: Array.from({ length: shape.shards }, () => [] as number[]),
        times: { shape: shape.name, size, create: [], times: new Map() } as ShapeTimes,
      }));
      for (const state of states) {
        for (let i = 0; i < size; i++) state.order[shardOf(i, size, state.shape.shards)]!.push(i);
        for (const op of OPERATIONS) state.times.times.set(op, []);
        results.push(state.times);
      }
      // Creation, paired: three times each (the last one stays).
      for (let round = 0; round < 3; round++) {
        const order = round % 2 === 0 ? states : [...states].reverse();
        for (const state of order) {
          state.times.create.push(
            await timeNftLoad(state.netns, createTransaction(state.shape, size)),
          );
        }
      }
      let next = size;
      for (let round = 0; round < rounds; round++) {
        const fresh = next++;
        const order = round % 2 === 0 ? states : [...states].reverse();
        for (const state of order) {
          // The new element goes into the last shard (its address is after every other).
          const last = state.shape.shards - 1;
          const oldest = state.order[0]!;
          const steps: [Operation, number, number][] = [
            ["nothing", 0, 0],
            ["add", fresh, last],
            ["replace verdict", fresh, last],
            ["delete newest", fresh, last],
            ["delete oldest", oldest[0]!, 0],
          ];
          for (const [op, i, s] of steps) {
            const ms = await timeNftLoad(state.netns, operationTransaction(op, { i, shard: s }));
            state.times.times.get(op)!.push(ms);
          }
          // The oldest element back, untimed: now the newest of its shard.
          const back = oldest.shift()!;
          await timeNftLoad(state.netns, operationTransaction("add", { i: back, shard: 0 }));
          oldest.push(back);
        }
      }
    }
  } finally {
    for (const { netns } of spaces) await must(["ip", "netns", "del", netns]);
  }
  return { rounds, loadBefore, loadAfter: await loadAverage(), results };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sizes: { type: "string", default: "1000,10000,30000" },
      rounds: { type: "string", default: "15" },
    },
  });
  const result = await benchNftMaps({
    sizes: values.sizes.split(",").map(Number),
    rounds: Number(values.rounds),
  });
  console.log(formatNftMaps(result));
}

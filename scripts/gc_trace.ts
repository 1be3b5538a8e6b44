/**
 * What V8's collections cost in a stretch of a process's life, from its `--trace-gc-nvp` lines
 * (one JSON object per collection): how many scavenges and their pauses, how much they promoted
 * into the old generation (what brings the next full collection closer), and each full
 * collection's work on the main thread (its incremental marking steps and its final pause: what
 * holds ternd's event loop, docs/benchmarks.md "Where the event → kernel tail goes"). Used beside
 * `policy_event_bench.ts` and `profile_kube_sync.ts`, whose `--out` file gives the window:
 *
 * `deno run -A scripts/gc_trace.ts TRACE_FILE [--window RESULT.json]`: `RESULT.json` holds a
 * `windowMs: [from, to]` on the process's `performance.now()` clock (about V8's trace clock,
 * which starts with the isolate); without it, the whole trace is summed.
 * @module
 */
import { parseArgs } from "node:util";

/** One collection from a `--trace-gc-nvp` line. */
export interface GcRecord {
  /** Ms since the isolate started. */
  atMs: number;
  /** V8's short name: `s` a scavenge, `mc` a mark-compact (full), others as V8 names them. */
  kind: string;
  /** The final, stop-the-world pause. */
  pauseMs: number;
  /** A full collection's incremental marking steps on the main thread before that pause. */
  incrementalMs: number;
  /** Bytes moved from the young generation to the old. */
  promoted: number;
}

/** The collections of a trace (pure); lines that are not V8's nvp records are skipped. */
export function parseGcTrace(text: string): GcRecord[] {
  const out: GcRecord[] = [];
  for (const line of text.split("\n")) {
    const m = /^\[[^\]]*\]\s+(\d+(?:\.\d+)?) ms: GC: (\{.*\})\s*$/.exec(line);
    if (m === null) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(m[2]!);
    } catch {
      continue; // a line cut by another writer
    }
    const num = (key: string) => typeof record[key] === "number" ? record[key] as number : 0;
    out.push({
      atMs: Number(m[1]),
      kind: String(record.gc ?? "?"),
      pauseMs: num("pause"),
      incrementalMs: num("incremental"),
      promoted: num("promoted"),
    });
  }
  return out;
}

/** What the collections in a window cost. */
export interface GcSummary {
  scavenges: number;
  scavengePauseMs: number;
  /** Bytes promoted by the window's collections, in MiB. */
  promotedMiB: number;
  fullCollections: number;
  /** Each full collection's main-thread work (incremental steps + final pause), in order. */
  fullMainThreadMs: number[];
  /** Their sum. */
  fullMainThreadTotalMs: number;
}

/** The summary of `records` whose time falls in `[from, to]` (pure; all of them by default). */
export function summarizeGc(
  records: readonly GcRecord[],
  window: { from?: number; to?: number } = {},
): GcSummary {
  const from = window.from ?? -Infinity;
  const to = window.to ?? Infinity;
  const summary: GcSummary = {
    scavenges: 0,
    scavengePauseMs: 0,
    promotedMiB: 0,
    fullCollections: 0,
    fullMainThreadMs: [],
    fullMainThreadTotalMs: 0,
  };
  let promoted = 0;
  for (const r of records) {
    if (r.atMs < from || r.atMs > to) continue;
    promoted += r.promoted;
    if (r.kind === "s") {
      summary.scavenges++;
      summary.scavengePauseMs += r.pauseMs;
    } else if (r.kind === "mc") {
      summary.fullCollections++;
      const ms = round(r.incrementalMs + r.pauseMs);
      summary.fullMainThreadMs.push(ms);
      summary.fullMainThreadTotalMs += ms;
    }
  }
  summary.scavengePauseMs = round(summary.scavengePauseMs);
  summary.fullMainThreadTotalMs = round(summary.fullMainThreadTotalMs);
  summary.promotedMiB = round(promoted / 2 ** 20);
  return summary;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

if (import.meta.main) {
  const args = parseArgs({
    options: { window: { type: "string" } },
    allowPositionals: true,
  });
  const [file] = args.positionals;
  if (file === undefined) {
    console.error("Usage: deno run -A scripts/gc_trace.ts TRACE_FILE [--window RESULT.json]");
    Deno.exit(2);
  }
  let window: { from?: number; to?: number } = {};
  if (args.values.window !== undefined) {
    const result = JSON.parse(await Deno.readTextFile(args.values.window));
    const range = result.windowMs;
    if (!Array.isArray(range) || range.length !== 2) {
      console.error(
        `Cannot read the window: ${args.values.window} has no "windowMs": [from, to]`,
      );
      Deno.exit(2);
    }
    window = { from: range[0], to: range[1] };
  }
  const summary = summarizeGc(parseGcTrace(await Deno.readTextFile(file)), window);
  console.log(JSON.stringify({ ...window, ...summary }));
}

/**
 * Where a kube-scale sample's time went (pure): ternd logs each policy run whose oldest change took
 * longer than the goal to reach the kernel ("Applied a slow policy update", with its stages,
 * `daemon/policy/policy_manager.ts`), and V8's `--trace-gc` writes each collection with its pause
 * to the same log. A sample slower than the goal is matched with the run whose span holds the
 * sample's nftables commit, and split into: before the run (the fake's watch, the source, and the
 * wait for the run: the debounce or a run in progress), the run's view, compile, render and nft
 * stages, the collections that paused ternd meanwhile, and the time ternd's event loop was held
 * (`daemon/loop_stalls.ts`: nothing was read from the API server then). A slow sample with no
 * slow run lost its time before ternd asked for a run (the API server's watch, the source's
 * read), or its run was fast and came late.
 * @module
 */

/** One run as ternd logged it. */
export interface LoggedRun {
  /** When the line was written (the run's end), ms since the epoch. */
  endAt: number;
  durationMs: number;
  changeToKernelMs: number | undefined;
  waitMs: number | undefined;
  viewMs: number;
  compileMs: number;
  renderMs: number;
  nftMs: number;
  /** The run's start on ternd's process clock (`performance.now()`). */
  startedAtMs: number | undefined;
  /** Lines of the transaction. */
  lines: number;
}

/** One collection from `--trace-gc`. */
export interface GcPause {
  /** Ms since the isolate started (about ternd's `performance.now()` origin). */
  atMs: number;
  kind: string;
  pauseMs: number;
  /** An incremental full collection's marking steps on the main thread before its pause. */
  markingMs?: number;
}

/** One stall of ternd's event loop (`daemon/loop_stalls.ts`), ms since the epoch. */
export interface LoopStall {
  endAt: number;
  heldMs: number;
}

/** A line of ternd's logger: its time, then its level. */
const TERND_LINE = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z (?:DEBUG|INFO|WARN|ERROR) /;

/**
 * ternd's own lines and V8's `--trace-gc` lines of one log (pure). Both go to the same file
 * through different buffers: V8's stdio buffer may be written out in the middle of a line, and
 * ternd's next line follows it there (`[…] 95539 ms: Incremental Mark-Compact …, pooled: 0.0 MB, 31.7`
 * then ternd's whole line, then `5 / 0.00 ms …` on the next line). ternd's lines are cut out where
 * they start; the V8 text around them is joined again.
 */
export function untangleLog(log: string): { ternd: string[]; v8: string[] } {
  const ternd: string[] = [];
  const v8: string[] = [];
  let carry = "";
  for (const line of log.split("\n")) {
    const m = TERND_LINE.exec(line);
    if (m === null) {
      v8.push(carry + line);
      carry = "";
    } else {
      ternd.push(line.slice(m.index));
      // What came before it is the start of a V8 line that goes on on the next line.
      carry += line.slice(0, m.index);
    }
  }
  if (carry !== "") v8.push(carry);
  return { ternd, v8 };
}

/** The stalls of ternd's event loop in its text log (pure). */
export function parseLoopStalls(log: string): LoopStall[] {
  const out: LoopStall[] = [];
  for (const line of untangleLog(log).ternd) {
    if (!line.includes(" The event loop was held ")) continue;
    const endAt = Date.parse(line.slice(0, line.indexOf(" ")));
    const held = / heldMs=(\d+(?:\.\d+)?)/.exec(line);
    if (Number.isFinite(endAt) && held) out.push({ endAt, heldMs: Number(held[1]) });
  }
  return out;
}

const RUN_MESSAGES = ["Applied a slow policy update", "Applied the whole policy table"];

/** The runs in a text log of ternd with their stages (pure). */
export function parseLoggedRuns(log: string): LoggedRun[] {
  const out: LoggedRun[] = [];
  for (const line of untangleLog(log).ternd) {
    if (!RUN_MESSAGES.some((m) => line.includes(` ${m} `))) continue;
    const time = Date.parse(line.slice(0, line.indexOf(" ")));
    if (!Number.isFinite(time)) continue;
    const fields = new Map<string, string>();
    for (const m of line.matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) fields.set(m[1]!, m[2]!);
    const num = (key: string) => {
      const value = fields.get(key);
      return value === undefined ? undefined : Number(value);
    };
    if (num("nftMs") === undefined) continue;
    out.push({
      endAt: time,
      durationMs: num("durationMs") ?? 0,
      changeToKernelMs: num("changeToKernelMs"),
      waitMs: num("waitMs"),
      viewMs: num("viewMs") ?? 0,
      compileMs: num("compileMs") ?? 0,
      renderMs: num("renderMs") ?? 0,
      nftMs: num("nftMs") ?? 0,
      startedAtMs: num("startedAtMs"),
      lines: num("lines") ?? 0,
    });
  }
  return out;
}

/** The collections in a log that holds V8's `--trace-gc` lines (pure). */
export function parseGcPauses(log: string): GcPause[] {
  const out: GcPause[] = [];
  const re =
    /\]\s+(\d+) ms: ((?:Incremental |Minor )?[A-Z][\w-]*(?: \([\w ]+\))?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms(?: \(\+ ([\d.]+) ms in \d+ steps)?/;
  for (const line of untangleLog(log).v8) {
    const m = re.exec(line);
    if (!m) continue;
    const pause: GcPause = { atMs: Number(m[1]), kind: m[2]!, pauseMs: Number(m[3]) };
    if (m[4] !== undefined) pause.markingMs = Number(m[4]);
    out.push(pause);
  }
  return out;
}

/** One slow sample split into stages, in ms. */
export interface SampleStages {
  kind: string;
  totalMs: number;
  /** How long ternd's event loop was held between the write and the commit (stalls > 100 ms). */
  heldMs: number;
  /** Undefined: no slow run held its commit. */
  run?: {
    /** The API write to the run's start: the watch, the source, the wait for the run. */
    beforeRunMs: number;
    /** Of that, the run's own wait for its oldest change (debounce, a run in progress). */
    waitMs: number | undefined;
    viewMs: number;
    compileMs: number;
    renderMs: number;
    nftMs: number;
    /** The sum of the pauses of collections from the write to the commit. */
    gcMs: number;
    /** The longest of them. */
    gcMaxMs: number;
  };
}

/**
 * Splits each sample slower than `overMs` (pure). A sample is its kind, the API write and the
 * commit, both in ms since the epoch; `gcs` may be empty (no `--trace-gc`). A run's process clock
 * is mapped to the wall clock through its own start (its end minus its duration).
 */
export function sampleStages(
  samples: readonly { kind: string; writeAt: number; commitAt: number | undefined }[],
  runs: readonly LoggedRun[],
  gcs: readonly GcPause[],
  overMs: number,
  stalls: readonly LoopStall[] = [],
): SampleStages[] {
  const out: SampleStages[] = [];
  for (const s of samples) {
    if (s.commitAt === undefined || s.commitAt - s.writeAt <= overMs) continue;
    const totalMs = s.commitAt - s.writeAt;
    let heldMs = 0;
    for (const stall of stalls) {
      const overlap = Math.min(stall.endAt, s.commitAt) -
        Math.max(stall.endAt - stall.heldMs, s.writeAt);
      if (overlap > 0) heldMs += overlap;
    }
    // The log line follows the commit by the ready marks and the logging: a few ms of slack.
    const run = runs.find((r) =>
      r.endAt - r.durationMs - 1 <= s.commitAt! && s.commitAt! <= r.endAt + 5
    );
    if (run === undefined) {
      out.push({ kind: s.kind, totalMs, heldMs });
      continue;
    }
    const runStart = run.endAt - run.durationMs;
    let gcMs = 0;
    let gcMaxMs = 0;
    if (run.startedAtMs !== undefined) {
      const from = run.startedAtMs - (runStart - s.writeAt);
      const to = run.startedAtMs + (s.commitAt - runStart);
      for (const gc of gcs) {
        if (gc.atMs + gc.pauseMs < from || gc.atMs > to) continue;
        gcMs = Math.round((gcMs + gc.pauseMs) * 100) / 100;
        gcMaxMs = Math.max(gcMaxMs, gc.pauseMs);
      }
    }
    out.push({
      kind: s.kind,
      totalMs,
      heldMs,
      run: {
        beforeRunMs: runStart - s.writeAt,
        waitMs: run.waitMs,
        viewMs: run.viewMs,
        compileMs: run.compileMs,
        renderMs: run.renderMs,
        nftMs: run.nftMs,
        gcMs,
        gcMaxMs,
      },
    });
  }
  return out;
}

/** The stages as lines of text, slowest first, at most `limit` (pure). */
export function formatSampleStages(stages: readonly SampleStages[], limit = 12): string[] {
  if (stages.length === 0) return [];
  const r = (n: number | undefined) => n === undefined ? "-" : String(Math.round(n));
  const matched = stages.filter((s) => s.run !== undefined);
  const mean = (pick: (s: NonNullable<SampleStages["run"]>) => number | undefined) =>
    matched.length === 0
      ? 0
      : matched.reduce((sum, s) => sum + (pick(s.run!) ?? 0), 0) / matched.length;
  const held = stages.reduce((sum, s) => sum + s.heldMs, 0) / stages.length;
  const lines = [
    `  slow samples: ${stages.length}, ${matched.length} matched with a slow run; mean ms: before the run ${
      r(mean((x) => x.beforeRunMs))
    } (its wait ${r(mean((x) => x.waitMs))}), view ${r(mean((x) => x.viewMs))}, compile ${
      r(mean((x) => x.compileMs))
    }, render ${r(mean((x) => x.renderMs))}, nft ${r(mean((x) => x.nftMs))}; gc pauses ${
      r(mean((x) => x.gcMs))
    }; event loop held ${r(held)} (all slow samples)`,
  ];
  for (const s of [...stages].sort((a, b) => b.totalMs - a.totalMs).slice(0, limit)) {
    const x = s.run;
    lines.push(
      x === undefined
        ? `    ${s.kind.padEnd(6)} ${
          r(s.totalMs).padStart(5)
        } ms: no slow run (time before ternd asked for a run)`
        : `    ${s.kind.padEnd(6)} ${r(s.totalMs).padStart(5)} ms: before run ${
          r(x.beforeRunMs)
        } (wait ${r(x.waitMs)}), view ${r(x.viewMs)}, compile ${r(x.compileMs)}, render ${
          r(x.renderMs)
        }, nft ${r(x.nftMs)}; gc ${r(x.gcMs)} (max ${r(x.gcMaxMs)}); loop held ${r(s.heldMs)}`,
    );
  }
  return lines;
}

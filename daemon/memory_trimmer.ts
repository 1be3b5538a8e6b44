/**
 * Hands the C heap's free memory back to the kernel once a minute while ternd is busy
 * (`malloc_trim(0)`, src/lib/malloc_trim.ts). Without it the daemon's RSS under steady pod churn
 * climbed in steps (84 → 180 MiB in an hour, the JS heap flat at 16–30 MiB): glibc kept free memory
 * in the middle of its heap after each burst of allocation. A trim costs well under a millisecond
 * on a heap of tens of MiB; at rest (no change poked since the last trim) the timer trims nothing.
 * @module
 */
import { type Clock, realClock, type TimerHandle } from "../src/clock.ts";
import { type Logger, silentLogger } from "../src/log.ts";
import { type Gc } from "../src/lib/collect_garbage.ts";
import {
  loadMallocTrimAsync,
  type MallocTrim,
  type MallocTrimAsync,
  trimMalloc,
} from "../src/lib/malloc_trim.ts";

/** Knobs; every field documents its default. */
export interface MemoryTrimmerOptions {
  /**
   * The call; default glibc's `malloc_trim` on a thread of the runtime's pool, if there is one
   * (else the trimmer does nothing).
   */
  trim?: MallocTrim | MallocTrimAsync | undefined;
  /** How often a busy daemon trims. Default 60 000 ms. */
  intervalMs?: number;
  /** Default {@linkcode realClock}. */
  clock?: Clock;
  /** Resident memory, bytes. Default `Deno.memoryUsage().rss`. */
  rss?: () => number;
  /** Default `silentLogger`; each trim is logged at debug. */
  log?: Logger;
  /**
   * V8's heap, bytes: what is live and what is committed. Default `Deno.memoryUsage()`'s
   * `heapUsed` and `heapTotal`.
   */
  heap?: () => { used: number; total: number };
  /**
   * A collection that gives V8's spare heap back (compacting, the young generation shrunk); default
   * {@linkcode collectGarbage}'s last-resort `gc()`, present only with `--expose-gc` (else none).
   */
  collect?: (() => void) | undefined;
  /** The fewest milliseconds between two such collections. Default 600 000 (10 minutes). */
  collectEveryMs?: number;
}

/**
 * Whether V8 keeps so much more heap than is live that a collection is worth its pause: more spare
 * than live, and at least 16 MiB of it. After a burst of load V8 had grown the soak's heap to
 * 60 MiB committed for 16 live and kept it; at 150 000 pods (~225 MiB live, grown by at most half,
 * `--heap-growing-percent=50`) this stays false and the pause (~400 ms there) is not paid. Pure.
 */
export function heapWorthCollecting(heap: { used: number; total: number }): boolean {
  const spare = heap.total - heap.used;
  return spare > heap.used && spare >= 16 * 2 ** 20;
}

/** What the trimmer has done since it was made. */
export interface TrimStats {
  trims: number;
  /** Collections run because V8 kept far more heap than was live. */
  collections: number;
  /** Resident memory the trims gave back, summed (a trim that released nothing adds 0). */
  releasedBytes: number;
}

/** Trims every `intervalMs` after a poke, until stopped. */
export class MemoryTrimmer {
  readonly #trim: MallocTrim | MallocTrimAsync | undefined;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #rss: (() => number) | undefined;
  readonly #log: Logger;
  readonly #heap: () => { used: number; total: number };
  readonly #collect: (() => void) | undefined;
  readonly #collectEveryMs: number;
  #lastCollect = -Infinity;
  #collections = 0;
  #timer: TimerHandle | undefined;
  #dirty = false;
  #stopped = true;
  #trims = 0;
  #releasedBytes = 0;

  /** See {@linkcode MemoryTrimmerOptions}; call {@linkcode MemoryTrimmer.start}. */
  constructor(options: MemoryTrimmerOptions = {}) {
    this.#trim = "trim" in options ? options.trim : loadMallocTrimAsync();
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#clock = options.clock ?? realClock;
    this.#rss = options.rss;
    this.#log = options.log ?? silentLogger;
    this.#heap = options.heap ?? (() => {
      const m = Deno.memoryUsage();
      return { used: m.heapUsed, total: m.heapTotal };
    });
    this.#collect = "collect" in options ? options.collect : lastResortGc();
    this.#collectEveryMs = options.collectEveryMs ?? 600_000;
  }

  /** False where there is no `malloc_trim` to call. */
  get available(): boolean {
    return this.#trim !== undefined;
  }

  /** Trims done, and what they gave back. */
  get stats(): TrimStats {
    return {
      trims: this.#trims,
      collections: this.#collections,
      releasedBytes: this.#releasedBytes,
    };
  }

  /** Starts the timer. */
  start(): void {
    if (this.#trim === undefined || !this.#stopped) return;
    this.#stopped = false;
    this.#arm();
  }

  /** Something allocated and freed (a change): the next tick trims. */
  poke(): void {
    this.#dirty = true;
  }

  /** Trims now; does nothing without the call. */
  async trimNow(why: string): Promise<void> {
    if (this.#trim === undefined) return;
    this.#dirty = false;
    this.#collectIfWorth(why);
    const done = await trimMalloc(this.#trim, this.#rss);
    const released = Math.max(0, done.rssBefore - done.rssAfter);
    this.#trims++;
    this.#releasedBytes += released;
    this.#log.debug("Gave free heap memory back to the kernel", {
      why,
      ms: Math.round(done.ms * 100) / 100,
      releasedMiB: Math.round(released / 2 ** 20 * 10) / 10,
      rssMiB: Math.round(done.rssAfter / 2 ** 20),
    });
  }

  /**
   * A collection first when V8 keeps far more heap than is live ({@linkcode heapWorthCollecting}),
   * at most once per `collectEveryMs`: the trim after it then also returns what the collection
   * freed outside V8's heap (buffers whose owners died, the collector's own structures).
   */
  #collectIfWorth(why: string): void {
    if (this.#collect === undefined) return;
    const now = this.#clock.now();
    if (now - this.#lastCollect < this.#collectEveryMs) return;
    const before = this.#heap();
    if (!heapWorthCollecting(before)) return;
    this.#lastCollect = now;
    const t = performance.now();
    this.#collect();
    this.#collections++;
    const after = this.#heap();
    const mib = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10;
    this.#log.debug("Collected V8's spare heap", {
      why,
      ms: Math.round(performance.now() - t),
      heapUsedMiB: mib(after.used),
      heapTotalMiB: `${mib(before.total)} → ${mib(after.total)}`,
    });
  }

  /** Stops the timer. Idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs);
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#dirty) {
      await this.trimNow("interval").catch((err) =>
        this.#log.warn("Cannot trim the heap", { error: String(err) })
      );
    }
    if (!this.#stopped) this.#arm();
  }
}

/** V8's last-resort collection through the `gc()` that `--expose-gc` offers, or undefined. */
function lastResortGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (typeof gc !== "function") return undefined;
  return () => gc({ type: "major", execution: "sync", flavor: "last-resort" });
}

/**
 * Notices when ternd's event loop was held: a timer asks to fire every `periodMs` and measures how
 * late it fired. Nothing else runs while the loop is held (a compile, a collection, parsing a large
 * watch chunk), so a cluster event that arrives then waits, and the kube-scale bench has to tell
 * such a wait from a slow API server. A stall longer than `thresholdMs` is logged at info with its
 * length and its end on the process's clock (`performance.now()`, as V8's `--trace-gc` and the
 * policy runs' `startedAtMs`), so that a slow change can be set beside what held the loop.
 * @module
 */
import { type Clock, realClock, type TimerHandle } from "../src/clock.ts";
import { type Logger, silentLogger } from "../src/log.ts";

/** Knobs; every field documents its default. */
export interface LoopStallOptions {
  /** How often the timer asks to fire. Default 50 ms. */
  periodMs?: number;
  /** A timer later than this is a stall, logged. Default 100 ms (issue 11's event → kernel goal). */
  thresholdMs?: number;
  /** Default {@linkcode realClock}. */
  clock?: Clock;
  /** The process's clock for the log's `endedAtMs`. Default `performance.now`. */
  processNow?: () => number;
  /** Default `silentLogger`. */
  log?: Logger;
}

/** Watches the event loop until {@linkcode LoopStalls.stop}. */
export class LoopStalls {
  readonly #periodMs: number;
  readonly #thresholdMs: number;
  readonly #clock: Clock;
  readonly #processNow: () => number;
  readonly #log: Logger;
  #timer: TimerHandle | undefined;
  #due = 0;
  #stalls = 0;
  #longestMs = 0;

  /** See {@linkcode LoopStallOptions}; call {@linkcode LoopStalls.start}. */
  constructor(options: LoopStallOptions = {}) {
    this.#periodMs = options.periodMs ?? 50;
    this.#thresholdMs = options.thresholdMs ?? 100;
    this.#clock = options.clock ?? realClock;
    this.#processNow = options.processNow ?? (() => performance.now());
    this.#log = options.log ?? silentLogger;
  }

  /** Stalls seen so far, and the longest. */
  get stats(): { stalls: number; longestMs: number } {
    return { stalls: this.#stalls, longestMs: this.#longestMs };
  }

  /** Starts the timer (again after a stop). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#arm();
  }

  /** Stops the timer. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#due = this.#clock.now() + this.#periodMs;
    this.#timer = this.#clock.setTimeout(() => this.#fired(), this.#periodMs);
  }

  #fired(): void {
    const heldMs = this.#clock.now() - this.#due;
    if (heldMs > this.#thresholdMs) {
      this.#stalls++;
      this.#longestMs = Math.max(this.#longestMs, heldMs);
      this.#log.info("The event loop was held", {
        heldMs,
        endedAtMs: Math.round(this.#processNow()),
      });
    }
    this.#arm();
  }
}

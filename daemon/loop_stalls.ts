/**
 * Notices when ternd's event loop was held: a timer asks to fire every `periodMs` and measures how
 * late it fired. Nothing else runs while the loop is held (a compile, a collection, parsing a large
 * watch chunk), so a cluster event that arrives then waits, and the kube-scale bench has to tell
 * such a wait from a slow API server. A stall longer than `thresholdMs` is logged at info with its
 * length and its end on the process's clock (`performance.now()`, as V8's `--trace-gc` and the
 * policy runs' `startedAtMs`), so that a slow change can be set beside what held the loop.
 *
 * The timer costs ~0.3 % of a core at 20 wakeups a second (measured on the 2-core test machine), so
 * it parks when nothing has happened for `idleAfterMs`: the daemon pokes it on every cluster or
 * endpoint change, which is when a held loop delays something. A node at rest wakes for nothing.
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
  /** With no {@linkcode LoopStalls.poke} for this long, the timer parks. Default 10 000 ms. */
  idleAfterMs?: number;
}

/** What the watch has seen since it was made. */
export interface LoopStallStats {
  /** Stalls longer than the threshold. */
  stalls: number;
  /** The longest, ms. */
  longestMs: number;
  /** All of them together, ms. */
  heldMs: number;
}

/** Watches the event loop until {@linkcode LoopStalls.stop}. */
export class LoopStalls {
  readonly #periodMs: number;
  readonly #thresholdMs: number;
  readonly #clock: Clock;
  readonly #processNow: () => number;
  readonly #log: Logger;
  readonly #idleAfterMs: number;
  #timer: TimerHandle | undefined;
  #running = false;
  #due = 0;
  #activeUntil = 0;
  #stalls = 0;
  #longestMs = 0;
  #heldMs = 0;

  /** See {@linkcode LoopStallOptions}; call {@linkcode LoopStalls.start}. */
  constructor(options: LoopStallOptions = {}) {
    this.#periodMs = options.periodMs ?? 50;
    this.#thresholdMs = options.thresholdMs ?? 100;
    this.#clock = options.clock ?? realClock;
    this.#processNow = options.processNow ?? (() => performance.now());
    this.#log = options.log ?? silentLogger;
    this.#idleAfterMs = options.idleAfterMs ?? 10_000;
  }

  /** Stalls seen so far, the longest and their sum. */
  get stats(): LoopStallStats {
    return { stalls: this.#stalls, longestMs: this.#longestMs, heldMs: this.#heldMs };
  }

  /** Whether the timer is armed (started, and poked within `idleAfterMs`). */
  get watching(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts the timer (again after a stop), as if poked. */
  start(): void {
    this.#running = true;
    this.poke();
  }

  /** Something happened: watch the loop for the next `idleAfterMs`. Cheap; no-op when stopped. */
  poke(): void {
    if (!this.#running) return;
    this.#activeUntil = this.#clock.now() + this.#idleAfterMs;
    if (this.#timer === undefined) this.#arm();
  }

  /** Stops the timer. Idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#due = this.#clock.now() + this.#periodMs;
    this.#timer = this.#clock.setTimeout(() => this.#fired(), this.#periodMs);
  }

  #fired(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const heldMs = now - this.#due;
    if (heldMs > this.#thresholdMs) {
      this.#stalls++;
      this.#heldMs += heldMs;
      this.#longestMs = Math.max(this.#longestMs, heldMs);
      this.#log.info("The event loop was held", {
        heldMs,
        endedAtMs: Math.round(this.#processNow()),
      });
    }
    if (now <= this.#activeUntil) this.#arm();
  }
}

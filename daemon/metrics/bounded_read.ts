/**
 * A read too costly to make at every scrape (listing the kernel's policy table takes ~0.3 s at
 * 10 000 elements, and holds policy runs back meanwhile), bounded twice: it is made at most once
 * per `maxAgeMs` whatever the scrape rate, and a scrape waits for it at most `waitMs`, then is
 * answered with the last reading while the read finishes for the next scrape. One read at a time.
 * @module
 */
import { type Clock, realClock } from "../../src/clock.ts";
import { errorMessage } from "../../src/lib/errors.ts";

/** The last reading, and how it went. */
export interface Reading<T> {
  /** The last value read; undefined until a read succeeded. */
  value?: T;
  /** When it was read (ms since the epoch), and how long the read took. */
  readAt?: number;
  durationMs?: number;
  /** Reads that failed so far. */
  failures: number;
  /** The last failure, while the last read failed. */
  error?: string;
}

/** Reads `read` at most once per `maxAgeMs`; `get()` waits for it at most `waitMs`. */
export class BoundedRead<T> {
  readonly #read: () => Promise<T>;
  readonly #maxAgeMs: number;
  readonly #waitMs: number;
  readonly #clock: Clock;
  #reading: Reading<T> = { failures: 0 };
  /** When the last read started: the next starts `maxAgeMs` later, failed or not. */
  #startedAt = -Infinity;
  #inFlight: Promise<void> | undefined;

  /** `options.clock` defaults to the real clock. */
  constructor(
    read: () => Promise<T>,
    options: { maxAgeMs: number; waitMs: number; clock?: Clock },
  ) {
    this.#read = read;
    this.#maxAgeMs = options.maxAgeMs;
    this.#waitMs = options.waitMs;
    this.#clock = options.clock ?? realClock;
  }

  /** The reading for a scrape: reads again when the last is older than `maxAgeMs`. */
  async get(): Promise<Reading<T>> {
    if (this.#inFlight === undefined && this.#clock.now() - this.#startedAt >= this.#maxAgeMs) {
      this.#inFlight = this.#start();
    }
    const inFlight = this.#inFlight;
    if (inFlight !== undefined) {
      let timer: number | undefined;
      const late = new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, this.#waitMs);
      });
      await Promise.race([inFlight, late]);
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
    return { ...this.#reading };
  }

  async #start(): Promise<void> {
    const started = this.#clock.now();
    this.#startedAt = started;
    const t0 = performance.now();
    try {
      const value = await this.#read();
      this.#reading = {
        value,
        readAt: started,
        durationMs: performance.now() - t0,
        failures: this.#reading.failures,
      };
    } catch (err) {
      this.#reading = {
        ...this.#reading,
        failures: this.#reading.failures + 1,
        error: errorMessage(err),
      };
    } finally {
      this.#inFlight = undefined;
    }
  }
}

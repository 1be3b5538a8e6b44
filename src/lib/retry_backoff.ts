/**
 * Exponential backoff for items that failed: each failure doubles the wait before the next
 * attempt, from `initialMs` up to `maxMs`; success, or the item no longer being wanted, forgets
 * it. Pure bookkeeping over an injected clock value; the caller decides when to look again.
 * @module
 */

/** One failing item. */
export interface Failing {
  /** Consecutive failures. */
  attempts: number;
  /** The last error. */
  error: string;
  /** When it first failed, ms since the epoch. */
  since: number;
  /** Not attempted again before this time. */
  retryAt: number;
}

/** The failing items, by identity. */
export class RetryBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #failing = new Map<string, Failing>();

  /** Waits start at `options.initialMs` (default 1000) and double up to `options.maxMs` (default 60 000). */
  constructor(options: { initialMs?: number; maxMs?: number } = {}) {
    this.#initialMs = options.initialMs ?? 1_000;
    this.#maxMs = options.maxMs ?? 60_000;
  }

  /** Whether `id` may be attempted at `now` (true for an item that never failed). */
  due(id: string, now: number): boolean {
    const entry = this.#failing.get(id);
    return entry === undefined || entry.retryAt <= now;
  }

  /** Records a failure at `now`; returns the entry with its next retry time. */
  failed(id: string, error: string, now: number): Failing {
    const before = this.#failing.get(id);
    const attempts = (before?.attempts ?? 0) + 1;
    const wait = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(attempts - 1, 30));
    const entry = { attempts, error, since: before?.since ?? now, retryAt: now + wait };
    this.#failing.set(id, entry);
    return entry;
  }

  /** Forgets `id` after a success. */
  succeeded(id: string): void {
    this.#failing.delete(id);
  }

  /** Forgets every item not in `wanted` (fixed by someone else, or no longer wanted). */
  retain(wanted: ReadonlySet<string>): void {
    for (const id of [...this.#failing.keys()]) if (!wanted.has(id)) this.#failing.delete(id);
  }

  /** The earliest retry time, or undefined when nothing is failing. */
  nextRetryAt(): number | undefined {
    let next: number | undefined;
    for (const entry of this.#failing.values()) {
      if (next === undefined || entry.retryAt < next) next = entry.retryAt;
    }
    return next;
  }

  /** Every failing item, by identity. */
  entries(): [string, Failing][] {
    return [...this.#failing.entries()];
  }

  /** How many items are failing. */
  get size(): number {
    return this.#failing.size;
  }
}

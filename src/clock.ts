/**
 * Time as a dependency: every scheduler, retry and timeout in tern takes a {@linkcode Clock}
 * instead of calling `Date.now` and `setTimeout` itself, so tests drive time with a
 * {@linkcode FakeClock} instead of sleeping.
 * @module
 */

/** A handle of a pending timer; only for {@linkcode Clock.clearTimeout}. */
export type TimerHandle = number;

/** The time source and timers a component uses. */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and the global timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  // Deno's timers return numbers; @types/node's declarations say otherwise.
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle),
};

/**
 * Resolves after `ms` on `clock`, or rejects with the signal's reason when `signal` aborts first.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock that moves only when told: `tick(ms)` runs every timer due within `ms`, in time order,
 * letting promise callbacks settle between them, so code awaiting a timer continues before the
 * next one fires.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  /** Starts at `start` ms since the epoch (default 1 000 000). */
  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.length;
  }

  /** When the earliest pending timer fires, or undefined when none is pending. */
  nextAt(): number | undefined {
    let next: number | undefined;
    for (const t of this.#timers) if (next === undefined || t.at < next) next = t.at;
    return next;
  }

  /** Moves time forward by `ms`, firing what falls due on the way (timers set meanwhile too). */
  async tick(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) =>
        a.at - b.at || a.id - b.id
      );
      const first = due[0];
      if (first === undefined) break;
      this.#timers = this.#timers.filter((t) => t.id !== first.id);
      this.#now = Math.max(this.#now, first.at);
      first.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  /** Fires every pending timer (and those they set), up to `limit` of them; returns how many fired. */
  async runAll(limit = 10_000): Promise<number> {
    let fired = 0;
    for (; fired < limit; fired++) {
      const at = this.nextAt();
      if (at === undefined) break;
      await this.tick(at - this.#now);
    }
    return fired;
  }
}

/** Lets pending promise callbacks (and the callbacks they queue) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => queueMicrotask(resolve));
}

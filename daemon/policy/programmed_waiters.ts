/**
 * Who waits for which change to reach the kernel: every request for a policy run is a new
 * generation (`want()`); a run serves the generations wanted when it began; an ADD waits until
 * the generation it saw is applied, and is told when the run that carried it failed. Listeners
 * hear of every successful apply (the API's wait for a held pod, the latency benchmark).
 * @module
 */
import { type Clock, realClock } from "../../src/clock.ts";

interface Waiter {
  generation: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Generations wanted and applied, and the promises waiting on them. */
export class ProgrammedWaiters {
  readonly #clock: Clock;
  #wanted = 0;
  #applied = 0;
  #waiters: Waiter[] = [];
  readonly #listeners = new Set<() => void>();

  /** `clock` times {@linkcode ProgrammedWaiters.nextApply}. Default {@linkcode realClock}. */
  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  /** The generation wanted so far: what a run that begins now serves. */
  get wanted(): number {
    return this.#wanted;
  }

  /** Whether every generation wanted so far is applied. */
  get upToDate(): boolean {
    return this.#applied >= this.#wanted;
  }

  /** A change was requested: a new generation. */
  want(): void {
    this.#wanted++;
  }

  /** Resolves once `generation` is applied; rejects when the run that carried it failed. */
  wait(generation: number): Promise<void> {
    if (this.#applied >= generation) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ generation, resolve, reject }));
  }

  /** A run that served up to `generation` succeeded: its waiters and the listeners are told. */
  applied(generation: number): void {
    this.#applied = Math.max(this.#applied, generation);
    for (const w of this.#take(generation)) w.resolve();
    for (const listener of [...this.#listeners]) listener();
  }

  /** A run that served up to `generation` failed with `error`: its waiters are rejected. */
  failed(generation: number, error: Error): void {
    for (const w of this.#take(generation)) w.reject(error);
  }

  /** Rejects every waiter (the daemon is stopping). */
  rejectAll(error: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  /** Calls `listener` after every successful apply; returns the function that unsubscribes. */
  onApplied(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves at the next successful apply, or after `ms`, whichever comes first. */
  nextApply(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#clock.clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = this.#clock.setTimeout(done, Math.max(0, ms));
      const unsubscribe = this.onApplied(done);
    });
  }

  #take(generation: number): Waiter[] {
    const done = this.#waiters.filter((w) => w.generation <= generation);
    this.#waiters = this.#waiters.filter((w) => w.generation > generation);
    return done;
  }
}

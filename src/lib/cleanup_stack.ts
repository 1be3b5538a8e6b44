/**
 * One place for everything that must be undone, in reverse order of doing: whatever starts
 * pushes its stop, and one `unwind()` stops everything, the most recent first. A stop that
 * fails is reported and the others still run, so one stuck part never leaves the rest running.
 * The daemon's composition root has one; it is what `DisposableStack` would be with async
 * steps and error reporting.
 * @module
 */

/** Something that can be stopped. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Stops, last pushed first. */
export class CleanupStack {
  readonly #steps: (() => Promise<void>)[] = [];

  /** Pushes `part`'s stop; returns `part`, so `const x = stack.push(await startX())` reads well. */
  push<T extends Stoppable>(part: T): T {
    this.#steps.push(() => part.stop());
    return part;
  }

  /** Pushes a step. */
  defer(step: () => Promise<void> | void): void {
    this.#steps.push(async () => await step());
  }

  /** How many steps wait. */
  get size(): number {
    return this.#steps.length;
  }

  /**
   * Runs every step, the last pushed first, each once: a step that throws is passed to
   * `onError` and the others still run. A second call finds nothing to do.
   */
  async unwind(onError: (err: unknown) => void = () => {}): Promise<void> {
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step();
      } catch (err) {
        onError(err);
      }
    }
  }
}

/**
 * A promise-chain mutex. The daemon serialises every change to the host side (program, release,
 * GC, sweep and route sync) through one, so that a sync never sees a half-programmed endpoint
 * and deletes the route that a concurrent program just installed.
 * @module
 */

/** Runs async sections one at a time, in call order. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every section started before it has settled; returns its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn);
    this.#tail = result.catch(() => {});
    return result;
  }
}

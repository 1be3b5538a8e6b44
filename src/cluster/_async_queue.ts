/**
 * An unbounded queue that one consumer reads with `for await`: the bridge between a source's
 * callbacks (file-system events, timers) and the `AsyncIterable` that `watch()` returns.
 * Private to `src/cluster`.
 * @module
 */

/** Push from anywhere, read in order; `close()` ends the iteration after what was queued. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  /** The next item to read: `shift()` moves every item left, O(n²) for a 150 000-pod burst. */
  #head = 0;
  #waiter: ((done: boolean) => void) | undefined;
  #closed = false;

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queues items; ignored after `close()`. */
  push(...items: T[]): void {
    this.pushAll(items);
  }

  /**
   * Queues every item of `items`, however many: spreading a large array into arguments (a
   * relist of 150 000 pods) overflows the call stack.
   */
  pushAll(items: readonly T[]): void {
    if (this.#closed || items.length === 0) return;
    for (const item of items) this.#items.push(item);
    this.#wake(false);
  }

  /** Ends the iteration once the queued items are read. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#wake(true);
  }

  /** Yields items as they arrive until closed and drained. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head]!;
        this.#items[this.#head] = undefined as T; // let it be collected
        this.#head++;
        if (this.#head === this.#items.length) {
          this.#items = [];
          this.#head = 0;
        } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<boolean>((resolve) => this.#waiter = resolve);
    }
  }

  #wake(done: boolean): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(done);
  }
}

/**
 * Publishes this node's endpoints for the other nodes, coalesced: a change marks the list dirty,
 * and the first mark of a burst schedules one write `delayMs` later (100 ms by default) that
 * takes whatever the list is by then. Fifty concurrent ADDs thus write a handful of times, not
 * fifty, and a change is still visible to peers well within a second. Marks made while a write
 * is in flight schedule one more. A failed write is retried with a wait that doubles up to a
 * bound. The write itself (`publishEndpoints` for the `files` source) skips an unchanged list.
 * @module
 */
import type { PublishedEndpoint } from "../../src/cluster/types.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";

/** The last publication, for status. */
export interface PublishStatus {
  /** When it ended, ms since the epoch. */
  at: number;
  endpoints: number;
  /** Set when it failed. */
  error?: string;
}

/** Knobs; every field documents its default. */
export interface PublisherOptions {
  /** From the first change of a burst to the write. Default 100. */
  delayMs?: number;
  /** First wait after a failed write. Default 1000. */
  retryMinMs?: number;
  /** Longest wait after failed writes. Default 30 000. */
  retryMaxMs?: number;
  log?: Logger;
}

/** Writes the node's endpoints when they changed. */
export class EndpointPublisher {
  readonly #publish: (endpoints: PublishedEndpoint[]) => Promise<boolean>;
  readonly #endpoints: () => PublishedEndpoint[];
  readonly #delayMs: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #log: Logger;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #retryMs: number;
  /** The scheduled write is a retry after a failure. */
  #retrying = false;
  #status: PublishStatus | undefined;
  #writes = 0;

  /**
   * `publish` writes a list (true when it changed the file); `endpoints` returns the list to
   * publish now.
   */
  constructor(
    publish: (endpoints: PublishedEndpoint[]) => Promise<boolean>,
    endpoints: () => PublishedEndpoint[],
    options: PublisherOptions = {},
  ) {
    this.#publish = publish;
    this.#endpoints = endpoints;
    this.#delayMs = options.delayMs ?? 100;
    this.#retryMinMs = options.retryMinMs ?? 1_000;
    this.#retryMaxMs = options.retryMaxMs ?? 30_000;
    this.#retryMs = this.#retryMinMs;
    this.#log = options.log ?? silentLogger;
  }

  /** The last publication, if any ran. */
  get status(): PublishStatus | undefined {
    return this.#status;
  }

  /** How many publications changed the file. */
  get writes(): number {
    return this.#writes;
  }

  /** The list changed: publish it soon. */
  markDirty(): void {
    if (this.#stopped) return;
    if (this.#writing !== undefined) {
      this.#again = true;
      return;
    }
    this.#schedule(this.#delayMs);
  }

  /**
   * A retry after a failed write runs now instead of after its wait (the place it writes to is
   * reachable again); nothing happens when no retry is waiting.
   */
  retryNow(): void {
    if (!this.#retrying || this.#timer === undefined || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#schedule(0);
  }

  /** Publishes now (after a write in flight) and waits for it. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    await this.#write();
  }

  /** Writes what is pending, if anything, then stops. */
  async stop(): Promise<void> {
    const pending = this.#timer !== undefined || this.#again;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    if (pending) await this.#write();
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, ms);
  }

  #write(): Promise<void> {
    const run = (async () => {
      this.#again = false;
      this.#retrying = false;
      const endpoints = this.#endpoints();
      try {
        const wrote = await this.#publish(endpoints);
        this.#status = { at: Date.now(), endpoints: endpoints.length };
        this.#retryMs = this.#retryMinMs;
        if (wrote) {
          this.#writes++;
          this.#log.debug("Published endpoints", { endpoints: endpoints.length });
        }
      } catch (err) {
        const error = errorMessage(err);
        this.#status = { at: Date.now(), endpoints: endpoints.length, error };
        this.#log.error("Cannot publish endpoints", { error, retryInMs: this.#retryMs });
        this.#again = false;
        this.#writing = undefined;
        this.#schedule(this.#retryMs);
        this.#retrying = this.#timer !== undefined;
        this.#retryMs = Math.min(this.#retryMaxMs, this.#retryMs * 2);
        return;
      }
      this.#writing = undefined;
      if (this.#again) this.#schedule(this.#delayMs);
    })();
    this.#writing = run;
    return run;
  }
}

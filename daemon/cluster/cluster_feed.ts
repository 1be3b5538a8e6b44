/**
 * Feeds a cluster source into the daemon's `ClusterState`: one `list()` at start-up (which fails
 * only when the source itself is unusable), then the watch's events applied in order, for as long
 * as the daemon runs. A bad manifest arrives as an `error` event: it is logged with its file,
 * line, key and value and skipped, never fatal. A watch that ends or fails is listed and watched
 * again after a wait that doubles up to a bound, so the state catches up with whatever was missed.
 * @module
 */
import type { ClusterSource } from "../../src/cluster/source.ts";
import type { ClusterState } from "../../src/cluster/state.ts";
import type { ManifestError } from "../../src/cluster/types.ts";
import { realClock, sleep } from "../../src/clock.ts";
import { collectGarbage } from "../../src/lib/collect_garbage.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";

/** The watch loop over one source and one state. */
export class ClusterFeed {
  readonly #source: ClusterSource;
  readonly #state: ClusterState;
  readonly #log: Logger;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  #stopped = true;
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;

  /** `options.retryMinMs` (default 1000) and `retryMaxMs` (default 30 000) bound the re-list wait. */
  constructor(
    source: ClusterSource,
    state: ClusterState,
    options: { log?: Logger; retryMinMs?: number; retryMaxMs?: number } = {},
  ) {
    this.#source = source;
    this.#state = state;
    this.#log = options.log ?? silentLogger;
    this.#retryMinMs = options.retryMinMs ?? 1_000;
    this.#retryMaxMs = options.retryMaxMs ?? 30_000;
  }

  /** The source's name (`files:/etc/tern/cluster`). */
  get name(): string {
    return this.#source.name;
  }

  /** Lists the source into the state, logging the manifests it skipped. Throws when the source is unusable. */
  async list(): Promise<void> {
    const snapshot = await this.#source.list();
    this.#state.reset(snapshot);
    for (const error of snapshot.errors) this.#logError(error);
    this.#log.info("Listed cluster state", {
      source: this.#source.name,
      nodes: snapshot.nodes.length,
      pods: snapshot.pods.length,
      namespaces: snapshot.namespaces.length,
      skipped: snapshot.errors.length,
    });
    // The list's garbage (its pages' JSON) is dead now; without a full collection V8 keeps the
    // heap it grew for it (docs/benchmarks.md, kube-scale). Only where ternd runs with --expose-gc.
    const collected = collectGarbage();
    if (collected !== undefined) this.#log.info("Collected the list's garbage", { ...collected });
  }

  /** Applies the watch's events until {@linkcode ClusterFeed.stop}; call after `list()`. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** Closes the source and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#source.close();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let wait = this.#retryMinMs;
    while (!this.#stopped) {
      try {
        for await (const event of this.#source.watch()) {
          if (event.type === "error") this.#logError(event);
          try {
            this.#state.apply(event);
          } catch (err) {
            this.#log.error("Cluster state subscriber failed", { error: String(err) });
          }
          wait = this.#retryMinMs;
        }
        if (this.#stopped) return;
        this.#log.warn("Cluster watch ended; listing again", { source: this.#source.name });
      } catch (err) {
        if (this.#stopped) return;
        this.#log.error("Cluster watch failed; listing again", {
          source: this.#source.name,
          error: errorMessage(err),
          retryInMs: wait,
        });
      }
      // stop() wakes the wait: the abort ends the sleep early, which is no error here.
      const woken = new AbortController();
      this.#wake = () => woken.abort();
      await sleep(realClock, wait, woken.signal).catch(() => {});
      this.#wake = undefined;
      wait = Math.min(this.#retryMaxMs, wait * 2);
      if (this.#stopped) return;
      try {
        await this.list();
      } catch (err) {
        this.#log.error("Cannot list cluster state", {
          source: this.#source.name,
          error: errorMessage(err),
        });
      }
    }
  }

  #logError(error: ManifestError): void {
    const fields: Record<string, unknown> = { file: error.file, key: error.key };
    if (error.line !== undefined) fields.line = error.line;
    if (error.value !== undefined) fields.value = error.value;
    this.#log.error(error.message, fields);
  }
}

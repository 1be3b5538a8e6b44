/**
 * The one interface through which the daemon learns cluster state, shaped after Kubernetes'
 * list+watch: `list()` returns everything with a resource version, `watch()` yields what changed
 * after it. The `files` source implements it today; a `kubernetes` source (API server list+watch)
 * will implement the same interface, so the daemon never knows which one it runs on.
 * @module
 */
import type { ClusterEvent, Snapshot } from "./types.ts";

/**
 * A source of cluster state.
 *
 * Use: `const snap = await source.list(); state.reset(snap); for await (const ev of source.watch()) state.apply(ev);`
 */
export interface ClusterSource {
  /** A short name for logs and status (`files:/etc/tern/cluster`, `kubernetes:https://…`). */
  readonly name: string;

  /**
   * Everything the source holds now. The watch that follows yields changes relative to the most
   * recent snapshot. Throws only when the source itself is unusable (a directory that does not
   * exist, an API server that refuses the credentials); bad objects are in `errors`.
   */
  list(): Promise<Snapshot>;

  /**
   * The changes after the last `list()` (calling `list()` first when it was never called), in
   * order, until `close()`. At most one watch runs at a time. Bad manifests arrive as `error`
   * events and never end the iteration; a source that must start over yields a `reset`.
   */
  watch(): AsyncIterable<ClusterEvent>;

  /** Stops watching and releases what the source holds; the watch ends. Idempotent. */
  close(): Promise<void>;
}

/**
 * When the files of a watched directory are ready to be read again, from the file-system events
 * that named them. Pure: the caller feeds it each event with its time and asks when to read and
 * which names. A file is read once its writer is done, and as soon as that is known:
 *
 * - An event that ends a write makes its name ready: a file renamed into place (`rename`, how
 *   tools and kubelet's ConfigMap mounts write atomically), a file removed (`remove`), or a writer
 *   closing a file it was writing (`access`: inotify's close-after-write; it counts only for a
 *   name that had a write event, so reads, which some platforms report, never make work).
 * - Any other event (`create`, `modify`, `any`, `other`) is a write in progress: its name waits
 *   until it has been quiet for `debounceMs`, or until `maxDelayMs` after its first event, then it
 *   is read whatever its state (an editor that never closes the file still gets read).
 * - Nothing is read until the whole directory has been quiet for `settleMs` (or `maxDelayMs`
 *   after the burst began), so the steps of one tool (a temp file renamed over the manifest, an
 *   editor's rename-away and rewrite) are read together, in one pass.
 *
 * Names still being written when a pass runs are returned as `writing`, for the caller to leave
 * alone (keep what they held); they stay pending for a later pass.
 * @module
 */

/** The kinds of `Deno.FsEvent`. */
export type WatchEventKind = "any" | "access" | "create" | "modify" | "rename" | "remove" | "other";

/** Knobs of {@linkcode WriteSettle}; every field documents its default. */
export interface WriteSettleOptions {
  /** Quiet time of the whole directory before a pass. Default 10. */
  settleMs?: number;
  /** Quiet time of a name with a write in progress (no close, no rename) before it is read. Default 100. */
  debounceMs?: number;
  /** Longest delay from a name's first event to its read, even while events continue. Default 1000. */
  maxDelayMs?: number;
}

interface Pending {
  firstAt: number;
  lastAt: number;
  writing: boolean;
}

/** Which kinds end a write (the name is ready) and which are a write in progress. */
export function eventEffect(kind: WatchEventKind): "done" | "writing" | "closed" {
  switch (kind) {
    case "rename":
    case "remove":
      return "done";
    case "access":
      return "closed";
    default:
      return "writing";
  }
}

/** Pending names and the time of the next pass. */
export class WriteSettle {
  readonly settleMs: number;
  readonly debounceMs: number;
  readonly maxDelayMs: number;
  readonly #pending = new Map<string, Pending>();
  #lastAt = 0;

  constructor(options: WriteSettleOptions = {}) {
    this.settleMs = options.settleMs ?? 10;
    this.debounceMs = options.debounceMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 1_000;
  }

  /** Whether any name waits for a pass. */
  get pending(): boolean {
    return this.#pending.size > 0;
  }

  /**
   * Notes an event of `kind` naming `names` at `now` (ms). Returns whether it changed anything:
   * a close (`access`) of a name that had no write event is ignored.
   */
  note(kind: WatchEventKind, names: readonly string[], now: number): boolean {
    const effect = eventEffect(kind);
    let counted = false;
    for (const name of names) {
      const entry = this.#pending.get(name);
      if (effect === "closed" && entry?.writing !== true) continue;
      counted = true;
      if (entry === undefined) {
        this.#pending.set(name, { firstAt: now, lastAt: now, writing: effect === "writing" });
      } else {
        entry.lastAt = now;
        entry.writing = effect === "writing";
      }
    }
    if (counted) this.#lastAt = now;
    return counted;
  }

  /** When the next pass is due (same clock as `note`), or undefined when nothing is pending. */
  due(): number | undefined {
    if (this.#pending.size === 0) return undefined;
    let firstAt = Infinity;
    let earliestReady = Infinity;
    for (const entry of this.#pending.values()) {
      firstAt = Math.min(firstAt, entry.firstAt);
      earliestReady = Math.min(earliestReady, this.#readyAt(entry));
    }
    const quietAt = Math.min(this.#lastAt + this.settleMs, firstAt + this.maxDelayMs);
    return Math.max(quietAt, earliestReady);
  }

  /**
   * Takes the names to read at `now`: `ready` are forgotten (read them), `writing` stay pending
   * (leave them as they were). Before `due()` nothing is ready.
   */
  take(now: number): { ready: Set<string>; writing: Set<string> } {
    const ready = new Set<string>();
    const writing = new Set<string>();
    const due = this.due();
    for (const [name, entry] of this.#pending) {
      if (due !== undefined && now >= due && now >= this.#readyAt(entry)) ready.add(name);
      else writing.add(name);
    }
    for (const name of ready) this.#pending.delete(name);
    return { ready, writing };
  }

  #readyAt(entry: Pending): number {
    if (!entry.writing) return entry.lastAt;
    return Math.min(entry.lastAt + this.debounceMs, entry.firstAt + this.maxDelayMs);
  }
}

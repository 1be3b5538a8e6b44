/**
 * The `files` cluster source: a directory of Kubernetes-style YAML manifests (`*.yaml`, `*.yml`,
 * `*.json`; names starting with "." are ignored, so are subdirectories). `list()` reads them all;
 * `watch()` follows the directory with `Deno.watchFs`, waits until writes end ({@linkcode WriteSettle}:
 * ~10 ms after a file renamed into place, closed by its writer or removed; 100 ms of quiet for a
 * write without such an end), reads again what changed and yields the difference as events;
 * removed files yield `deleted`. Bad
 * manifests become `error` events and never stop the watch. Files are compared by size, mtime and
 * inode and re-read when an event names them, so symlinked files (a ConfigMap mount) and files
 * replaced by rename are followed too; a periodic re-scan catches events the kernel dropped.
 * @module
 */
import { type Clock, realClock } from "../clock.ts";
import { Scheduler } from "../lib/scheduler.ts";
import { AsyncQueue } from "./_async_queue.ts";
import { parseManifests } from "./manifest.ts";
import { DuplicateDefinition, type FileObjects, fileObjects, mergeFiles } from "./manifest_dir.ts";
import { diffResources } from "./resource_diff.ts";
import { eventEffect, WriteSettle } from "./write_settle.ts";
import type { ClusterSource } from "./source.ts";
import { snapshotOf } from "./snapshot.ts";
import type { ClusterEvent, ManifestError, Resource, Snapshot } from "./types.ts";

/** Which file names in the directory are manifests. */
export function isManifestName(name: string): boolean {
  return !name.startsWith(".") && /\.(ya?ml|json)$/.test(name);
}

/** Knobs of {@linkcode FilesSource}; every field documents its default. */
export interface FilesSourceOptions {
  /**
   * Quiet time of the directory before it is read again after a write ended (a file renamed into
   * place, removed, or closed by its writer). Default 10.
   */
  settleMs?: number;
  /** Quiet time of a file with a write in progress (no close or rename seen) before it is read. Default 100. */
  debounceMs?: number;
  /** Longest delay from a file's first event to its re-read, even while writes continue. Default 1000. */
  maxDelayMs?: number;
  /** Interval of the safety re-scan; 0 turns it off. Default 30_000. */
  resyncMs?: number;
  /** Called after each read of the watch, with what it cost (for a debug log). Default none. */
  onRead?: (read: FilesRead) => void;
  /** Time and timers. Default {@linkcode realClock}. */
  clock?: Clock;
}

/** One read of the directory during a watch. */
export interface FilesRead {
  /** Files parsed again. */
  parsed: string[];
  /** Bytes of those files. */
  bytes: number;
  /** Time spent reading, parsing, merging and comparing, ms. */
  ms: number;
  /** Events it yielded. */
  events: number;
}

interface FileEntry {
  /** size, mtime and inode: a change of any means the file must be read again. */
  stamp: string;
  objects: FileObjects;
}

/** A {@linkcode ClusterSource} over a directory of manifests. */
export class FilesSource implements ClusterSource {
  /** `files:<dir>`. */
  readonly name: string;
  readonly #dir: string;
  readonly #settleMs: number;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #resyncMs: number;
  readonly #onRead: ((read: FilesRead) => void) | undefined;
  readonly #clock: Clock;
  /** Reads run on it one after another: on request once writes settled, and the re-scan. */
  readonly #scans: Scheduler;
  readonly #files = new Map<string, FileEntry>();
  #merged = new Map<string, Resource>();
  #reportedDuplicates = new Set<string>();
  #version = 0;
  #listed = false;
  /** The writes of the watch in progress, if any. */
  #settle: WriteSettle | undefined;
  #watcher: Deno.FsWatcher | undefined;
  #queue: AsyncQueue<ClusterEvent> | undefined;
  #closed = false;

  /** `dir` is the manifests directory; it must exist when `list()` or `watch()` runs. */
  constructor(dir: string, options: FilesSourceOptions = {}) {
    this.#dir = dir.replace(/\/+$/, "") || "/";
    this.name = `files:${this.#dir}`;
    this.#settleMs = options.settleMs ?? 10;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 1_000;
    this.#resyncMs = options.resyncMs ?? 30_000;
    this.#onRead = options.onRead;
    this.#clock = options.clock ?? realClock;
    this.#scans = new Scheduler((trigger) => this.#scanWatched(trigger), {
      clock: this.#clock,
      ...(this.#resyncMs > 0 ? { intervalMs: this.#resyncMs } : {}),
      periodicReason: "resync",
    });
  }

  /**
   * Reads every manifest again. Throws when the directory cannot be read; bad manifests are in
   * `errors`, and each object rejected by an edit keeps its last valid version.
   */
  async list(): Promise<Snapshot> {
    const { errors } = await this.#scans.serial(() => this.#scan({ all: true }));
    this.#listed = true;
    this.#version++;
    this.#reportedDuplicates = new Set(
      errors.filter((e) => e instanceof DuplicateDefinition).map((e) => e.message),
    );
    return snapshotOf(this.#merged.values(), { resourceVersion: String(this.#version), errors });
  }

  /** Changes after the last `list()` (listing first if it never ran), until `close()`. */
  async *watch(): AsyncGenerator<ClusterEvent> {
    if (this.#queue !== undefined) {
      throw new Error(`Cannot watch ${this.name}: it is already being watched`);
    }
    if (this.#closed) return;
    const queue = new AsyncQueue<ClusterEvent>();
    this.#queue = queue;
    const settle = new WriteSettle({
      settleMs: this.#settleMs,
      debounceMs: this.#debounceMs,
      maxDelayMs: this.#maxDelayMs,
    });
    let pump: Promise<void> = Promise.resolve();
    try {
      if (!this.#listed) await this.list();
      const watcher = Deno.watchFs(this.#dir, { recursive: false });
      this.#watcher = watcher;
      this.#settle = settle;
      this.#scans.start();
      pump = (async () => {
        try {
          for await (const event of watcher) {
            const names = event.paths.map((path) => path.slice(path.lastIndexOf("/") + 1));
            // A write in progress matters only in a manifest; one that ended elsewhere may be a
            // directory swap behind symlinked manifests (a ConfigMap's `..data`).
            const relevant = eventEffect(event.kind) === "writing"
              ? names.filter(isManifestName)
              : names;
            if (settle.note(event.kind, relevant, this.#clock.now())) this.#requestScan(settle);
          }
        } catch (err) {
          queue.push(this.#errorEvent(`Cannot watch ${this.#dir}: ${String(err)}`));
        }
      })();
      for await (const event of queue) yield event;
    } finally {
      this.#closeWatcher();
      queue.close();
      await pump;
      await this.#scans.stop();
      this.#settle = undefined;
      this.#queue = undefined;
    }
  }

  /** Stops the watch (which ends after the events already queued) and releases the watcher. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closeWatcher();
    this.#queue?.close();
    await this.#scans.stop();
  }

  #closeWatcher(): void {
    try {
      this.#watcher?.close();
    } catch {
      // Already closed.
    }
    this.#watcher = undefined;
  }

  /** Asks for a read when the earliest pending write settles. */
  #requestScan(settle: WriteSettle): void {
    const due = settle.due();
    if (due !== undefined) this.#scans.requestAt("write", Math.ceil(due));
  }

  /** A read of the watch: the files whose writes settled, or everything on the re-scan. */
  async #scanWatched(trigger: string): Promise<void> {
    const settle = this.#settle;
    const queue = this.#queue;
    if (settle === undefined || queue === undefined) return;
    if (trigger === "resync") {
      if (!settle.pending) queue.push(...await this.#changes(new Set(), new Set()));
      return;
    }
    const { ready, writing } = settle.take(this.#clock.now());
    if (ready.size > 0) queue.push(...await this.#changes(ready, writing));
    this.#requestScan(settle);
  }

  /** A re-scan as events: errors first, then the resource changes with increasing versions. */
  async #changes(
    named: ReadonlySet<string>,
    writing: ReadonlySet<string>,
  ): Promise<ClusterEvent[]> {
    if (this.#closed) return [];
    const t0 = performance.now();
    let result;
    try {
      result = await this.#scan({ named, writing, all: false });
    } catch (err) {
      return [this.#errorEvent(`Cannot read ${this.#dir}: ${String(err)}`)];
    }
    const duplicates = new Set<string>();
    const events: ClusterEvent[] = [];
    for (const error of result.errors) {
      if (error instanceof DuplicateDefinition) {
        duplicates.add(error.message);
        if (this.#reportedDuplicates.has(error.message)) continue;
      }
      events.push({ type: "error", ...error });
    }
    this.#reportedDuplicates = duplicates;
    for (const change of result.changes) {
      events.push({ ...change, resourceVersion: String(++this.#version) });
    }
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    this.#onRead?.({ parsed: result.parsed, bytes: result.bytes, ms, events: events.length });
    return events;
  }

  /**
   * Reads the directory, parses the files that changed (all of them when `all`), merges, and
   * returns the difference from the previous merge with the errors found on the way.
   */
  async #scan(
    options: { named?: ReadonlySet<string>; writing?: ReadonlySet<string>; all: boolean },
  ): Promise<
    {
      changes: ReturnType<typeof diffResources>;
      errors: ManifestError[];
      parsed: string[];
      bytes: number;
    }
  > {
    const errors: ManifestError[] = [];
    const parsed: string[] = [];
    let bytes = 0;
    const present = new Set<string>();
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#dir));
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "no such directory" : String(err);
      throw new Error(`Cannot read cluster manifests directory ${this.#dir}: ${why}`);
    }
    for (const entry of entries) {
      if (!isManifestName(entry.name) || entry.isDirectory) continue;
      const path = `${this.#dir}/${entry.name}`;
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(path); // follows symlinks, as a ConfigMap mount needs
      } catch {
        continue; // gone since the listing, or a dangling symlink: absent
      }
      if (!info.isFile) continue;
      present.add(entry.name);
      const before = this.#files.get(entry.name);
      // Still being written: keep what it held (nothing, if new) until its writer is done.
      if (options.writing?.has(entry.name)) continue;
      const stamp = `${info.size}:${info.mtime?.getTime() ?? 0}:${info.ino ?? 0}`;
      if (!options.all && before?.stamp === stamp && !options.named?.has(entry.name)) continue;
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          present.delete(entry.name);
          continue;
        }
        errors.push({
          file: path,
          key: "",
          value: undefined,
          message: `Cannot read ${path}: ${String(err)}`,
        });
        continue; // unreadable for now: keep what it held
      }
      parsed.push(entry.name);
      bytes += text.length;
      const manifests = parseManifests(text, { file: path });
      const next = fileObjects(manifests, { file: path, previous: before?.objects });
      errors.push(...manifests.errors, ...next.errors);
      this.#files.set(entry.name, { stamp, objects: next.objects });
    }
    for (const name of [...this.#files.keys()]) if (!present.has(name)) this.#files.delete(name);
    const merged = mergeFiles(
      new Map([...this.#files].map(([name, entry]) => [`${this.#dir}/${name}`, entry.objects])),
    );
    errors.push(...merged.errors);
    const changes = diffResources(this.#merged, merged.resources);
    this.#merged = merged.resources;
    return { changes, errors, parsed, bytes };
  }

  #errorEvent(message: string): ClusterEvent {
    return { type: "error", file: this.#dir, key: "", value: undefined, message };
  }
}

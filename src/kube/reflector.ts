/**
 * A reflector keeps an in-memory copy of one kind, as client-go's reflector does: list (page by
 * page), watch from the list's resourceVersion, and on a clean end of the watch watch again from
 * the last version seen (bookmarks advance it). A watch never starts less than
 * `minWatchIntervalMs` after the previous one, so a server that ends watches at once cannot
 * make a tight loop. When the version is too old (410 `Gone`/`Expired`) it lists again and
 * reports only the difference against its cache, decided by each object's resourceVersion, so a
 * relist is no delete/add storm. Other failures reconnect after an exponential backoff with
 * jitter; a 429 waits at least its `Retry-After`; a 404 for the whole kind (its CRD is not
 * installed) is reported as `missing` and retried slowly, never fatal, and keeps what was listed. The API server
 * unreachable leaves the cache as it was. Each object passes the `transform` hook before it is
 * kept, so only the fields the caller uses stay in memory. All waiting is on the injected clock,
 * all jitter from the injected random source.
 * @module
 */
import { type Clock, realClock, sleep } from "../clock.ts";
import type { KubeClient, ResourceType } from "./client.ts";
import { ApiError, KubeNetworkError } from "./errors.ts";
import type { KubeObject } from "./watch_stream.ts";

/** What a reflector needs of the client (a `KubeClient`, or a fake in tests). */
export type ReflectorClient = Pick<KubeClient, "listAll" | "watch">;

/** One change to the cache. */
export interface ReflectorChange<T> {
  type: "added" | "modified" | "deleted";
  /** `namespace/name`, or `name` for cluster-scoped kinds. */
  key: string;
  /** The object now (for `deleted`, the last one kept). */
  object: T;
  /** The object before a `modified`. */
  previous?: T;
}

/** What `status()` reports, for `tern status` and readiness. */
export interface ReflectorStatus {
  /** The kind (`Pod`, `SecurityGroup`). */
  kind: string;
  /** The first list is in (a missing kind counts as listed, and empty). */
  synced: boolean;
  /** The API server does not serve this kind (404: its CRD is not installed). */
  missing: boolean;
  /** A watch is open now. */
  watching: boolean;
  /** Objects in the cache. */
  objects: number;
  /** The resourceVersion the next watch starts from. */
  resourceVersion: string;
  /** When the last change or bookmark arrived (ms since the epoch). */
  lastEventAt?: number;
  /** When the server last answered or sent data (ms since the epoch): staleness is now minus this. */
  lastContactAt?: number;
  /** Watches and lists started again after a failure or a clean end. */
  reconnects: number;
  /** Lists after the first (410, a kind that came back). */
  relists: number;
  /** Lists and watches that failed (an error, not a clean end). */
  errors: number;
  /** The last failure, when the last attempt failed; cleared by success. */
  lastError?: { message: string; at: number };
}

/** Knobs of {@linkcode Reflector}; every field documents its default. */
export interface ReflectorOptions<T> {
  /**
   * Keeps only what is used of an object; must not throw. `resourceVersion` is the object's as
   * the cache compares it ({@linkcode compactVersion}), for a value that keeps it (`versionOf`).
   * Default: the object unchanged.
   */
  transform?: (object: KubeObject, resourceVersion: string | number) => T;
  /**
   * The resourceVersion a value of `transform` keeps (the one it was given), when it keeps one:
   * the cache then holds the values alone. Without it the cache pairs each value with its
   * version, an object of its own (40 bytes: 6 MiB of ternd's heap at 150 000 pods, where the
   * kubernetes source keeps the version in what it parses). Default: none, the pair.
   */
  versionOf?: (value: T) => string | number;
  /**
   * Called with the changes of each step: the first list (all `added`), a relist (only what
   * differs), each watch event. Synchronous; the cache already holds the new state.
   */
  onChange?: (changes: ReflectorChange<T>[]) => void;
  /** Called after each failure, with the error and the wait before the next attempt (for logs). */
  onError?: (error: unknown, retryInMs: number) => void;
  /**
   * Called when a list or watch succeeds after the server could not be reached: it answers again,
   * so the reflectors of its other kinds may stop waiting ({@linkcode Reflector.retryNow}).
   */
  onReachable?: () => void;
  /** Default the real clock. */
  clock?: Clock;
  /** Uniform in [0, 1), for jitter. Default `Math.random`. */
  random?: () => number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** The server's timeout of one watch is this ×(1..2), as client-go's. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** A watch without a byte for this long is aborted and renewed. Default 120_000. */
  idleTimeoutMs?: number;
  /** The least time between the starts of two watches, even after a clean end. Default 1_000. */
  minWatchIntervalMs?: number;
  /** The first retry delay after a failure; it doubles with each failure in a row. Default 1_000. */
  backoffInitialMs?: number;
  /** The longest retry delay. Default 30_000. */
  backoffMaxMs?: number;
  /** The longest retry interval of a missing kind (CRD not installed), reached by doubling. Default 60_000. */
  missingRetryMs?: number;
}

interface Entry<T> {
  /** The object's resourceVersion, as {@linkcode compactVersion} keeps it. */
  resourceVersion: string | number;
  value: T;
}

/** What the cache holds of an object: its value alone when that keeps its version, else a pair. */
type Kept<T> = T | Entry<T>;

/** The cache of one kind; `start()` it, read `items()`, `stop()` it. */
export class Reflector<T = KubeObject> {
  /** The type reflected. */
  readonly type: ResourceType;
  /** Resolves once the first list is in (or the kind is found missing). */
  readonly synced: Promise<void>;
  readonly #client: ReflectorClient;
  readonly #transform: (object: KubeObject, resourceVersion: string | number) => T;
  readonly #versionOf: ((value: T) => string | number) | undefined;
  readonly #onChange: (changes: ReflectorChange<T>[]) => void;
  readonly #onError: (error: unknown, retryInMs: number) => void;
  readonly #onReachable: () => void;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #pageSize: number;
  readonly #watchTimeoutSeconds: number;
  readonly #idleTimeoutMs: number;
  readonly #minWatchIntervalMs: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #missingRetryMs: number;
  #cache = new ObjectCache<Kept<T>>();
  readonly #abort = new AbortController();
  #resolveSynced!: () => void;
  #running: Promise<void> | undefined;
  #status: ReflectorStatus;
  /** The current watch brought an event or a bookmark (it worked, whatever ends it). */
  #progressed = false;
  /** The last failure was the server out of reach (a network error). */
  #unreachable = false;
  /** Cuts the current wait after a network error short; undefined while not in one. */
  #nap: AbortController | undefined;

  /** Builds the reflector; nothing happens until `start()`. */
  constructor(client: ReflectorClient, type: ResourceType, options: ReflectorOptions<T> = {}) {
    this.type = type;
    this.#client = client;
    this.#transform = options.transform ?? ((object) => object as unknown as T);
    this.#versionOf = options.versionOf;
    this.#onChange = options.onChange ?? (() => {});
    this.#onError = options.onError ?? (() => {});
    this.#onReachable = options.onReachable ?? (() => {});
    this.#clock = options.clock ?? realClock;
    this.#random = options.random ?? Math.random;
    this.#pageSize = options.pageSize ?? 500;
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
    this.#minWatchIntervalMs = options.minWatchIntervalMs ?? 1_000;
    this.#backoffInitialMs = options.backoffInitialMs ?? 1_000;
    this.#backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.#missingRetryMs = options.missingRetryMs ?? 60_000;
    this.synced = new Promise((resolve) => this.#resolveSynced = resolve);
    this.#status = {
      kind: type.kind,
      synced: false,
      missing: false,
      watching: false,
      objects: 0,
      resourceVersion: "",
      reconnects: 0,
      relists: 0,
      errors: 0,
    };
  }

  /** Starts listing and watching; idempotent. */
  start(): void {
    if (this.#running !== undefined || this.#abort.signal.aborted) return;
    this.#running = this.#run();
  }

  /** Stops the watch and every wait; the cache stays readable. Idempotent. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error(`Reflector of ${this.type.kind} stopped`));
    await this.#running;
  }

  /**
   * Ends a wait after a network error now (the server answers other kinds again: see
   * `onReachable`); the next attempt follows at once, still no sooner than the least interval
   * between watches. A wait after a refusal (5xx, 429) or a missing kind's retry is kept.
   */
  retryNow(): void {
    this.#nap?.abort();
  }

  /** A copy of the status. */
  status(): ReflectorStatus {
    return { ...this.#status, objects: this.#cache.size };
  }

  /** The objects kept, in no particular order. */
  items(): T[] {
    return Array.from(this.#cache.values(), (kept) => this.#value(kept));
  }

  /** One object by key (`namespace/name`, or `name`). */
  get(key: string): T | undefined {
    const slash = key.indexOf("/");
    const kept = slash < 0
      ? this.#cache.get("", key)
      : this.#cache.get(key.slice(0, slash), key.slice(slash + 1));
    return kept === undefined ? undefined : this.#value(kept);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let needList = true;
    let failures = 0;
    let lastWatchAt = -Infinity;
    while (!signal.aborted) {
      try {
        if (needList) {
          // A relist does not end a run of failures: a 410 storm still backs off.
          await this.#list(signal);
          needList = false;
        }
        const wait = lastWatchAt + this.#minWatchIntervalMs - this.#clock.now();
        if (wait > 0) await sleep(this.#clock, wait, signal);
        lastWatchAt = this.#clock.now();
        await this.#watch(signal);
        // A clean end (the server's timeout) is no failure; the interval above still applies.
        failures = 0;
        this.#status.reconnects++;
      } catch (err) {
        this.#status.watching = false;
        if (signal.aborted) break;
        // A watch that worked before it broke (a proxy cutting long connections) starts a new
        // run of failures; one that fails before any event (a 410 storm) continues it.
        if (this.#progressed) failures = 0;
        this.#progressed = false;
        failures++;
        let delay = this.#backoff(failures);
        if (err instanceof ApiError && err.expired) {
          needList = true;
        } else if (err instanceof ApiError && err.notFound) {
          needList = true;
          this.#markMissing();
          // Doubling from the first delay up to the missing kind's interval: a CRD not served
          // yet by a starting API server is back within seconds, one not installed is asked
          // for once a minute.
          delay = Math.min(this.#missingRetryMs, this.#backoffInitialMs * 2 ** (failures - 1));
        } else if (err instanceof ApiError && err.retryAfterSeconds !== undefined) {
          delay = Math.max(delay, err.retryAfterSeconds * 1000);
        }
        this.#status.lastError = { message: describe(err), at: this.#clock.now() };
        this.#status.reconnects++;
        this.#status.errors++;
        this.#unreachable = err instanceof KubeNetworkError;
        this.#onError(err, delay);
        const nap = new AbortController();
        if (this.#unreachable) this.#nap = nap;
        try {
          await sleep(this.#clock, delay, AbortSignal.any([signal, nap.signal]));
        } catch {
          if (signal.aborted) break;
        } finally {
          this.#nap = undefined;
        }
      }
    }
    this.#status.watching = false;
  }

  /** `initial × 2^(failures-1)`, capped, times a random factor in [0.5, 1) ("equal jitter"). */
  #backoff(failures: number): number {
    const base = Math.min(this.#backoffMaxMs, this.#backoffInitialMs * 2 ** (failures - 1));
    return Math.round(base * (0.5 + 0.5 * this.#random()));
  }

  async #list(signal: AbortSignal): Promise<void> {
    const list = await this.#client.listAll<KubeObject, [string, string, Kept<T>]>(this.type, {
      pageSize: this.#pageSize,
      signal,
      map: (object) => [...placeOf(object), this.#entry(object)],
    });
    this.#contact();
    this.#reached();
    const fresh = new ObjectCache<Kept<T>>();
    const changes: ReflectorChange<T>[] = [];
    for (const [namespace, name, entry] of list.items) {
      const old = this.#cache.get(namespace, name);
      const key = joinKey(namespace, name);
      if (old === undefined) changes.push({ type: "added", key, object: this.#value(entry) });
      else if (this.#version(old) !== this.#version(entry)) {
        changes.push({
          type: "modified",
          key,
          object: this.#value(entry),
          previous: this.#value(old),
        });
      } else { // unchanged: keep the object already handed out
        fresh.set(namespace, name, old);
        continue;
      }
      fresh.set(namespace, name, entry);
    }
    for (const [namespace, name, old] of this.#cache.entries()) {
      if (fresh.get(namespace, name) === undefined) {
        changes.push({ type: "deleted", key: joinKey(namespace, name), object: this.#value(old) });
      }
    }
    this.#cache = fresh;
    if (this.#status.synced) this.#status.relists++;
    this.#status.resourceVersion = list.resourceVersion;
    this.#status.missing = false;
    delete this.#status.lastError;
    if (changes.length > 0) this.#status.lastEventAt = this.#clock.now();
    this.#markSynced();
    if (changes.length > 0) this.#onChange(changes);
  }

  /** One watch, until the server ends it cleanly; throws on a failure or an ERROR event. */
  async #watch(signal: AbortSignal): Promise<void> {
    const timeoutSeconds = Math.floor(this.#watchTimeoutSeconds * (1 + this.#random()));
    const events = this.#client.watch(this.type, {
      resourceVersion: this.#status.resourceVersion,
      timeoutSeconds,
      idleTimeoutMs: this.#idleTimeoutMs,
      allowWatchBookmarks: true,
      signal,
      onOpen: () => {
        this.#status.watching = true;
        this.#contact();
        this.#reached();
        delete this.#status.lastError;
      },
    });
    this.#progressed = false;
    for await (const event of events) {
      this.#contact();
      if (event.type === "ERROR") throw event.error;
      this.#progressed = true;
      const rv = event.object.metadata.resourceVersion;
      if (rv !== undefined && rv !== "") this.#status.resourceVersion = rv;
      this.#status.lastEventAt = this.#clock.now();
      if (event.type === "BOOKMARK") continue;
      const [namespace, name] = placeOf(event.object);
      const key = joinKey(namespace, name);
      const old = this.#cache.get(namespace, name);
      if (event.type === "DELETED") {
        if (old === undefined) continue;
        this.#cache.delete(namespace, name);
        this.#onChange([{ type: "deleted", key, object: this.#value(old) }]);
        continue;
      }
      const entry = this.#entry(event.object);
      this.#cache.set(namespace, name, entry);
      this.#onChange([
        old === undefined
          ? { type: "added", key, object: this.#value(entry) }
          : { type: "modified", key, object: this.#value(entry), previous: this.#value(old) },
      ]);
    }
    this.#status.watching = false;
  }

  /** What the cache keeps of `object`: its value, with its version inside or beside it. */
  #entry(object: KubeObject): Kept<T> {
    const resourceVersion = compactVersion(object.metadata.resourceVersion ?? "");
    const value = this.#transform(object, resourceVersion);
    return this.#versionOf === undefined ? { resourceVersion, value } : value;
  }

  #value(kept: Kept<T>): T {
    return this.#versionOf === undefined ? (kept as Entry<T>).value : kept as T;
  }

  #version(kept: Kept<T>): string | number {
    return this.#versionOf === undefined
      ? (kept as Entry<T>).resourceVersion
      : this.#versionOf(kept as T);
  }

  /**
   * The kind is not served (404). Before the first list it counts as listed and empty. Once
   * listed, its objects are kept until a list says otherwise: a restarting API server answers 404
   * for custom resources until it has read their CRDs, and dropping a kind's policies for that
   * would open what they isolate; a real CRD deletion deletes every object first, and the watch
   * reports those deletes.
   */
  #markMissing(): void {
    this.#status.missing = true;
    this.#markSynced();
  }

  #markSynced(): void {
    if (this.#status.synced) return;
    this.#status.synced = true;
    this.#resolveSynced();
  }

  /** The server answered: if it was out of reach, say so once. */
  #reached(): void {
    if (!this.#unreachable) return;
    this.#unreachable = false;
    this.#onReachable();
  }

  #contact(): void {
    this.#status.lastContactAt = this.#clock.now();
  }
}

/**
 * A resourceVersion as the cache keeps it, only ever compared for equality: a number when the
 * text is a canonical decimal integer of at most 15 digits (every etcd revision in practice; the
 * number stands for that text and no other, so equal numbers mean equal texts), else the text.
 * resourceVersions are opaque strings by the API conventions: nothing else is read from them.
 * A number is held in the entry, a string beside it (~24 bytes a pod at 150 000 pods).
 */
export function compactVersion(resourceVersion: string): string | number {
  return /^[1-9][0-9]{0,14}$/.test(resourceVersion) ? Number(resourceVersion) : resourceVersion;
}

/** `namespace/name`, or `name` for a cluster-scoped object. */
export function keyOf(object: KubeObject): string {
  return joinKey(...placeOf(object));
}

function joinKey(namespace: string, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** An object's namespace (empty for a cluster-scoped one) and name. */
function placeOf(object: KubeObject): [string, string] {
  const { namespace, name } = object.metadata;
  return [namespace ?? "", name ?? ""];
}

/**
 * Objects by namespace, then name. Nested rather than keyed by `namespace/name`, so that no
 * object has a key string of its own here: the name is the object's own (the pod's, after the
 * source's transform), ~56 bytes an object less at 150 000 pods.
 */
class ObjectCache<E> {
  readonly #byNamespace = new Map<string, Map<string, E>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(namespace: string, name: string): E | undefined {
    return this.#byNamespace.get(namespace)?.get(name);
  }

  set(namespace: string, name: string, entry: E): void {
    let names = this.#byNamespace.get(namespace);
    if (names === undefined) this.#byNamespace.set(namespace, names = new Map());
    if (!names.has(name)) this.#size++;
    names.set(name, entry);
  }

  delete(namespace: string, name: string): void {
    const names = this.#byNamespace.get(namespace);
    if (names === undefined || !names.delete(name)) return;
    this.#size--;
    if (names.size === 0) this.#byNamespace.delete(namespace);
  }

  *values(): Generator<E> {
    for (const names of this.#byNamespace.values()) yield* names.values();
  }

  *entries(): Generator<[string, string, E]> {
    for (const [namespace, names] of this.#byNamespace) {
      for (const [name, entry] of names) yield [namespace, name, entry];
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A multi-version store shaped like etcd as the API server uses it: one global revision that every
 * write increments (the `resourceVersion` of the API concepts page), every key keeping its older
 * versions until a compaction passes them, and a bounded history of change events. That is what
 * the documented protocol needs: a list served at one revision page after page while writes go on
 * ("Retrieving large results sets in chunks": consistent snapshot, `410 Expired` once compacted),
 * and a watch replaying every change after a given revision ("Efficient detection of changes",
 * `410 Gone` when that revision is no longer in the window).
 *
 * Objects are kept as their serialized JSON with their labels and selectable field values beside
 * it, so lists and watches send stored bytes and selectors never parse an object.
 * @module
 */

import { expired } from "./status.ts";

/** One version of an object. */
export interface Version {
  /** The revision that wrote this version (its metadata.resourceVersion). */
  rv: number;
  /** The object as JSON, carrying `rv` as metadata.resourceVersion. */
  json: string;
  /** A tombstone: the object was deleted at `rv`; `json` is its last state stamped with `rv`. */
  deleted: boolean;
  labels: Readonly<Record<string, string>>;
  fields: Readonly<Record<string, string>>;
}

/** One change, as the history and the watchers see it. */
export interface StoreEvent {
  rv: number;
  /** The resource's registry name (`pods`, `networkpolicies.networking.k8s.io`). */
  resource: string;
  /** `namespace/name` or `name`. */
  key: string;
  /** The live version before the change (undefined for a create). */
  prev: Version | undefined;
  /** The version written (a tombstone for a delete). */
  next: Version;
}

/** What a write produces, given the revision it is assigned. */
export type VersionBody = Omit<Version, "rv">;

class Table {
  readonly chains = new Map<string, Version[]>();
  #sorted: string[] = [];
  #adds = new Set<string>();
  #removes = new Set<string>();
  live = 0;

  added(key: string): void {
    if (this.#removes.has(key)) this.#removes.delete(key);
    else this.#adds.add(key);
  }

  removed(key: string): void {
    if (this.#adds.has(key)) this.#adds.delete(key);
    else this.#removes.add(key);
  }

  /** Every key with any version, sorted as etcd sorts keys (bytewise for ASCII names). */
  sortedKeys(): string[] {
    if (this.#adds.size === 0 && this.#removes.size === 0) return this.#sorted;
    const kept = this.#removes.size === 0
      ? this.#sorted
      : this.#sorted.filter((k) => !this.#removes.has(k));
    const adds = [...this.#adds].sort(compareKeys);
    const merged: string[] = new Array(kept.length + adds.length);
    let i = 0, j = 0, n = 0;
    while (i < kept.length && j < adds.length) {
      merged[n++] = compareKeys(kept[i]!, adds[j]!) <= 0 ? kept[i++]! : adds[j++]!;
    }
    while (i < kept.length) merged[n++] = kept[i++]!;
    while (j < adds.length) merged[n++] = adds[j++]!;
    this.#sorted = merged;
    this.#adds.clear();
    this.#removes.clear();
    return merged;
  }
}

/** Compares keys as byte strings (code units; names are ASCII). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The version of a chain visible at revision `rv` (undefined: none yet). */
function versionAt(chain: Version[], rv: number): Version | undefined {
  for (let i = chain.length - 1; i >= 0; i--) {
    if (chain[i]!.rv <= rv) return chain[i];
  }
  return undefined;
}

/** Options of {@linkcode MvccStore.list}. */
export interface ListOptions {
  /** The snapshot revision. */
  rv: number;
  /** Only keys with this prefix (`namespace/`). */
  prefix?: string;
  /** Start at this key (inclusive), from a continue token. */
  startKey?: string;
  /** At most this many items (0 or absent: all). */
  limit?: number;
  /** A filter on versions (selectors). */
  match?: (v: Version) => boolean;
}

/** Options of the {@linkcode MvccStore} constructor. */
export interface MvccStoreOptions {
  /**
   * How many change events the history keeps (default 50 000): an older revision is compacted,
   * so a watch or a continue token from before it gets `410`. The real server keeps what etcd
   * has not compacted (5 minutes by default) and what its watch cache holds.
   */
  historyLimit?: number;
}

/** The multi-version store; see the module documentation. */
export class MvccStore {
  #rv = 0;
  #compacted = 0;
  #tables = new Map<string, Table>();
  #history: StoreEvent[] = [];
  #historyStart = 0;
  #listeners = new Set<(e: StoreEvent) => void>();
  #historyLimit: number;

  /** See {@linkcode MvccStoreOptions}. */
  constructor(options: MvccStoreOptions = {}) {
    this.#historyLimit = Math.max(1, options.historyLimit ?? 50_000);
  }

  /** The current revision: the resourceVersion of the last write. */
  get rv(): number {
    return this.#rv;
  }

  /** Revisions at or below this are compacted: a watch or list from below it is expired. */
  get compactedRv(): number {
    return this.#compacted;
  }

  /** How many change events the history holds. */
  get historySize(): number {
    return this.#history.length - this.#historyStart;
  }

  #table(resource: string): Table {
    let t = this.#tables.get(resource);
    if (t === undefined) {
      t = new Table();
      this.#tables.set(resource, t);
    }
    return t;
  }

  /** The live version of a key now (undefined when absent or deleted). */
  current(resource: string, key: string): Version | undefined {
    const chain = this.#tables.get(resource)?.chains.get(key);
    const v = chain?.[chain.length - 1];
    return v === undefined || v.deleted ? undefined : v;
  }

  /** The live version of a key at revision `rv` (a 410 when `rv` is compacted). */
  at(resource: string, key: string, rv: number): Version | undefined {
    this.#checkNotCompacted(rv);
    const chain = this.#tables.get(resource)?.chains.get(key);
    const v = chain === undefined ? undefined : versionAt(chain, rv);
    return v === undefined || v.deleted ? undefined : v;
  }

  /** How many live objects a resource has. */
  count(resource: string): number {
    return this.#tables.get(resource)?.live ?? 0;
  }

  /** The live keys of a resource now, sorted. */
  liveKeys(resource: string, prefix = ""): string[] {
    const t = this.#tables.get(resource);
    if (t === undefined) return [];
    const keys = t.sortedKeys();
    const out: string[] = [];
    for (let i = lowerBound(keys, prefix); i < keys.length; i++) {
      const k = keys[i]!;
      if (!k.startsWith(prefix)) break;
      if (this.current(resource, k) !== undefined) out.push(k);
    }
    return out;
  }

  /**
   * Writes a new version of `key` at the next revision: `make(rv)` builds it (a tombstone for a
   * delete). Listeners hear the event before this returns.
   */
  write(resource: string, key: string, make: (rv: number) => VersionBody): StoreEvent {
    const t = this.#table(resource);
    const rv = this.#rv + 1;
    const next: Version = { rv, ...make(rv) };
    this.#rv = rv;
    let chain = t.chains.get(key);
    const prevTop = chain?.[chain.length - 1];
    const prev = prevTop === undefined || prevTop.deleted ? undefined : prevTop;
    if (chain === undefined) {
      chain = [];
      t.chains.set(key, chain);
      t.added(key);
    }
    chain.push(next);
    if (prev === undefined && !next.deleted) t.live++;
    if (prev !== undefined && next.deleted) t.live--;
    const event: StoreEvent = { rv, resource, key, prev, next };
    this.#history.push(event);
    if (this.historySize > this.#historyLimit) {
      this.compact(this.#history[this.#history.length - this.#historyLimit - 1]!.rv);
    }
    for (const l of this.#listeners) l(event);
    return event;
  }

  /**
   * The live versions at revision `opts.rv`, in key order, from `startKey`, at most `limit`;
   * `nextKey` is where the next page starts when more matching items exist.
   */
  list(resource: string, opts: ListOptions): { items: Version[]; nextKey?: string } {
    this.#checkNotCompacted(opts.rv);
    const t = this.#tables.get(resource);
    if (t === undefined) return { items: [] };
    const keys = t.sortedKeys();
    const prefix = opts.prefix ?? "";
    const from = opts.startKey !== undefined && opts.startKey > prefix ? opts.startKey : prefix;
    const limit = opts.limit ?? 0;
    const items: Version[] = [];
    for (let i = lowerBound(keys, from); i < keys.length; i++) {
      const k = keys[i]!;
      if (prefix !== "" && !k.startsWith(prefix)) break;
      const chain = t.chains.get(k);
      const v = chain === undefined ? undefined : versionAt(chain, opts.rv);
      if (v === undefined || v.deleted) continue;
      if (opts.match !== undefined && !opts.match(v)) continue;
      if (limit > 0 && items.length === limit) return { items, nextKey: k };
      items.push(v);
    }
    return { items };
  }

  /** The events of `resource` (all resources if absent) after revision `rv`; 410 if compacted. */
  eventsAfter(rv: number, resource?: string): StoreEvent[] {
    this.#checkNotCompacted(rv);
    const out: StoreEvent[] = [];
    const first = this.#history[this.#historyStart];
    if (first === undefined) return out;
    // One event per revision, so the index of revision rv + 1 is computed, not searched.
    const start = this.#historyStart + Math.max(0, rv + 1 - first.rv);
    for (let i = start; i < this.#history.length; i++) {
      const e = this.#history[i]!;
      if (resource === undefined || e.resource === resource) out.push(e);
    }
    return out;
  }

  /**
   * Puts back a version as a restart from persisted state does: no event, no new revision. Used
   * only on an empty store, before {@linkcode resumeAt}.
   */
  restoreVersion(resource: string, key: string, version: Version): void {
    const t = this.#table(resource);
    if (t.chains.has(key)) {
      throw new Error(`Cannot restore ${resource} ${key}: it is already in the store`);
    }
    t.chains.set(key, [version]);
    t.added(key);
    if (!version.deleted) t.live++;
  }

  /**
   * Sets the revision after a restore: writes go on from `rv`, and everything up to it counts as
   * compacted (no history survives a restart), so a watch from an older revision gets a 410.
   */
  resumeAt(rv: number): void {
    if (rv < this.#rv) {
      throw new Error(`Cannot resume at revision ${rv}: the store is at ${this.#rv}`);
    }
    this.#rv = rv;
    this.#compacted = rv;
  }

  /** Calls `listener` with every later write; returns the unsubscribe function. */
  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Compacts the history up to revision `to` (default: now), as etcd's compaction does: events
   * at or below it are dropped and so are versions no revision at or above it can see.
   */
  compact(to = this.#rv): void {
    if (to <= this.#compacted) return;
    to = Math.min(to, this.#rv);
    this.#compacted = to;
    const touched = new Map<string, Set<string>>();
    while (this.#historyStart < this.#history.length) {
      const e = this.#history[this.#historyStart]!;
      if (e.rv > to) break;
      let keys = touched.get(e.resource);
      if (keys === undefined) touched.set(e.resource, keys = new Set());
      keys.add(e.key);
      this.#historyStart++;
    }
    if (this.#historyStart > 1024 && this.#historyStart * 2 > this.#history.length) {
      this.#history = this.#history.slice(this.#historyStart);
      this.#historyStart = 0;
    }
    for (const [resource, keys] of touched) {
      const t = this.#tables.get(resource)!;
      for (const key of keys) {
        const chain = t.chains.get(key);
        if (chain === undefined) continue;
        let keep = 0;
        for (let i = chain.length - 1; i >= 0; i--) {
          if (chain[i]!.rv <= to) {
            keep = chain[i]!.deleted ? i + 1 : i;
            break;
          }
        }
        if (keep > 0) chain.splice(0, keep);
        if (chain.length === 0) {
          t.chains.delete(key);
          t.removed(key);
        }
      }
    }
  }

  #checkNotCompacted(rv: number): void {
    if (rv < this.#compacted) {
      throw expired(
        `too old resource version: ${rv} (${this.#compacted})`,
      );
    }
  }
}

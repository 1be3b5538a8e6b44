/**
 * Watch streams as the API concepts page documents them ("Efficient detection of changes"): a
 * chunked HTTP response of newline-delimited JSON `{"type","object"}` events, ADDED, MODIFIED,
 * DELETED, BOOKMARK and ERROR.
 * - resourceVersion N: every change after N, replayed from the history then live; N compacted →
 *   one ERROR event carrying a 410 Expired Status, then the stream ends (what the watch cache
 *   sends: the HTTP status stays 200).
 * - resourceVersion unset or `0`: synthetic ADDED events for the current state, then changes.
 * - selectors: an object that stops matching is sent as DELETED (its last matching state stamped
 *   with the new revision) and one that starts matching as ADDED, as the watch cache does.
 * - `allowWatchBookmarks=true`: BOOKMARK events with only `metadata.resourceVersion`, at an
 *   interval, and one before a timeout when nothing is pending.
 * - `timeoutSeconds`: the server ends the stream cleanly.
 * - faults: a stream can be dropped (optionally cut mid-event), closed, hung or expired.
 * @module
 */

import { type Clock, realClock, type TimerHandle } from "../../src/clock.ts";
import type { ApiObjects, KubeObject } from "./api_objects.ts";
import { apiVersionOf, resourceName, type ResourceType } from "./resources.ts";
import type { FieldMatcher, LabelMatcher } from "./selectors.ts";
import { ApiError, expired, type Status, tooLargeResourceVersion } from "./status.ts";
import type { StoreEvent, Version } from "./store.ts";

/** What a watch request asks for. */
export interface WatchRequest {
  rt: ResourceType;
  /** `""` for all namespaces (or a cluster-scoped resource). */
  namespace: string;
  resourceVersion: string | null;
  /** `resourceVersionMatch` (only with sendInitialEvents). */
  resourceVersionMatch?: string | null;
  /** `sendInitialEvents` (streaming lists), when given. */
  sendInitialEvents?: boolean;
  labels?: LabelMatcher;
  fields?: FieldMatcher;
  allowBookmarks: boolean;
  /** The stream ends after this (`timeoutSeconds`); undefined: the server's default. */
  timeoutMs?: number;
}

/** Selects watches for a fault: all, or those of one resource (`pods`, `securitygroups.tern.dev`). */
export interface WatchFilter {
  resource?: string;
}

/** Options of {@linkcode WatchHub}. */
export interface WatchHubOptions {
  /** Interval of BOOKMARK events (default 60 000 ms, about the real server's). */
  bookmarkIntervalMs?: number;
  /**
   * The timeout of a watch without `timeoutSeconds` (default 1 800 000 ms, the real server's
   * `--min-request-timeout`; it adds up to as much again at random, this does not).
   */
  defaultTimeoutMs?: number;
  /** Events a watch may have unsent before it is closed as too slow (default 100 000). */
  queueLimit?: number;
  clock?: Clock;
}

type EventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

interface Pending {
  type: EventType;
  json: string;
}

const encoder = new TextEncoder();
const BATCH_BYTES = 256 * 1024;

/** One open watch stream. */
export class Watch {
  /** What was asked. */
  readonly req: WatchRequest;
  /** The watched resource's registry name. */
  readonly resource: string;
  /** When it was opened (clock ms). */
  readonly opened: number;
  #queue: Pending[] = [];
  #head = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #wake: (() => void) | undefined;
  #state: "open" | "hung" | "ended" = "open";
  #cutNext = false;
  #cutting = false;
  #closeWhenDrained = false;
  #limit: number;
  #hub: WatchHub;
  #timers: TimerHandle[] = [];
  /** Events written to the stream so far (not counting a cut one). */
  sent = 0;
  /** The response body. */
  readonly body: ReadableStream<Uint8Array>;

  /** A watch of `hub` for `req`; `queueLimit` unsent events close it. Opened by the hub. */
  constructor(hub: WatchHub, req: WatchRequest, queueLimit: number) {
    this.#hub = hub;
    this.req = req;
    this.resource = resourceName(req.rt);
    this.opened = hub.clock.now();
    this.#limit = queueLimit;
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: (c) => this.#pull(c),
      cancel: () => this.#end(),
    }, { highWaterMark: 0 });
  }

  /** Whether the stream is still open (not ended, dropped or closed). */
  get open(): boolean {
    return this.#state !== "ended";
  }

  /** Whether the watch is hung (sends nothing, never closes). */
  get hung(): boolean {
    return this.#state === "hung";
  }

  #matches(v: Version): boolean {
    const { labels, fields } = this.req;
    return (labels === undefined || labels(v.labels)) && (fields === undefined || fields(v.fields));
  }

  #inScope(e: StoreEvent): boolean {
    if (e.resource !== this.resource) return false;
    const ns = this.req.namespace;
    return ns === "" || !this.req.rt.namespaced || e.key.startsWith(`${ns}/`);
  }

  /** Queues the event a store change means for this watch (none if it does not concern it). */
  offer(e: StoreEvent): void {
    if (this.#state !== "open" || !this.#inScope(e)) return;
    const was = e.prev !== undefined && this.#matches(e.prev);
    if (e.next.deleted) {
      if (was) this.#push({ type: "DELETED", json: e.next.json });
      return;
    }
    const is = this.#matches(e.next);
    if (is) this.#push({ type: was ? "MODIFIED" : "ADDED", json: e.next.json });
    else if (was) {
      // Out of the selector: DELETED with the last matching state at the new revision.
      const o = JSON.parse(e.prev!.json) as KubeObject;
      o.metadata!.resourceVersion = String(e.rv);
      this.#push({ type: "DELETED", json: JSON.stringify(o) });
    }
  }

  /** Queues a synthetic ADDED (initial state); the backlog limit counts only later events. */
  added(v: Version): void {
    this.#queue.push({ type: "ADDED", json: v.json });
    this.#limit++;
  }

  /** Queues a BOOKMARK at the store's current revision. */
  bookmark(initialEventsEnd?: number): void {
    if (this.#state !== "open") return;
    const rt = this.req.rt;
    const metadata: Record<string, unknown> = {
      resourceVersion: String(initialEventsEnd ?? this.#hub.objects.store.rv),
    };
    // The bookmark that ends a streaming list's initial events says so (concepts: streaming lists).
    if (initialEventsEnd !== undefined) {
      metadata.annotations = { "k8s.io/initial-events-end": "true" };
    }
    const obj = { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata };
    this.#push({ type: "BOOKMARK", json: JSON.stringify(obj) });
  }

  /** Sends an ERROR event with `status`, then ends the stream cleanly. */
  error(status: Status): void {
    if (this.#state === "ended") return;
    this.#state = "open";
    this.#queue.length = this.#head = 0;
    this.#queue.push({ type: "ERROR", json: JSON.stringify(status) });
    this.#closeWhenDrained = true;
    this.#wakeUp();
  }

  #push(p: Pending): void {
    this.#queue.push(p);
    if (this.#queue.length - this.#head > this.#limit) {
      // The watch cache closes a watcher that cannot keep up; the client re-watches.
      this.close();
      return;
    }
    this.#wakeUp();
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Starts the timers (timeout, bookmarks). */
  start(bookmarkIntervalMs: number, timeoutMs: number): void {
    const clock = this.#hub.clock;
    if (this.req.allowBookmarks) {
      const tick = () => {
        if (this.#state === "ended") return;
        this.bookmark();
        this.#timers.push(clock.setTimeout(tick, bookmarkIntervalMs));
      };
      this.#timers.push(clock.setTimeout(tick, bookmarkIntervalMs));
    }
    this.#timers.push(clock.setTimeout(() => {
      if (this.#state !== "open") return;
      if (this.req.allowBookmarks && this.#queue.length === this.#head) {
        this.bookmark();
        this.#closeWhenDrained = true;
        this.#wakeUp();
      } else this.close();
    }, timeoutMs));
  }

  async #pull(c: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#cutting) {
      // The half event was taken by the connection; give it a moment on the wire, then reset.
      await new Promise((r) => setTimeout(r, 20));
      this.drop();
      return;
    }
    while (
      this.#state !== "ended" && (this.#state === "hung" || this.#queue.length === this.#head)
    ) {
      if (this.#closeWhenDrained && this.#state === "open") {
        this.close();
        return;
      }
      await new Promise<void>((r) => (this.#wake = r));
    }
    if (this.#state === "ended") return;
    let text = "";
    while (this.#head < this.#queue.length && text.length < BATCH_BYTES) {
      const p = this.#queue[this.#head++]!;
      const line = `{"type":"${p.type}","object":${p.json}}\n`;
      if (this.#cutNext) {
        this.#cutNext = false;
        this.#cutting = true;
        text += line.slice(0, Math.max(1, Math.floor(line.length / 2)));
        break;
      }
      text += line;
      this.sent++;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    c.enqueue(encoder.encode(text));
  }

  /** Ends the stream cleanly (the final chunk is sent): the client sees the watch end. */
  close(): void {
    if (this.#state === "ended") return;
    this.#end();
    try {
      this.#controller.close();
    } catch { /* already closed by the client */ }
  }

  /** Breaks the connection: the client's read fails (a crashed server or a cut network). */
  drop(): void {
    if (this.#state === "ended") return;
    this.#end();
    try {
      this.#controller.error(new Error("watch dropped by the fake API server"));
    } catch { /* already closed */ }
  }

  /** The next event (one pending, or the next to come) is sent half, then the connection breaks. */
  cutMidEvent(): void {
    if (this.#state !== "open") return;
    this.#cutNext = true;
    this.#wakeUp();
  }

  /** Ends the stream cleanly once what is pending has been sent. */
  closeAfterPending(): void {
    if (this.#state !== "open") return;
    this.#closeWhenDrained = true;
    this.#wakeUp();
  }

  /** Stops sending anything, never closes (until the server stops or the client goes away). */
  hang(): void {
    if (this.#state === "open") this.#state = "hung";
  }

  #end(): void {
    this.#state = "ended";
    for (const t of this.#timers) this.#hub.clock.clearTimeout(t);
    this.#timers = [];
    this.#queue = [];
    this.#head = 0;
    this.#hub.forget(this);
    this.#wakeUp();
  }
}

/**
 * Checks the parameters of a streaming list ("Streaming lists" in the API concepts page):
 * `sendInitialEvents` needs `resourceVersionMatch=NotOlderThan`, and `true` needs
 * `allowWatchBookmarks=true`; `resourceVersionMatch` on a watch needs `sendInitialEvents`.
 * Returns the flag (undefined when absent). Violations are 422 Invalid, as ListOptions validation
 * fails.
 */
function checkStreamingList(req: WatchRequest): boolean | undefined {
  const match = req.resourceVersionMatch ?? "";
  const problems: string[] = [];
  if (req.sendInitialEvents === undefined) {
    if (match !== "") {
      problems.push(
        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
      );
    }
  } else {
    if (match !== "NotOlderThan") {
      problems.push("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    }
    if (req.sendInitialEvents && !req.allowBookmarks) {
      problems.push("sendInitialEvents requires setting allowWatchBookmarks to true");
    }
  }
  if (problems.length > 0) {
    throw new ApiError(
      422,
      "Invalid",
      `ListOptions.meta.k8s.io "" is invalid: ${problems.join(", ")}`,
      {
        group: "meta.k8s.io",
        kind: "ListOptions",
        causes: problems.map((message) => ({ reason: "FieldValueForbidden", message })),
      },
    );
  }
  return req.sendInitialEvents;
}

/** Every open watch, and the faults that act on them. */
export class WatchHub {
  /** The objects watched. */
  readonly objects: ApiObjects;
  /** The clock of timeouts and bookmarks. */
  readonly clock: Clock;
  #watches = new Set<Watch>();
  #bookmarkIntervalMs: number;
  #defaultTimeoutMs: number;
  #queueLimit: number;
  /** New watches to answer with an ERROR 410 at once (a 410 storm). */
  expireNext = 0;
  /** New watches to hang at once. */
  hangNext = 0;

  /** Watches of `objects`' store; see {@linkcode WatchHubOptions}. */
  constructor(objects: ApiObjects, options: WatchHubOptions = {}) {
    this.objects = objects;
    this.clock = options.clock ?? realClock;
    this.#bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 1_800_000;
    this.#queueLimit = options.queueLimit ?? 100_000;
    objects.subscribe((e) => {
      for (const w of this.#watches) w.offer(e);
    });
    // Deleting a CRD deletes its objects (their DELETED events are sent), then ends its watches.
    objects.onUninstall((rt) => {
      for (const w of this.#select({ resource: resourceName(rt) })) w.closeAfterPending();
    });
  }

  /** The bookmark interval now in force. */
  get bookmarkIntervalMs(): number {
    return this.#bookmarkIntervalMs;
  }

  set bookmarkIntervalMs(ms: number) {
    this.#bookmarkIntervalMs = Math.max(1, ms);
  }

  /** Open watches. */
  get watches(): Watch[] {
    return [...this.#watches];
  }

  /** Opens a watch; a resourceVersion newer than the store is a 504 before any byte is sent. */
  open(req: WatchRequest): Watch {
    const store = this.objects.store;
    const rvText = req.resourceVersion ?? "";
    let from: number | undefined;
    if (rvText !== "" && rvText !== "0") {
      from = Number(rvText);
      if (!/^\d+$/.test(rvText) || !Number.isSafeInteger(from)) {
        throw new ApiError(
          400,
          "BadRequest",
          `Invalid value: "${rvText}": resourceVersion must be a non-negative integer`,
        );
      }
      if (from > store.rv) throw tooLargeResourceVersion(from, store.rv);
    }
    const streaming = checkStreamingList(req);
    const w = new Watch(this, req, this.#queueLimit);
    this.#watches.add(w);
    if (this.expireNext > 0) {
      this.expireNext--;
      w.error(expired(`too old resource version: ${rvText || 0} (${store.rv})`).status);
      return w;
    }
    if (streaming === false) {
      // sendInitialEvents=false: no initial state, start from the latest revision.
    } else if (from === undefined || streaming === true) {
      const opts: Parameters<typeof store.list>[1] = { rv: store.rv };
      if (req.rt.namespaced && req.namespace !== "") opts.prefix = `${req.namespace}/`;
      const { labels, fields } = req;
      if (labels !== undefined || fields !== undefined) {
        opts.match = (v) =>
          (labels === undefined || labels(v.labels)) && (fields === undefined || fields(v.fields));
      }
      for (const v of store.list(resourceName(req.rt), opts).items) w.added(v);
      if (streaming === true) w.bookmark(store.rv);
    } else {
      let events: StoreEvent[];
      try {
        events = store.eventsAfter(from, resourceName(req.rt));
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        w.error(err.status);
        return w;
      }
      for (const e of events) w.offer(e);
    }
    w.start(this.#bookmarkIntervalMs, req.timeoutMs ?? this.#defaultTimeoutMs);
    if (this.hangNext > 0) {
      this.hangNext--;
      w.hang();
    }
    return w;
  }

  /** Removes an ended watch (called by the watch). */
  forget(w: Watch): void {
    this.#watches.delete(w);
  }

  #select(filter: WatchFilter): Watch[] {
    return this.watches.filter((w) =>
      filter.resource === undefined || w.resource === filter.resource
    );
  }

  /** Breaks the selected watches' connections; `midEvent` sends half an event first. */
  dropAll(filter: WatchFilter & { midEvent?: boolean } = {}): number {
    const ws = this.#select(filter);
    for (const w of ws) filter.midEvent ? w.cutMidEvent() : w.drop();
    return ws.length;
  }

  /** Ends the selected watches cleanly. */
  closeAll(filter: WatchFilter = {}): number {
    const ws = this.#select(filter);
    for (const w of ws) w.close();
    return ws.length;
  }

  /** Hangs the selected watches. */
  hangAll(filter: WatchFilter = {}): number {
    const ws = this.#select(filter);
    for (const w of ws) w.hang();
    return ws.length;
  }

  /** Sends the selected watches an ERROR 410 Expired event and ends them. */
  expireAll(filter: WatchFilter = {}): number {
    const ws = this.#select(filter);
    const rv = this.objects.store.rv;
    for (const w of ws) w.error(expired(`too old resource version: ${rv} (${rv})`).status);
    return ws.length;
  }
}

/**
 * tern's own small Kubernetes client, on Deno's `fetch` with `Deno.createHttpClient` for the
 * cluster's CA and client certificates: get, list (one page, or all pages with `limit` and
 * `continue`), create, merge-patch, delete and watch (bookmarks, a server-side timeout and a
 * client-side idle timeout that notices a hung stream). Only what tern uses. A token file is
 * re-read when it changes and after a 401, then the request is retried once, because bound
 * service-account tokens rotate within the hour. A request that hung (a silent watch, a timeout)
 * sends the requests after it over a new connection: over HTTP/2 they all share one, and one that
 * died without a FIN would otherwise take every later request with it until the kernel gives the
 * socket up. Every timer runs on the injected clock.
 * @module
 */
import { type Clock, realClock, sleep } from "../clock.ts";
import { ApiError, apiErrorFromBody, KubeNetworkError } from "./errors.ts";
import type { KubeConnection } from "./kubeconfig.ts";
import { decodeWatchStream, type KubeObject, type WatchEvent } from "./watch_stream.ts";

export type { KubeObject, ObjectMeta, WatchEvent } from "./watch_stream.ts";

/** How often one page of a list is asked for again after a `Retry-After` answer. */
export const PAGE_RETRIES = 10;

/**
 * How many times {@linkcode KubeClient.listAll} starts paging again from a fresh snapshot after a
 * `continue` token expired (410) before it gives the 410 to its caller (a reflector backs off and
 * lists again).
 */
export const LIST_RESTARTS = 3;

/** A kind of object and where it lives in the API. */
export interface ResourceType {
  /** API group; `""` for the core group (`/api/v1`). */
  group: string;
  version: string;
  /** Lower-case plural of the URL (`pods`, `networkpolicies`, `securitygroups`). */
  plural: string;
  /** The object's `kind` (`Pod`), for messages. */
  kind: string;
  /** Whether objects live in namespaces. */
  namespaced: boolean;
}

/** `apiVersion` of a type: `v1`, `networking.k8s.io/v1`. */
export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** The API path of a type's collection (in `namespace`, or across all) or of one object. */
export function resourcePath(type: ResourceType, namespace?: string, name?: string): string {
  const base = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns = type.namespaced && namespace !== undefined
    ? `/namespaces/${encodeURIComponent(namespace)}`
    : "";
  const one = name !== undefined ? `/${encodeURIComponent(name)}` : "";
  return `${base}${ns}/${type.plural}${one}`;
}

/** One page of a list. */
export interface ListPage<T = KubeObject> {
  items: T[];
  /** The list's `metadata.resourceVersion`: watch from here. */
  resourceVersion: string;
  /** `metadata.continue`: give it back for the next page; undefined on the last page. */
  continue?: string;
}

/** Options of one list request. */
export interface ListOptions {
  /** Only this namespace (namespaced types); default all namespaces. */
  namespace?: string;
  /** Page size; default no limit. */
  limit?: number;
  /** The continue token of the previous page. */
  continue?: string;
  labelSelector?: string;
  fieldSelector?: string;
  signal?: AbortSignal;
}

/** Options of {@linkcode KubeClient.listAll}. */
export interface ListAllOptions<T, U> {
  namespace?: string;
  /** Objects per page. Default 500 (as client-go's pager). */
  pageSize?: number;
  labelSelector?: string;
  fieldSelector?: string;
  /** Turns each raw object into what is kept, page by page, so raw pages are not held. */
  map?: (item: T) => U;
  signal?: AbortSignal;
}

/** Options of {@linkcode KubeClient.watch}. */
export interface WatchOptions {
  namespace?: string;
  /** Watch changes after this version (a list's `resourceVersion`); required. */
  resourceVersion: string;
  /** The server ends the watch after this many seconds (it must then be renewed). Default 300. */
  timeoutSeconds?: number;
  /** Aborts the stream when no byte arrived for this long. Default 120_000 (bookmarks come ~1/min). */
  idleTimeoutMs?: number;
  /** Ask for BOOKMARK events. Default true. */
  allowWatchBookmarks?: boolean;
  labelSelector?: string;
  fieldSelector?: string;
  signal?: AbortSignal;
  /** Called once the server accepted the watch (status 200), before any event. */
  onOpen?: () => void;
}

/** Knobs of {@linkcode KubeClient}; every field documents its default. */
export interface KubeClientOptions {
  /** Time for timeouts and the token file's check interval. Default the real clock. */
  clock?: Clock;
  /**
   * A request other than a watch fails after this long, unless the request names its own
   * `timeoutMs`. Default 60_000.
   */
  requestTimeoutMs?: number;
  /** A token file is looked at (stat) at most this often; a 401 always re-reads it. Default 60_000. */
  tokenCheckMs?: number;
  /** `User-Agent` header. Default `tern`. */
  userAgent?: string;
  /** Reads the token file. Default `Deno.readTextFile`. */
  readTextFile?: (path: string) => Promise<string>;
  /** What changes when the token file is replaced (mtime, size, inode). Default from `Deno.stat`. */
  fileStamp?: (path: string) => Promise<string>;
}

/** The stream noticed by the idle timeout: no byte for too long. */
export class WatchIdleError extends KubeNetworkError {
  /** How long the stream was silent, ms. */
  readonly idleMs: number;

  /** `what` names the watch. */
  constructor(what: string, idleMs: number) {
    super(`Watch of ${what} went silent: no data for ${idleMs / 1000} s, reconnecting`);
    this.name = "WatchIdleError";
    this.idleMs = idleMs;
  }
}

/** A response whose body was read whole by `#fetch` (any but a stream's). */
type ReadResponse = Response & { bodyText?: string };

/** The body of `res` as text: the one `#fetch` read, or read now (a stream's error body). */
async function bodyText(res: ReadResponse): Promise<string> {
  return res.bodyText ?? await res.text();
}

/** The body of `res` as JSON, parsed once from its text. */
async function bodyJson<T>(res: ReadResponse): Promise<T> {
  return JSON.parse(await bodyText(res)) as T;
}

interface SendOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal | undefined;
  /** A watch: no overall timeout (the idle timeout applies to its body). */
  stream?: boolean;
  /** The connection pool to send on (a watch holds one for its whole body); default the current. */
  pool?: Deno.HttpClient;
  /** This request's timeout instead of the client's `requestTimeoutMs` (not a watch's). */
  timeoutMs?: number | undefined;
}

/** Options of one request for one object: get, create, patch, delete. */
export interface ObjectRequestOptions {
  /** The object's namespace (namespaced types). */
  namespace?: string;
  signal?: AbortSignal;
  /**
   * This request fails after this long instead of the client's `requestTimeoutMs`: a caller whose
   * work waits in line behind it (the block pool's writes) fails fast and retries.
   */
  timeoutMs?: number;
}

/** A client of one API server. Call `close()` to release its connections. */
export class KubeClient {
  /** The server's base URL. */
  readonly server: string;
  readonly #connection: KubeConnection;
  readonly #tls: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem>;
  /** The pool new requests go to; replaced after a request hung on it. */
  #http: Deno.HttpClient;
  /** Requests (and watch bodies) still running on each pool. */
  readonly #inFlight = new Map<Deno.HttpClient, number>();
  /** Replaced pools, closed once their last request is done. */
  readonly #retired = new Set<Deno.HttpClient>();
  readonly #clock: Clock;
  readonly #requestTimeoutMs: number;
  readonly #tokenCheckMs: number;
  readonly #userAgent: string;
  readonly #readTextFile: (path: string) => Promise<string>;
  readonly #fileStamp: (path: string) => Promise<string>;
  #token: string | undefined;
  #tokenStamp: string | undefined;
  #tokenCheckedAt = -Infinity;

  /** Builds the client; no request is made until a method is called. */
  constructor(connection: KubeConnection, options: KubeClientOptions = {}) {
    this.#connection = connection;
    this.server = connection.server;
    this.#clock = options.clock ?? realClock;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#tokenCheckMs = options.tokenCheckMs ?? 60_000;
    this.#userAgent = options.userAgent ?? "tern";
    this.#readTextFile = options.readTextFile ?? Deno.readTextFile;
    this.#fileStamp = options.fileStamp ?? (async (path) => {
      const info = await Deno.stat(path);
      return `${info.mtime?.getTime() ?? 0}:${info.size}:${info.ino ?? 0}`;
    });
    this.#token = connection.token;
    const tls: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = {};
    if (connection.caCerts.length > 0) tls.caCerts = connection.caCerts;
    if (connection.clientCert !== undefined) {
      tls.cert = connection.clientCert.cert;
      tls.key = connection.clientCert.key;
    }
    this.#tls = tls;
    this.#http = this.#newPool();
  }

  /** Releases the connection pools. Streams still open fail. */
  close(): void {
    for (const pool of [this.#http, ...this.#retired]) closePool(pool);
    this.#retired.clear();
  }

  #newPool(): Deno.HttpClient {
    return Deno.createHttpClient(
      this.#tls as Deno.CreateHttpClientOptions & Deno.TlsCertifiedKeyPem,
    );
  }

  /** The current pool, counted as used until {@linkcode KubeClient.#release}. */
  #acquire(): Deno.HttpClient {
    const pool = this.#http;
    this.#inFlight.set(pool, (this.#inFlight.get(pool) ?? 0) + 1);
    return pool;
  }

  #release(pool: Deno.HttpClient): void {
    const left = (this.#inFlight.get(pool) ?? 1) - 1;
    if (left > 0) {
      this.#inFlight.set(pool, left);
      return;
    }
    this.#inFlight.delete(pool);
    if (this.#retired.delete(pool)) closePool(pool);
  }

  /**
   * A request on `pool` hung: later requests go to a new pool (a new connection). The old one
   * is closed when its last request is done, so the streams on it that still work go on.
   */
  #renew(pool: Deno.HttpClient): void {
    if (pool !== this.#http) return; // renewed already
    this.#http = this.#newPool();
    if (this.#inFlight.has(pool)) this.#retired.add(pool);
    else closePool(pool);
  }

  /** One object; throws {@linkcode ApiError} (`notFound`) when it does not exist. */
  async get<T = KubeObject>(
    type: ResourceType,
    name: string,
    options: ObjectRequestOptions = {},
  ): Promise<T> {
    const res = await this.#send("GET", resourcePath(type, options.namespace, name), options);
    return await bodyJson<T>(res);
  }

  /** One page of a list. */
  async list<T = KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<ListPage<T>> {
    const res = await this.#send("GET", resourcePath(type, options.namespace), {
      query: {
        limit: options.limit,
        continue: options.continue,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      signal: options.signal,
    });
    const body = await bodyJson<{
      items?: T[] | null;
      metadata?: { resourceVersion?: string; continue?: string };
    }>(res);
    const page: ListPage<T> = {
      items: body.items ?? [],
      resourceVersion: body.metadata?.resourceVersion ?? "",
    };
    if (body.metadata?.continue) page.continue = body.metadata.continue;
    return page;
  }

  /**
   * Every object, page by page (`limit`, then `continue`). When the snapshot being paged expires
   * (410 on a `continue`: the server compacted past the first page's revision, which a slow list
   * of 150 000 pods can outlast), the pages read are dropped and paging starts again from a fresh
   * snapshot, up to {@linkcode LIST_RESTARTS} times before the 410 is thrown. client-go's pager
   * falls back to one request without a limit instead: at 150 000 pods that is one ~600 MB body,
   * read whole before any of it can be trimmed, and the API server builds it whole too. A page
   * after the first that the server refuses for now with a `Retry-After` (429 from priority and
   * fairness, a 5xx) is asked for again after that wait, up to {@linkcode PAGE_RETRIES} times,
   * rather than failing the pages already read: client-go's requests retry such answers in place
   * too.
   */
  async listAll<T = KubeObject, U = T>(
    type: ResourceType,
    options: ListAllOptions<T, U> = {},
  ): Promise<{ items: U[]; resourceVersion: string; pages: number }> {
    const map = options.map ?? ((item: T) => item as unknown as U);
    const base = {
      ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      ...(options.labelSelector !== undefined ? { labelSelector: options.labelSelector } : {}),
      ...(options.fieldSelector !== undefined ? { fieldSelector: options.fieldSelector } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    };
    let items: U[] = [];
    let pages = 0;
    let next: string | undefined;
    const limit = options.pageSize ?? 500;
    let retries = 0;
    let restarts = 0;
    const ask = () =>
      this.list<T>(type, { ...base, limit, ...(next !== undefined ? { continue: next } : {}) });
    let asked: Promise<ListPage<T>> | undefined;
    while (true) {
      let page: ListPage<T>;
      try {
        page = await (asked ?? ask());
      } catch (err) {
        if (
          err instanceof ApiError && err.expired && next !== undefined && restarts < LIST_RESTARTS
        ) {
          restarts++;
          items = [];
          next = undefined;
          continue;
        }
        if (
          err instanceof ApiError && next !== undefined && retries < PAGE_RETRIES &&
          err.retryAfterSeconds !== undefined && (err.code === 429 || err.code >= 500)
        ) {
          retries++;
          await sleep(this.#clock, err.retryAfterSeconds * 1000, options.signal);
          continue;
        }
        throw err;
      } finally {
        asked = undefined;
      }
      retries = 0;
      pages++;
      if (page.continue !== undefined) {
        // The next page is asked for before this one is turned into kept objects, so the server
        // builds and sends it meanwhile: a page of 500 pods is ~2 MB, two are held at a time.
        next = page.continue;
        asked = ask();
        asked.catch(() => {}); // seen when awaited; not if `map` throws first
      }
      for (const item of page.items) items.push(map(item));
      if (page.continue === undefined) {
        return { items, resourceVersion: page.resourceVersion, pages };
      }
    }
  }

  /** Creates `object`; throws {@linkcode ApiError} `AlreadyExists` when the name is taken. */
  async create<T = KubeObject>(
    type: ResourceType,
    object: unknown,
    options: ObjectRequestOptions = {},
  ): Promise<T> {
    const res = await this.#send("POST", resourcePath(type, options.namespace), {
      body: object,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return await bodyJson<T>(res);
  }

  /** A JSON merge patch (RFC 7386): `null` removes a key. */
  async patch<T = KubeObject>(
    type: ResourceType,
    name: string,
    patch: unknown,
    options: ObjectRequestOptions = {},
  ): Promise<T> {
    const res = await this.#send("PATCH", resourcePath(type, options.namespace, name), {
      body: patch,
      contentType: "application/merge-patch+json",
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return await bodyJson<T>(res);
  }

  /**
   * Deletes one object; throws {@linkcode ApiError} (`notFound`) when it is already gone, and
   * (`Conflict`) when `preconditions` (a `DeleteOptions` body) do not hold: of many clients
   * deleting one version of an object, exactly one succeeds.
   */
  async delete(
    type: ResourceType,
    name: string,
    options: ObjectRequestOptions & {
      preconditions?: { uid?: string; resourceVersion?: string };
    } = {},
  ): Promise<void> {
    const send: SendOptions = { signal: options.signal, timeoutMs: options.timeoutMs };
    if (options.preconditions !== undefined) {
      send.body = {
        apiVersion: "v1",
        kind: "DeleteOptions",
        preconditions: options.preconditions,
      };
    }
    const res = await this.#send("DELETE", resourcePath(type, options.namespace, name), send);
    await res.body?.cancel();
  }

  /**
   * The changes after `resourceVersion`, as they come. The iteration ends when the server ends
   * the watch (its `timeoutSeconds`) and throws {@linkcode ApiError} when the server refuses it,
   * {@linkcode WatchIdleError} when no byte arrived for `idleTimeoutMs`, and
   * {@linkcode KubeNetworkError} when the connection breaks. An `ERROR` event is yielded (the
   * server ends the stream after it).
   */
  async *watch<T = KubeObject>(
    type: ResourceType,
    options: WatchOptions,
  ): AsyncGenerator<WatchEvent<T>> {
    const idleMs = options.idleTimeoutMs ?? 120_000;
    const what = `${type.kind} at ${this.server}`;
    const abort = new AbortController();
    const onAbort = () => abort.abort(options.signal?.reason);
    if (options.signal?.aborted) throw options.signal.reason;
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let idle = false;
    let timer: number | undefined;
    const pool = this.#acquire();
    const arm = () => {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      timer = this.#clock.setTimeout(() => {
        idle = true;
        this.#renew(pool);
        abort.abort(new WatchIdleError(what, idleMs));
      }, idleMs);
    };
    try {
      arm();
      const res = await this.#send("GET", resourcePath(type, options.namespace), {
        query: {
          watch: 1,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: options.allowWatchBookmarks ?? true,
          timeoutSeconds: options.timeoutSeconds ?? 300,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
        },
        signal: abort.signal,
        stream: true,
        pool,
      });
      options.onOpen?.();
      if (res.body === null) return;
      arm();
      try {
        for await (const event of decodeWatchStream(res.body, { onData: arm })) {
          yield event as WatchEvent<T>;
        }
      } catch (err) {
        if (idle) throw new WatchIdleError(what, idleMs);
        if (options.signal?.aborted) throw options.signal.reason;
        if (err instanceof KubeNetworkError) throw err;
        throw new KubeNetworkError(`Watch of ${what} broke: ${describe(err)}`, { cause: err });
      }
    } catch (err) {
      if (idle && !(err instanceof WatchIdleError)) throw new WatchIdleError(what, idleMs);
      throw err;
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      abort.abort();
      this.#release(pool);
    }
  }

  /** Sends one request, with auth, a 401 retry after a token re-read, and errors decoded. */
  async #send(method: string, path: string, options: SendOptions): Promise<Response> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const request = `${method} ${url.pathname}`;
    let token = await this.#bearer(false);
    for (let attempt = 0;; attempt++) {
      const res = await this.#fetch(method, url, token, options);
      if (res.ok) return res;
      const body = await bodyText(res);
      const error = apiErrorFromBody(res.status, body, {
        retryAfter: res.headers.get("retry-after"),
        request,
        now: this.#clock.now(),
      });
      if (res.status === 401 && attempt === 0 && this.#connection.tokenFile !== undefined) {
        const fresh = await this.#bearer(true);
        if (fresh !== token) {
          token = fresh;
          continue;
        }
      }
      throw error;
    }
  }

  async #fetch(
    method: string,
    url: URL,
    token: string | undefined,
    options: SendOptions,
  ): Promise<Response> {
    const headers = new Headers({ accept: "application/json", "user-agent": this.#userAgent });
    if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
    if (options.body !== undefined) {
      headers.set("content-type", options.contentType ?? "application/json");
    }
    // A stream keeps the caller's signal for its whole body; a request gets its own timeout.
    const abort = new AbortController();
    const onAbort = () => abort.abort(options.signal?.reason);
    let timedOut = false;
    let timer: number | undefined;
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    const pool = options.pool ?? this.#acquire();
    if (!options.stream) {
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) abort.abort(options.signal.reason);
      timer = this.#clock.setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, timeoutMs);
    }
    try {
      const init: RequestInit & { client?: Deno.HttpClient } = {
        method,
        headers,
        signal: options.stream && options.signal !== undefined ? options.signal : abort.signal,
      };
      if (options.body !== undefined) init.body = JSON.stringify(options.body);
      init.client = pool;
      const res = await fetch(url, init);
      if (options.stream) return res;
      // Read the whole body under the timeout, so a server that stalls mid-body is noticed: an
      // error's body too (a watch's error body is read under its idle timeout instead). Kept as
      // the text read: wrapped in a new Response it would be encoded again and decoded once more
      // by `json()`, three passes over a list page's ~2 MB where one will do.
      const read: ReadResponse = new Response(null, { status: res.status, headers: res.headers });
      read.bodyText = await res.text();
      return read;
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (timedOut) {
        this.#renew(pool);
        throw new KubeNetworkError(
          `Kubernetes API server ${this.server} did not answer ${method} ${url.pathname} within ${
            timeoutMs / 1000
          } s`,
        );
      }
      throw new KubeNetworkError(
        `Cannot reach the Kubernetes API server ${this.server} (${this.#connection.origin}): ${
          describe(err)
        }`,
        { cause: err },
      );
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (options.pool === undefined) this.#release(pool);
    }
  }

  /** The bearer token: inline, or from the token file when it changed (or `force`). */
  async #bearer(force: boolean): Promise<string | undefined> {
    const file = this.#connection.tokenFile;
    if (file === undefined) return this.#token;
    const now = this.#clock.now();
    if (!force && this.#token !== undefined && now - this.#tokenCheckedAt < this.#tokenCheckMs) {
      return this.#token;
    }
    this.#tokenCheckedAt = now;
    try {
      const stamp = await this.#fileStamp(file);
      if (force || stamp !== this.#tokenStamp || this.#token === undefined) {
        const token = (await this.#readTextFile(file)).trim();
        if (token !== "") this.#token = token;
        this.#tokenStamp = stamp;
      }
    } catch (err) {
      if (this.#token === undefined) {
        throw new KubeNetworkError(
          `Cannot read the token file ${file} (${this.#connection.origin}): ${describe(err)}`,
          { cause: err },
        );
      }
      // Keep the last token: a rotation swaps the file by rename, a read may race with it.
    }
    return this.#token;
  }
}

function closePool(pool: Deno.HttpClient): void {
  try {
    pool.close();
  } catch {
    // Closed already.
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}

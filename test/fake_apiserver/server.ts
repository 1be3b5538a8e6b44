/**
 * The fake Kubernetes API server, in-process: {@linkcode startFakeApiServer} listens with
 * `Deno.serve` (HTTP or TLS, port 0 allowed) and returns a handle with the store, the admin
 * methods (load, CRDs, compaction, token rotation, faults, churn) and stop/start/restart that keep
 * the store and the port. The same admin methods are served over HTTP under `/_fake/` (see
 * `admin_handler.ts`) for a server run as a process (`main.ts`).
 * @module
 */

import { adminHandler } from "./admin_handler.ts";
import { type ApiContext, apiHandler, type RequestLogEntry } from "./api_handler.ts";
import {
  ApiObjects,
  type DeleteOptions,
  type KubeObject,
  type ObjectRef,
  type Snapshot,
} from "./api_objects.ts";
import { type Churn, churn, type ChurnOptions } from "./churn.ts";
import { Faults, type SlowOptions, type ThrottleOptions } from "./faults.ts";
import { type ClusterShape, realisticCluster } from "./realistic.ts";
import { resourceName, type ResourceType } from "./resources.ts";
import { saveState } from "./state_file.ts";
import { WatchHub } from "./watch.ts";

/** Options of {@linkcode startFakeApiServer}. */
export interface FakeApiServerOptions {
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** Accepted bearer tokens (default none: no authentication). */
  tokens?: string[];
  /** Also serve the admin API on this port, on a listener that stays up while the API is stopped. */
  adminPort?: number;
  /** BOOKMARK interval (default 60 000 ms). */
  bookmarkIntervalMs?: number;
  /** Timeout of a watch without timeoutSeconds (default 1 800 000 ms). */
  defaultWatchTimeoutMs?: number;
  /** Change events kept for watches and continue tokens (default 50 000). */
  historyLimit?: number;
  /** Custom resources installed from the start (`securitygroups.tern.dev`, ...). */
  crds?: string[];
  /** Refuse creates in missing namespaces (default true). */
  checkNamespaces?: boolean;
  /** Objects loaded at start (CRD objects install their type). */
  seed?: Iterable<KubeObject>;
  /** Events a watch may have unsent before it is closed as too slow (default 100 000). */
  watchQueueLimit?: number;
  /** How long a deleted pod on a node stays terminating (default 0); see `ApiObjectsOptions`. */
  podTerminationMs?: number;
  /** Start from this persisted state (see `state_file.ts`) instead of an empty cluster. */
  restore?: Snapshot;
  /** Where {@linkcode FakeApiServer.save} writes by default. */
  stateFile?: string;
}

/** The handle of a running fake API server. */
export interface FakeApiServer {
  /** `http://127.0.0.1:PORT` (or https). */
  readonly url: string;
  /** The admin API's base URL (`${url}/_fake` or the separate admin listener's). */
  readonly adminUrl: string;
  readonly port: number;
  /** Object semantics and the store. */
  readonly objects: ApiObjects;
  /** Open watches and watch faults. */
  readonly hub: WatchHub;
  /** Request faults. */
  readonly faults: Faults;
  /** Request counts by verb (`list`, `watch`, `get`, `create`, ..., `throttled`, `unauthorized`). */
  readonly counts: Map<string, number>;
  /** The last API requests (at most 2 000), oldest first: what a client sent, when, and the answer. */
  readonly requests: readonly RequestLogEntry[];
  /** The current resourceVersion. */
  readonly rv: number;
  /** Whether the API listener is up. */
  readonly running: boolean;
  /** Creates an object as a POST would (server fields set, a pod's status reset); returns it. */
  create(obj: KubeObject): KubeObject;
  /** Replaces an object as a PUT would (409 on a stale resourceVersion); returns it. */
  update(obj: KubeObject): KubeObject;
  /** Replaces an object's status as a PUT on `/status` would; returns it. */
  updateStatus(obj: KubeObject): KubeObject;
  /** Patches an object (merge patch unless `type` says otherwise); returns it. */
  patch(
    ref: KindRef,
    patch: unknown,
    options?: { type?: string; subresource?: string },
  ): KubeObject;
  /** Deletes an object (gracefully for a pod on a node); returns its last version. */
  delete(ref: KindRef, options?: DeleteOptions): KubeObject;
  /** The object now, or undefined. */
  get(ref: KindRef): KubeObject | undefined;
  /** The objects of a kind now (in one namespace, or all). */
  list(ref: { apiVersion: string; kind: string; namespace?: string }): KubeObject[];
  /** The state to persist (revision, custom types, live objects); see `state_file.ts`. */
  snapshot(): Snapshot;
  /** Writes the state to `path` (default the `stateFile` option); returns the path. */
  save(path?: string): Promise<string>;
  /** Loads objects as a restore (create or replace, status kept); returns how many. */
  load(objects: Iterable<KubeObject>): number;
  /** Loads a generated realistic cluster; returns how many objects. */
  generate(shape: ClusterShape): number;
  /** Installs a CRD by name or object. */
  installCrd(crd: string | KubeObject): ResourceType;
  /** Removes a CRD and its objects; its watches end. */
  uninstallCrd(name: string): void;
  /** Compacts history up to `rv` (default now); returns the compacted revision. */
  compact(rv?: number): number;
  /** Replaces the accepted tokens (old ones are refused from the next request). */
  rotateTokens(tokens: string[]): void;
  /** 429s; see {@linkcode Faults.throttle}. */
  throttle(options: ThrottleOptions): void;
  /** Slow responses; see {@linkcode Faults.slow}. */
  slow(options: SlowOptions): void;
  /** Cuts the next `count` list bodies halfway. */
  cutLists(count: number): void;
  /** Removes request faults, and the pending hang/expire of new watches. */
  clearFaults(): void;
  /** Breaks open watches (`midEvent`: half an event first); returns how many. */
  dropWatches(options?: { resource?: string; midEvent?: boolean }): number;
  /** Ends open watches cleanly; returns how many. */
  closeWatches(options?: { resource?: string }): number;
  /** Hangs open watches, and the `next` new ones; returns how many were open. */
  hangWatches(options?: { resource?: string; next?: number }): number;
  /** ERROR 410 to open watches, and to the `next` new ones; returns how many were open. */
  expireWatches(options?: { resource?: string; next?: number }): number;
  /** A 410 storm: compacts to now, expires every open watch and the `next` new ones (default 10). */
  goneStorm(options?: { next?: number }): number;
  /** Sets the BOOKMARK interval of watches opened from now on. */
  setBookmarkInterval(ms: number): void;
  /** Starts a churn of pod events. */
  churn(options: ChurnOptions): Churn;
  /** Stops the API listener (watches break, as when a server dies); the store is kept. */
  stop(): Promise<void>;
  /** Starts the API listener again on the same port. */
  start(): Promise<void>;
  /** stop(), wait `downMs` (default 0), start(). */
  restart(downMs?: number): Promise<void>;
  /** Stops everything (API and admin listeners, churns, watches). */
  close(): Promise<void>;
}

/** Names an object by kind: `{ apiVersion: "v1", kind: "Pod", namespace: "default", name }`. */
export interface KindRef {
  apiVersion: string;
  kind: string;
  /** Default `default` for namespaced kinds; ignored for cluster-scoped ones. */
  namespace?: string;
  name: string;
}

/** Starts a fake API server; see {@linkcode FakeApiServerOptions}. */
export async function startFakeApiServer(
  options: FakeApiServerOptions = {},
): Promise<FakeApiServer> {
  const objOpts: ConstructorParameters<typeof ApiObjects>[0] = {};
  if (options.historyLimit !== undefined) objOpts.historyLimit = options.historyLimit;
  if (options.crds !== undefined) objOpts.crds = options.crds;
  if (options.checkNamespaces !== undefined) objOpts.checkNamespaces = options.checkNamespaces;
  if (options.podTerminationMs !== undefined) objOpts.podTerminationMs = options.podTerminationMs;
  if (options.restore !== undefined) objOpts.restore = options.restore;
  const objects = new ApiObjects(objOpts);
  if (options.seed !== undefined) objects.load(options.seed);
  const hubOpts: ConstructorParameters<typeof WatchHub>[1] = {};
  if (options.bookmarkIntervalMs !== undefined) {
    hubOpts.bookmarkIntervalMs = options.bookmarkIntervalMs;
  }
  if (options.defaultWatchTimeoutMs !== undefined) {
    hubOpts.defaultTimeoutMs = options.defaultWatchTimeoutMs;
  }
  if (options.watchQueueLimit !== undefined) hubOpts.queueLimit = options.watchQueueLimit;
  const hub = new WatchHub(objects, hubOpts);
  const faults = new Faults();
  const ctx: ApiContext = {
    objects,
    hub,
    faults,
    tokens: new Set(options.tokens ?? []),
    counts: new Map(),
    log: [],
    requestSeq: 0,
  };
  const api = apiHandler(ctx);
  const hostname = options.hostname ?? "127.0.0.1";
  const scheme = options.tls ? "https" : "http";
  const churns = new Set<Churn>();
  let port = options.port ?? 0;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let adminServer: Deno.HttpServer<Deno.NetAddr> | undefined;
  let closed = false;

  // Deno.serve binds before it returns (a taken port throws here), so addr is known at once.
  const listen = (p: number, handler: (req: Request) => Promise<Response> | Response) =>
    Promise.resolve(Deno.serve({
      hostname,
      port: p,
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
      onListen: () => {},
      onError: (err) => {
        const message = err instanceof Error ? err.message : String(err);
        return new Response(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message,
            reason: "InternalError",
            code: 500,
          }),
          { status: 500, headers: { "content-type": "application/json" } },
        );
      },
    }, handler));

  const typeOf = (apiVersion: string | undefined, kind: string | undefined) => {
    const rt = objects.typeOfObject({ apiVersion, kind } as KubeObject);
    if (rt === undefined) {
      throw new Error(`Unknown kind ${apiVersion}/${kind}: not served (is its CRD installed?)`);
    }
    return rt;
  };
  const refOf = (r: KindRef): ObjectRef => {
    const rt = typeOf(r.apiVersion, r.kind);
    return { rt, namespace: rt.namespaced ? r.namespace ?? "default" : "", name: r.name };
  };
  const refOfObject = (obj: KubeObject): ObjectRef =>
    refOf({
      apiVersion: obj.apiVersion ?? "",
      kind: obj.kind ?? "",
      name: obj.metadata?.name ?? "",
      ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
    });
  const parsed = (v: { json: string }) => JSON.parse(v.json) as KubeObject;

  const fake: FakeApiServer = {
    get url() {
      return `${scheme}://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    },
    get adminUrl() {
      return adminServer === undefined
        ? `${this.url}/_fake`
        : `${scheme}://${
          hostname.includes(":") ? `[${hostname}]` : hostname
        }:${adminServer.addr.port}/_fake`;
    },
    get port() {
      return port;
    },
    objects,
    hub,
    faults,
    counts: ctx.counts,
    get requests() {
      return ctx.log;
    },
    get rv() {
      return objects.store.rv;
    },
    get running() {
      return server !== undefined;
    },
    create(obj) {
      const ref = refOfObject({ ...obj, metadata: { name: "-", ...obj.metadata } });
      return parsed(objects.create({ rt: ref.rt, namespace: ref.namespace }, obj));
    },
    update: (obj) => parsed(objects.update(refOfObject(obj), obj)),
    updateStatus: (obj) => parsed(objects.update(refOfObject(obj), obj, { subresource: "status" })),
    patch(ref, body, options = {}) {
      const type = options.type ?? "application/merge-patch+json";
      const sub = options.subresource === undefined ? {} : { subresource: options.subresource };
      return parsed(objects.patch(refOf(ref), { type, body }, sub));
    },
    delete: (ref, options = {}) => parsed(objects.delete(refOf(ref), options)),
    get(ref) {
      const r = refOf(ref);
      const v = objects.store.current(resourceName(r.rt), objects.key(r));
      return v === undefined ? undefined : parsed(v);
    },
    list(ref) {
      const rt = typeOf(ref.apiVersion, ref.kind);
      return objects.list({ rt, namespace: rt.namespaced ? ref.namespace ?? "" : "" }).items.map(
        parsed,
      );
    },
    snapshot: () => objects.snapshot(),
    async save(path = options.stateFile) {
      if (path === undefined) {
        throw new Error("Cannot save the fake API server's state: no path and no stateFile option");
      }
      await saveState(path, objects.snapshot());
      return path;
    },
    load: (objs) => objects.load(objs),
    generate: (shape) => objects.load(realisticCluster(shape)),
    installCrd: (crd) => objects.installCrd(crd),
    uninstallCrd: (name) => objects.uninstallCrd(name),
    compact(rv) {
      objects.store.compact(rv);
      return objects.store.compactedRv;
    },
    rotateTokens(tokens) {
      ctx.tokens = new Set(tokens);
    },
    throttle: (o) => faults.throttle(o),
    slow: (o) => faults.slow(o),
    cutLists: (n) => faults.cutLists(n),
    clearFaults() {
      faults.clear();
      hub.expireNext = 0;
      hub.hangNext = 0;
    },
    dropWatches(o = {}) {
      return hub.dropAll(o);
    },
    closeWatches(o = {}) {
      return hub.closeAll(o);
    },
    hangWatches(o = {}) {
      hub.hangNext = o.next ?? 0;
      return hub.hangAll(o);
    },
    expireWatches(o = {}) {
      hub.expireNext = o.next ?? 0;
      return hub.expireAll(o);
    },
    goneStorm(o = {}) {
      objects.store.compact();
      hub.expireNext = o.next ?? 10;
      return hub.expireAll();
    },
    setBookmarkInterval(ms) {
      hub.bookmarkIntervalMs = ms;
    },
    churn(o) {
      const c = churn(objects, o);
      churns.add(c);
      c.done.then(() => churns.delete(c));
      return c;
    },
    async stop() {
      const s = server;
      if (s === undefined) return;
      server = undefined;
      hub.dropAll();
      await shutdown(s);
    },
    async start() {
      if (server !== undefined || closed) return;
      const s = await listen(port, handler);
      port = s.addr.port;
      server = s;
    },
    async restart(downMs = 0) {
      await fake.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await fake.start();
    },
    async close() {
      closed = true;
      for (const c of churns) c.stop();
      objects.close();
      await fake.stop();
      if (adminServer !== undefined) {
        const a = adminServer;
        adminServer = undefined;
        await shutdown(a);
      }
    },
  };

  const admin = adminHandler(fake);
  const handler = (req: Request): Promise<Response> | Response => {
    const path = new URL(req.url).pathname;
    if (path === "/_fake" || path.startsWith("/_fake/")) return admin(req);
    return api(req);
  };

  const first = await listen(port, handler);
  port = first.addr.port;
  server = first;
  if (options.adminPort !== undefined) adminServer = await listen(options.adminPort, admin);
  return fake;
}

async function shutdown(s: Deno.HttpServer): Promise<void> {
  // shutdown() waits for responses under way; a request the fake is delaying or a client that
  // keeps a body open must not hold a stop forever.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([s.shutdown(), new Promise((r) => (timer = setTimeout(r, 2_000)))]);
  clearTimeout(timer);
}

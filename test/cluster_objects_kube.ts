/**
 * {@linkcode ClusterObjects} for the `kubernetes` cluster source: writes objects to an API server
 * over its documented REST protocol with plain `fetch`, as `kubectl` and kubelet would, so that it
 * works against any server that follows the API conventions (the fake one in the sandbox, or a
 * real one). Where an object lives comes from discovery (`GET /api/v1`, `GET /apis/<group>/<v>`:
 * its plural, whether it is namespaced, whether it has a `/status` subresource), so a CRD's scope
 * is the server's, not ours.
 *
 * - apply: `POST` to the collection; on `409 AlreadyExists`, `GET` the object and `PUT` it back
 *   with our fields and its `resourceVersion`, again from the `GET` on `409 Conflict`. Labels and
 *   annotations are merged three ways, as `kubectl apply` does: keys someone else set (ternd's
 *   `tern.dev/pod-ips` on its pod) stay; keys we set before and no longer give go.
 * - status: where the kind has a `/status` subresource the main resource ignores status, so it is
 *   written with a `PUT` to `/status`, as kubelet writes a pod's `status.podIPs`.
 * - remove: `DELETE` with `gracePeriodSeconds=0` (kubelet's last word on a pod whose containers
 *   are gone: the sandbox tears a pod down before it removes it); `404` is success.
 * - `429 Too Many Requests` is retried after its `Retry-After`.
 * @module
 */
import { type Clock, realClock, sleep } from "../src/clock.ts";
import {
  type ClusterObjects,
  describeRef,
  type KubeObject,
  type ObjectRef,
  refOf,
} from "./cluster_objects.ts";

/** An answer of the API server that is not a success, with the reason of its `Status` body. */
export class KubeApiError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** `Status.reason`: `AlreadyExists`, `Conflict`, `NotFound`, `Forbidden`…; `""` if none. */
  readonly reason: string;

  constructor(message: string, status: number, reason: string) {
    super(message);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }
}

/** Where a kind is served, as discovery tells it. */
export interface ResourceInfo {
  /** `/api/v1` or `/apis/<group>/<version>`. */
  base: string;
  /** The URL segment: `pods`. */
  plural: string;
  namespaced: boolean;
  /** Whether `<plural>/status` is a subresource (then the main resource ignores status). */
  status: boolean;
}

/** Options of {@linkcode KubeClusterObjects}. */
export interface KubeClusterObjectsOptions {
  /** The API server's URL, e.g. `https://10.98.0.253:6443`. */
  server: string;
  /** A bearer token; absent: no `Authorization` header. */
  token?: string;
  /** The HTTP client (CA bundle, a proxy or Unix socket to reach the server); absent: default. */
  client?: Deno.HttpClient;
  /** How often a `Conflict` or `429` is retried before giving up (default 5). */
  retries?: number;
  /** Time for `Retry-After` waits (default the real clock). */
  clock?: Clock;
}

/**
 * The labels (or annotations) to write: the server's, without the keys we gave last time and no
 * longer give, with ours on top (pure). `undefined` when there are none at all.
 */
export function mergeOwnedKeys(
  server: Record<string, string> | undefined,
  lastApplied: Record<string, string> | undefined,
  desired: Record<string, string> | undefined,
): Record<string, string> | undefined {
  const out: Record<string, string> = { ...server };
  for (const key of Object.keys(lastApplied ?? {})) {
    if (!(key in (desired ?? {}))) delete out[key];
  }
  Object.assign(out, desired);
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The resource of `kind` in a discovery document (`APIResourceList`), or undefined when the
 * server does not list it (pure).
 */
export function resourceFromDiscovery(
  apiVersion: string,
  kind: string,
  list: { resources?: { name: string; kind: string; namespaced: boolean }[] },
): ResourceInfo | undefined {
  const resources = list.resources ?? [];
  const main = resources.find((r) => r.kind === kind && !r.name.includes("/"));
  if (main === undefined) return undefined;
  return {
    base: apiBase(apiVersion),
    plural: main.name,
    namespaced: main.namespaced,
    status: resources.some((r) => r.name === `${main.name}/status`),
  };
}

/** `/api/v1` for the core group, `/apis/<group>/<version>` for the others (pure). */
export function apiBase(apiVersion: string): string {
  return apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Cluster objects written to a Kubernetes API server. */
export class KubeClusterObjects implements ClusterObjects {
  readonly #server: string;
  readonly #headers: Record<string, string>;
  readonly #client: Deno.HttpClient | undefined;
  readonly #retries: number;
  readonly #clock: Clock;
  readonly #discovery = new Map<string, Promise<unknown>>();
  readonly #lastApplied = new Map<
    string,
    { labels?: Record<string, string>; annotations?: Record<string, string> }
  >();

  constructor(options: KubeClusterObjectsOptions) {
    this.#server = options.server.replace(/\/+$/, "");
    this.#headers = {
      accept: "application/json",
      ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
    };
    this.#client = options.client;
    this.#retries = options.retries ?? 5;
    this.#clock = options.clock ?? realClock;
  }

  /** Creates the object, or replaces the one of that name; then its status, where separate. */
  async apply(obj: KubeObject): Promise<void> {
    const ref = refOf(obj);
    const info = await this.resource(ref);
    const key = refKey(ref);
    const last = this.#lastApplied.get(key) ?? {};
    const current = await this.#createOrReplace(info, ref, obj, last);
    this.#lastApplied.set(key, {
      ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}),
      ...(obj.metadata.annotations ? { annotations: obj.metadata.annotations } : {}),
    });
    if (info.status && obj.status !== undefined) await this.#writeStatus(info, ref, obj, current);
  }

  /** POST; on AlreadyExists, GET + PUT; again from the POST if it was deleted meanwhile. */
  async #createOrReplace(
    info: ResourceInfo,
    ref: ObjectRef,
    obj: KubeObject,
    last: { labels?: Record<string, string>; annotations?: Record<string, string> },
  ): Promise<KubeObject> {
    for (let attempt = 0;; attempt++) {
      const created = await this.#request("POST", collectionPath(info, ref), obj);
      if (created.ok) return await created.json();
      const error = await apiError(created, `Cannot create ${describeRef(ref)}`);
      if (error.reason !== "AlreadyExists") throw error;
      const replaced = await this.#replace(info, ref, obj, last);
      if (replaced !== undefined) return replaced;
      if (attempt >= this.#retries) {
        throw new Error(`Cannot apply ${describeRef(ref)}: it keeps being deleted and re-created`);
      }
    }
  }

  /** Deletes the object at once (`gracePeriodSeconds=0`); one already gone is fine. */
  async remove(ref: ObjectRef): Promise<void> {
    const info = await this.resource(ref);
    const res = await this.#request("DELETE", `${itemPath(info, ref)}?gracePeriodSeconds=0`);
    this.#lastApplied.delete(refKey(ref));
    if (res.ok) {
      await res.body?.cancel();
      return;
    }
    const error = await apiError(res, `Cannot delete ${describeRef(ref)}`);
    if (error.status !== 404) throw error;
  }

  /** The object as the server has it, or undefined when there is none. */
  async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    const res = await this.#request("GET", itemPath(await this.resource(ref), ref));
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) throw await apiError(res, `Cannot read ${describeRef(ref)}`);
    return await res.json();
  }

  /**
   * Where `ref`'s kind is served, from the server's discovery document for its apiVersion
   * (cached; asked again when the kind is missing, as a CRD may have been installed since).
   */
  async resource(ref: ObjectRef): Promise<ResourceInfo> {
    for (const fresh of [false, true]) {
      if (fresh) this.#discovery.delete(ref.apiVersion);
      let doc = this.#discovery.get(ref.apiVersion);
      if (doc === undefined) {
        doc = this.#discover(ref.apiVersion);
        this.#discovery.set(ref.apiVersion, doc);
        doc.catch(() => this.#discovery.delete(ref.apiVersion));
      }
      const info = resourceFromDiscovery(ref.apiVersion, ref.kind, (await doc) as never);
      if (info === undefined) continue;
      if (info.namespaced && ref.namespace === undefined) {
        throw new TypeError(
          `Cannot write ${
            describeRef(ref)
          }: ${ref.kind} is namespaced and metadata.namespace is not set`,
        );
      }
      return info;
    }
    throw new KubeApiError(
      `Cannot write ${describeRef(ref)}: the API server at ${this.#server} serves no ${ref.kind} ` +
        `in ${ref.apiVersion}: install its CustomResourceDefinition`,
      404,
      "NotFound",
    );
  }

  /** Closes the HTTP client given in the options, if any. */
  close(): void {
    this.#client?.close();
  }

  async #discover(apiVersion: string): Promise<unknown> {
    const res = await this.#request("GET", apiBase(apiVersion));
    if (res.status === 404) {
      await res.body?.cancel();
      return { resources: [] };
    }
    if (!res.ok) throw await apiError(res, `Cannot discover the resources of ${apiVersion}`);
    return await res.json();
  }

  /**
   * GET + PUT with the resourceVersion until no `Conflict`; undefined when the object is gone
   * (then the caller creates it).
   */
  async #replace(
    info: ResourceInfo,
    ref: ObjectRef,
    obj: KubeObject,
    last: { labels?: Record<string, string>; annotations?: Record<string, string> },
  ): Promise<KubeObject | undefined> {
    const path = itemPath(info, ref);
    for (let attempt = 0;; attempt++) {
      const got = await this.#request("GET", path);
      if (got.status === 404) {
        await got.body?.cancel();
        return undefined;
      }
      if (!got.ok) throw await apiError(got, `Cannot read ${describeRef(ref)}`);
      const existing: KubeObject = await got.json();
      const labels = mergeOwnedKeys(existing.metadata.labels, last.labels, obj.metadata.labels);
      const annotations = mergeOwnedKeys(
        existing.metadata.annotations,
        last.annotations,
        obj.metadata.annotations,
      );
      const metadata: KubeObject["metadata"] = {
        ...existing.metadata,
        ...obj.metadata,
        resourceVersion: existing.metadata.resourceVersion,
      };
      delete metadata.labels;
      delete metadata.annotations;
      if (labels) metadata.labels = labels;
      if (annotations) metadata.annotations = annotations;
      const body: KubeObject = { ...existing, ...obj, metadata };
      // The main resource ignores status where /status is separate: keep the server's.
      if (info.status) {
        if (existing.status !== undefined) body.status = existing.status;
        else delete body.status;
      }
      const put = await this.#request("PUT", path, body);
      if (put.ok) return await put.json();
      const error = await apiError(put, `Cannot replace ${describeRef(ref)}`);
      if (error.reason !== "Conflict" || attempt >= this.#retries) throw error;
    }
  }

  /** PUT to `/status` with the object's resourceVersion, read again on `Conflict`. */
  async #writeStatus(info: ResourceInfo, ref: ObjectRef, obj: KubeObject, current: KubeObject) {
    const path = itemPath(info, ref);
    for (let attempt = 0;; attempt++) {
      const put = await this.#request("PUT", `${path}/status`, { ...current, status: obj.status });
      if (put.ok) {
        await put.body?.cancel();
        return;
      }
      const error = await apiError(put, `Cannot write the status of ${describeRef(ref)}`);
      if (error.reason !== "Conflict" || attempt >= this.#retries) throw error;
      const got = await this.#request("GET", path);
      if (!got.ok) throw await apiError(got, `Cannot read ${describeRef(ref)}`);
      current = await got.json();
    }
  }

  /** One request; `429` is retried after its `Retry-After` (default 1 s). */
  async #request(method: string, path: string, body?: unknown): Promise<Response> {
    for (let attempt = 0;; attempt++) {
      const res = await fetch(`${this.#server}${path}`, {
        method,
        headers: body === undefined
          ? this.#headers
          : { ...this.#headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(this.#client ? { client: this.#client } : {}),
      });
      if (res.status !== 429 || attempt >= this.#retries) return res;
      await res.body?.cancel();
      const after = Number(res.headers.get("retry-after"));
      await sleep(this.#clock, Number.isFinite(after) && after > 0 ? after * 1000 : 1000);
    }
  }
}

function refKey(ref: ObjectRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

function collectionPath(info: ResourceInfo, ref: ObjectRef): string {
  const ns = info.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace!)}` : "";
  return `${info.base}${ns}/${info.plural}`;
}

function itemPath(info: ResourceInfo, ref: ObjectRef): string {
  return `${collectionPath(info, ref)}/${encodeURIComponent(ref.name)}`;
}

/** The error of a failed answer: the `Status` body's reason and message when there is one. */
async function apiError(res: Response, what: string): Promise<KubeApiError> {
  const text = await res.text();
  let reason = "";
  let message = text.trim().slice(0, 300);
  try {
    const status = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
    if (status.kind === "Status") {
      reason = status.reason ?? "";
      message = status.message ?? message;
    }
  } catch {
    // Not JSON: keep the text.
  }
  return new KubeApiError(
    `${what}: ${res.status}${reason ? ` ${reason}` : ""}${message ? `: ${message}` : ""}`,
    res.status,
    reason,
  );
}

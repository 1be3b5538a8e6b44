/**
 * The API server's object semantics over the {@linkcode MvccStore}: which resource types are
 * served (CRDs come and go), what the server sets on create (uid, creationTimestamp,
 * resourceVersion, generation, a pod's Pending status, a namespace's
 * `kubernetes.io/metadata.name` label), optimistic concurrency on update ("API conventions:
 * Concurrency Control and Consistency": a stale resourceVersion is a 409 Conflict, a taken name a
 * 409 AlreadyExists), status subresources, patches, deletes with preconditions, and the
 * resourceVersion semantics of get and list (the "Resource versions" table of the API concepts
 * page). No HTTP here: the handler and the in-process admin API both call this.
 * @module
 */

import { type Clock, realClock } from "../../src/clock.ts";
import { decodeContinue, encodeContinue } from "./continue_token.ts";
import { jsonPatch, mergePatch, strategicMergePatch } from "./patch.ts";
import {
  apiVersionOf,
  BUILTIN_TYPES,
  KNOWN_CRDS,
  resourceName,
  type ResourceType,
  resourceTypeFromCrd,
} from "./resources.ts";
import { type FieldMatcher, fieldValues, type LabelMatcher } from "./selectors.ts";
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  expired,
  invalid,
  notFound,
  pathNotFound,
  STALE_OBJECT,
  tooLargeResourceVersion,
} from "./status.ts";
import { MvccStore, type StoreEvent, type Version, type VersionBody } from "./store.ts";

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
};

/** The metadata fields the fake reads or sets. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** The query parameters of a list, as sent. */
export interface ListQuery {
  resourceVersion?: string | null;
  resourceVersionMatch?: string | null;
  limit?: string | null;
  continue?: string | null;
  labels?: LabelMatcher;
  fields?: FieldMatcher;
}

/** One object's place: its type, namespace (`""` when cluster-scoped) and name. */
export interface ObjectRef {
  rt: ResourceType;
  namespace: string;
  name: string;
}

/** A collection: a type and a namespace (`""` for all namespaces, or cluster-scoped). */
export interface CollectionRef {
  rt: ResourceType;
  namespace: string;
}

/** A list result: the snapshot revision, the items, and the next page's token. */
export interface ListResult {
  rv: number;
  items: Version[];
  continue?: string;
}

/** The PATCH content types the server accepts. */
export const PATCH_TYPES = [
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/json-patch+json",
] as const;

/** Options of {@linkcode ApiObjects}. */
export interface ApiObjectsOptions {
  /** Change events kept for watches and continue tokens (default 50 000). */
  historyLimit?: number;
  /** Time source for creationTimestamp (default the real clock). */
  clock?: Clock;
  /** Refuse creates in a namespace that does not exist, as NamespaceLifecycle does (default true). */
  checkNamespaces?: boolean;
  /** Custom resources installed at start, by `plural.group` (default none). */
  crds?: string[];
  /**
   * How long a deleted pod that runs on a node stays terminating (deletionTimestamp set) before
   * the fake kubelet confirms its deletion (default 0: at once, right after the MODIFIED event that
   * marks it). A real kubelet takes until its containers stop, at most the grace period.
   */
  podTerminationMs?: number;
  /** Start from this persisted state instead of an empty cluster (see {@linkcode ApiObjects.snapshot}). */
  restore?: Snapshot;
}

/** The persisted state of the fake: revision, custom types, and every live object. */
export interface Snapshot {
  rv: number;
  /** Custom resource types installed. */
  crds: ResourceType[];
  /** Live objects: resource registry name, store key, JSON (with its resourceVersion). */
  objects: { resource: string; key: string; json: string }[];
}

/** Options of {@linkcode ApiObjects.delete} (a DeleteOptions body and query). */
export interface DeleteOptions {
  preconditions?: { resourceVersion?: string; uid?: string };
  /** Grace period of a pod's deletion (default its spec.terminationGracePeriodSeconds, 30). */
  gracePeriodSeconds?: number;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** RFC 3339 with seconds, as metadata timestamps are written. */
function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

/** Deep equality of JSON values. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) =>
    (a as Record<string, unknown>)[k] !== undefined
  );
  const kb = Object.keys(b as object).filter((k) =>
    (b as Record<string, unknown>)[k] !== undefined
  );
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

function randomSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/** The object semantics of the API server; see the module documentation. */
export class ApiObjects {
  /** The multi-version store underneath. */
  readonly store: MvccStore;
  #clock: Clock;
  #checkNamespaces: boolean;
  #types = new Map<string, ResourceType>();
  #onUninstall = new Set<(rt: ResourceType) => void>();
  #podTerminationMs: number;
  #timers = new Set<ReturnType<Clock["setTimeout"]>>();

  /** See {@linkcode ApiObjectsOptions}; the default namespaces exist from the start. */
  constructor(options: ApiObjectsOptions = {}) {
    this.store = new MvccStore(
      options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit },
    );
    this.#clock = options.clock ?? realClock;
    this.#checkNamespaces = options.checkNamespaces ?? true;
    this.#podTerminationMs = options.podTerminationMs ?? 0;
    for (const rt of BUILTIN_TYPES) this.#types.set(resourceName(rt), rt);
    if (options.restore !== undefined) {
      this.#restore(options.restore);
      for (const crd of options.crds ?? []) this.installCrd(crd);
      return;
    }
    for (const crd of options.crds ?? []) this.installCrd(crd);
    // The namespaces a real cluster starts with (the API server creates them itself).
    for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
      this.create({ rt: this.type("namespaces"), namespace: "" }, { metadata: { name: ns } });
    }
  }

  #restore(snap: Snapshot): void {
    for (const rt of snap.crds) this.#types.set(resourceName(rt), { ...rt });
    for (const o of snap.objects) {
      const rt = this.#types.get(o.resource);
      if (rt === undefined) {
        throw new Error(`Cannot restore ${o.resource} ${o.key}: its type is not in the snapshot`);
      }
      const obj = JSON.parse(o.json) as KubeObject;
      this.store.restoreVersion(o.resource, o.key, {
        rv: Number(obj.metadata?.resourceVersion ?? 0),
        json: o.json,
        deleted: false,
        labels: { ...(obj.metadata?.labels ?? {}) },
        fields: fieldValues(obj, rt.fieldLabels),
      });
    }
    this.store.resumeAt(snap.rv);
    // Pods that were terminating when the state was saved: the kubelet still confirms them.
    const pods = this.type("pods");
    for (const key of this.store.liveKeys("pods")) {
      const o = JSON.parse(this.store.current("pods", key)!.json) as KubeObject;
      if (o.metadata?.deletionTimestamp !== undefined) {
        this.#kubeletConfirms(pods, key, o.metadata.uid);
      }
    }
  }

  /** The state to persist: the revision, custom types and live objects (see `restore`). */
  snapshot(): Snapshot {
    const objects: Snapshot["objects"] = [];
    for (const rt of this.#types.values()) {
      const resource = resourceName(rt);
      for (const key of this.store.liveKeys(resource)) {
        objects.push({ resource, key, json: this.store.current(resource, key)!.json });
      }
    }
    return { rv: this.store.rv, crds: this.types().filter((t) => t.custom), objects };
  }

  /** The served type with this registry name (`pods`, `securitygroups.tern.dev`). */
  type(name: string): ResourceType {
    const rt = this.#types.get(name);
    if (rt === undefined) throw pathNotFound();
    return rt;
  }

  /** Every served type. */
  types(): ResourceType[] {
    return [...this.#types.values()];
  }

  /** The served type at `group`/`version`/`plural`, or undefined. */
  resolve(group: string, version: string, plural: string): ResourceType | undefined {
    const rt = this.#types.get(group === "" ? plural : `${plural}.${group}`);
    return rt !== undefined && rt.version === version ? rt : undefined;
  }

  /** The served type of an object by its apiVersion and kind, or undefined. */
  typeOfObject(obj: KubeObject): ResourceType | undefined {
    for (const rt of this.#types.values()) {
      if (apiVersionOf(rt) === obj.apiVersion && rt.kind === obj.kind) return rt;
    }
    return undefined;
  }

  /**
   * Installs a custom resource: a known one by name (`securitygroups.tern.dev`) or any
   * `apiextensions.k8s.io/v1` CustomResourceDefinition object. Installing one already served is
   * a no-op. Returns its type.
   */
  installCrd(crd: string | KubeObject): ResourceType {
    let rt: ResourceType | undefined;
    if (typeof crd === "string") {
      rt = KNOWN_CRDS.find((t) => resourceName(t) === crd);
      if (rt === undefined) {
        throw new Error(
          `Unknown CRD name: ${crd}: known are ${
            KNOWN_CRDS.map(resourceName).join(", ")
          }; pass a CustomResourceDefinition object for others`,
        );
      }
    } else rt = resourceTypeFromCrd(crd);
    const name = resourceName(rt);
    const have = this.#types.get(name);
    if (have !== undefined) return have;
    this.#types.set(name, { ...rt });
    return this.#types.get(name)!;
  }

  /**
   * Removes a custom resource, deleting its objects first (each a DELETED event), as deleting a
   * CRD does; watches on it are then ended (see {@linkcode onUninstall}). Unknown: no-op.
   */
  uninstallCrd(name: string): void {
    const rt = this.#types.get(name);
    if (rt === undefined) return;
    if (!rt.custom) {
      throw new Error(`Cannot uninstall ${name}: it is a built-in resource, not a CRD`);
    }
    for (const key of this.store.liveKeys(name)) this.#deleteKey(rt, key);
    this.#types.delete(name);
    for (const l of this.#onUninstall) l(rt);
  }

  /** Calls `listener` when a CRD is uninstalled; returns the unsubscribe function. */
  onUninstall(listener: (rt: ResourceType) => void): () => void {
    this.#onUninstall.add(listener);
    return () => this.#onUninstall.delete(listener);
  }

  /** The store key of an object: `namespace/name` or `name`. */
  key(ref: ObjectRef): string {
    const { rt, namespace, name } = ref;
    return rt.namespaced ? `${namespace}/${name}` : name;
  }

  #body(rt: ResourceType, obj: KubeObject, rv: number): VersionBody {
    obj.metadata!.resourceVersion = String(rv);
    return {
      json: JSON.stringify(obj),
      deleted: false,
      labels: { ...(obj.metadata!.labels ?? {}) },
      fields: fieldValues(obj, rt.fieldLabels),
    };
  }

  #checkObject(rt: ResourceType, body: unknown): KubeObject {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw badRequest(`the body of the request must be a ${rt.kind} object`);
    }
    const obj = body as KubeObject;
    obj.apiVersion ??= apiVersionOf(rt);
    obj.kind ??= rt.kind;
    if (obj.apiVersion !== apiVersionOf(rt) || obj.kind !== rt.kind) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) and kind (${obj.kind}) do not match the ` +
          `resource ${apiVersionOf(rt)}, Kind=${rt.kind}`,
      );
    }
    if (obj.metadata === null || typeof obj.metadata !== "object") obj.metadata = {};
    // apiVersion and kind first, as the server serializes them.
    // A copy of the top level and metadata (the only levels the fake writes), apiVersion and
    // kind first as the server serializes them.
    const { apiVersion, kind, metadata, ...rest } = obj;
    return { apiVersion, kind, metadata: { ...metadata }, ...rest } as KubeObject;
  }

  #checkNamespace(rt: ResourceType, meta: ObjectMeta, namespace: string): void {
    if (!rt.namespaced) {
      delete meta.namespace;
      return;
    }
    if (meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== namespace) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    meta.namespace = namespace;
  }

  #setServerFields(rt: ResourceType, obj: KubeObject): void {
    const meta = obj.metadata!;
    if (rt.plural === "namespaces" && rt.group === "") {
      meta.labels = { ...(meta.labels ?? {}), [NAMESPACE_NAME_LABEL]: meta.name! };
    }
  }

  /**
   * Creates an object (POST). `options.restore` keeps what a bulk load brings (status, uid,
   * creationTimestamp) and skips the namespace check, as restoring a backup would.
   */
  create(at: CollectionRef, body: unknown, options: { restore?: boolean } = {}): Version {
    const { rt, namespace } = at;
    const obj = this.#checkObject(rt, body);
    const meta = obj.metadata!;
    this.#checkNamespace(rt, meta, namespace);
    if (!options.restore && meta.resourceVersion !== undefined && meta.resourceVersion !== "") {
      throw new ApiError(
        500,
        "InternalError",
        "resourceVersion should not be set on objects to be created",
      );
    }
    if ((meta.name === undefined || meta.name === "") && meta.generateName) {
      meta.name = meta.generateName + randomSuffix();
    }
    const name = meta.name ?? "";
    if (name === "") {
      throw invalid(rt, "", [{
        field: "metadata.name",
        reason: "FieldValueRequired",
        message: "Required value: name or generateName is required",
      }]);
    }
    if (!NAME.test(name) || name.length > 253) {
      throw invalid(rt, name, [{
        field: "metadata.name",
        reason: "FieldValueInvalid",
        message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower ` +
          `case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      }]);
    }
    const ns = rt.namespaced ? namespace : "";
    if (rt.namespaced && this.#checkNamespaces && !options.restore) {
      if (this.store.current("namespaces", ns) === undefined) {
        throw notFound(this.type("namespaces"), ns);
      }
    }
    const key = this.key({ rt, namespace: ns, name });
    const res = resourceName(rt);
    if (this.store.current(res, key) !== undefined) throw alreadyExists(rt, name);
    if (!options.restore || meta.uid === undefined) meta.uid = crypto.randomUUID();
    if (!options.restore || meta.creationTimestamp === undefined) {
      meta.creationTimestamp = timestamp(this.#clock.now());
    }
    delete meta.deletionTimestamp;
    if (rt.generation) meta.generation = 1;
    else delete meta.generation;
    if (!options.restore) {
      // What the registries' PrepareForCreate set: a pod starts Pending, a namespace Active,
      // a custom resource with a status subresource without status.
      if (rt.group === "" && rt.plural === "pods") obj.status = { phase: "Pending" };
      else if (rt.group === "" && rt.plural === "namespaces") obj.status = { phase: "Active" };
      else if (rt.custom && rt.statusSubresource) delete obj.status;
    }
    if (rt.group === "" && rt.plural === "namespaces" && obj.spec === undefined) {
      obj.spec = { finalizers: ["kubernetes"] };
    }
    this.#setServerFields(rt, obj);
    return this.store.write(res, key, (rv) => this.#body(rt, obj, rv)).next;
  }

  /** The live object now (404 if absent). */
  current(ref: ObjectRef): Version {
    const { rt, name } = ref;
    const v = this.store.current(resourceName(rt), this.key(ref));
    if (v === undefined) throw notFound(rt, name);
    return v;
  }

  /**
   * GET one object. resourceVersion unset is "most recent", `0` is "any" (both served from the
   * latest state here), another value is "not older than" (a 504 if newer than the store).
   */
  get(ref: ObjectRef, options: { resourceVersion?: string | null } = {}): Version {
    const resourceVersion = options.resourceVersion;
    if (resourceVersion !== undefined && resourceVersion !== null && resourceVersion !== "") {
      const asked = this.#parseRv(resourceVersion);
      if (asked > this.store.rv) throw tooLargeResourceVersion(asked, this.store.rv);
    }
    return this.current(ref);
  }

  /**
   * Replaces an object (PUT), or its status with `subresource: "status"`. A resourceVersion in
   * the body must be the current one (else 409 Conflict); none means an unconditional update,
   * which custom resources refuse (422). An update that changes nothing writes nothing.
   */
  update(
    ref: ObjectRef,
    body: unknown,
    options: { subresource?: string; restore?: boolean } = {},
  ): Version {
    const { rt, namespace, name } = ref;
    const obj = this.#checkObject(rt, body);
    const meta = obj.metadata!;
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(
        `the name of the object (${meta.name}) does not match the name on the URL (${name})`,
      );
    }
    meta.name = name;
    this.#checkNamespace(rt, meta, namespace);
    const ns = rt.namespaced ? namespace : "";
    const cur = this.current({ rt, namespace: ns, name });
    const old = JSON.parse(cur.json) as KubeObject;
    const oldMeta = old.metadata!;
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== "") {
      if (meta.resourceVersion !== String(cur.rv)) throw conflict(rt, name, STALE_OBJECT);
    } else if (!rt.allowUnconditionalUpdate && !options.restore) {
      throw invalid(rt, name, [{
        field: "metadata.resourceVersion",
        reason: "FieldValueInvalid",
        message: "Invalid value: 0x0: must be specified for an update",
      }]);
    }
    if (meta.uid !== undefined && meta.uid !== "" && meta.uid !== oldMeta.uid && !options.restore) {
      throw conflict(
        rt,
        name,
        `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${oldMeta.uid}`,
      );
    }
    let next: KubeObject;
    if (options.subresource === "status") {
      // The status endpoint changes status only (the registries' status strategies).
      next = { ...old, status: obj.status };
      if (obj.status === undefined) delete next.status;
    } else {
      next = obj;
      if (rt.statusSubresource && !options.restore) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
    }
    const nextMeta = next.metadata!;
    // A restore may bring another incarnation of the object: its uid and creation time win.
    nextMeta.uid = options.restore && meta.uid ? meta.uid : oldMeta.uid!;
    nextMeta.creationTimestamp = options.restore && meta.creationTimestamp
      ? meta.creationTimestamp
      : oldMeta.creationTimestamp!;
    if (!options.restore) {
      // Only a delete sets these; an update keeps what the server has (BeforeUpdate does).
      for (const k of ["deletionTimestamp", "deletionGracePeriodSeconds"]) {
        if (oldMeta[k] === undefined) delete nextMeta[k];
        else nextMeta[k] = oldMeta[k];
      }
    }
    if (rt.generation) {
      // Generation counts changes to the desired state: spec (or, for a custom resource without
      // a status subresource, anything but metadata).
      const specChanged = rt.custom && !rt.statusSubresource
        ? !jsonEqual({ ...next, metadata: null }, { ...old, metadata: null })
        : !jsonEqual(next.spec, old.spec);
      nextMeta.generation = (oldMeta.generation ?? 1) + (specChanged ? 1 : 0);
    } else delete nextMeta.generation;
    this.#setServerFields(rt, next);
    nextMeta.resourceVersion = oldMeta.resourceVersion!;
    if (jsonEqual(next, old)) return cur;
    return this.store.write(
      resourceName(rt),
      this.key({ rt, namespace: ns, name }),
      (rv) => this.#body(rt, next, rv),
    )
      .next;
  }

  /**
   * PATCH: `patch.type` is one of {@linkcode PATCH_TYPES}; the patched object then goes through
   * {@linkcode update} (a resourceVersion in the patch is a precondition).
   */
  patch(
    ref: ObjectRef,
    patch: { type: string; body: unknown },
    options: { subresource?: string } = {},
  ): Version {
    const { rt, namespace, name } = ref;
    const contentType = patch.type;
    const ns = rt.namespaced ? namespace : "";
    const cur = this.current({ rt, namespace: ns, name });
    const old = JSON.parse(cur.json) as KubeObject;
    let patched: unknown;
    switch (contentType) {
      case "application/merge-patch+json":
        patched = mergePatch(old, patch.body);
        break;
      case "application/strategic-merge-patch+json":
        if (rt.custom) throw unsupportedPatch(rt);
        patched = strategicMergePatch(old, patch.body);
        break;
      case "application/json-patch+json":
        patched = jsonPatch(old, patch.body);
        break;
      default:
        throw unsupportedPatch(rt);
    }
    const opts: { subresource?: string } = {};
    if (options.subresource !== undefined) opts.subresource = options.subresource;
    const p = patched as KubeObject;
    if (p?.metadata !== undefined && typeof p.metadata === "object" && p.metadata !== null) {
      // A patch without a resourceVersion applies to whatever is current.
      p.metadata.resourceVersion ??= String(cur.rv);
    }
    return this.update({ rt, namespace: ns, name }, patched, { ...opts, restore: false });
  }

  /**
   * DELETE: preconditions (`resourceVersion`, `uid`) must hold (else 409 Conflict). A pod bound to
   * a node and not finished is deleted gracefully, as the pod registry does: a MODIFIED event sets
   * `deletionTimestamp` and `deletionGracePeriodSeconds`, and the pod goes (DELETED) when the fake
   * kubelet confirms (see `podTerminationMs`) or on a delete with `gracePeriodSeconds: 0`.
   * Deleting a namespace deletes what is in it first. Returns the last version: the tombstone
   * (its json is the object as deleted, stamped with the deleting revision) or, for a pod still
   * terminating, the pod with its deletionTimestamp.
   */
  delete(ref: ObjectRef, options: DeleteOptions = {}): Version {
    const { rt, namespace, name } = ref;
    const ns = rt.namespaced ? namespace : "";
    const cur = this.current({ rt, namespace: ns, name });
    const old = JSON.parse(cur.json) as KubeObject;
    const preconditions = options.preconditions ?? {};
    if (
      preconditions.resourceVersion !== undefined &&
      preconditions.resourceVersion !== String(cur.rv)
    ) {
      throw conflict(
        rt,
        name,
        `the ResourceVersion in the precondition (${preconditions.resourceVersion}) does not match ` +
          `the ResourceVersion in record (${cur.rv}). The object might have been modified`,
      );
    }
    if (preconditions.uid !== undefined && preconditions.uid !== old.metadata?.uid) {
      throw conflict(
        rt,
        name,
        `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${old.metadata?.uid}`,
      );
    }
    if (rt.group === "" && rt.plural === "namespaces") {
      for (const t of this.#types.values()) {
        if (!t.namespaced) continue;
        for (const key of this.store.liveKeys(resourceName(t), `${name}/`)) this.#deleteKey(t, key);
      }
    }
    const key = this.key({ rt, namespace: ns, name });
    if (rt.group === "" && rt.plural === "pods") {
      const graceful = this.#deletePodGracefully(rt, key, old, options.gracePeriodSeconds);
      if (graceful !== undefined) return graceful;
    }
    return this.#deleteKey(rt, key);
  }

  /** The graceful part of a pod's deletion; undefined when the pod goes at once. */
  #deletePodGracefully(
    rt: ResourceType,
    key: string,
    pod: KubeObject,
    gracePeriodSeconds: number | undefined,
  ): Version | undefined {
    const spec = (pod.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    const grace = gracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
    // Unscheduled or finished pods, and a grace period of 0, go at once (pod registry rules).
    if (!spec.nodeName || phase === "Succeeded" || phase === "Failed" || grace <= 0) {
      return undefined;
    }
    const meta = pod.metadata!;
    let v: Version;
    if (meta.deletionTimestamp !== undefined) {
      v = this.store.current(resourceName(rt), key)!;
    } else {
      meta.deletionTimestamp = timestamp(this.#clock.now() + grace * 1000);
      meta.deletionGracePeriodSeconds = grace;
      v = this.store.write(resourceName(rt), key, (rv) => this.#body(rt, pod, rv)).next;
    }
    this.#kubeletConfirms(rt, key, meta.uid);
    return v;
  }

  /** The fake kubelet confirms a terminating pod's deletion, now or `podTerminationMs` later. */
  #kubeletConfirms(rt: ResourceType, key: string, uid: string | undefined): void {
    const confirm = () => {
      const now = this.store.current(resourceName(rt), key);
      if (now === undefined) return;
      const o = JSON.parse(now.json) as KubeObject;
      if (o.metadata?.uid === uid && o.metadata?.deletionTimestamp !== undefined) {
        this.#deleteKey(rt, key);
      }
    };
    if (this.#podTerminationMs <= 0) {
      confirm();
      return;
    }
    const t = this.#clock.setTimeout(() => {
      this.#timers.delete(t);
      confirm();
    }, this.#podTerminationMs);
    this.#timers.add(t);
  }

  /** Cancels pending pod terminations (the fake kubelet's timers). */
  close(): void {
    for (const t of this.#timers) this.#clock.clearTimeout(t);
    this.#timers.clear();
  }

  #deleteKey(rt: ResourceType, key: string): Version {
    const res = resourceName(rt);
    const cur = this.store.current(res, key)!;
    const obj = JSON.parse(cur.json) as KubeObject;
    return this.store.write(res, key, (rv) => ({ ...this.#body(rt, obj, rv), deleted: true })).next;
  }

  #parseRv(text: string): number {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0 || !/^\d+$/.test(text)) {
      throw badRequest(`Invalid value: "${text}": resourceVersion must be a non-negative integer`);
    }
    return n;
  }

  /**
   * LIST with the documented resourceVersion semantics:
   * - no continue, no resourceVersionMatch: unset → most recent, `0` → any, N → not older than
   *   N without `limit`, exactly N with `limit`;
   * - `resourceVersionMatch=Exact` needs N ≠ 0; `NotOlderThan` needs a resourceVersion;
   * - `continue`: the token's snapshot (410 Expired once compacted, with a token to go on from
   *   the latest state); a resourceVersion other than `0` beside it is a 400.
   * "Any" and "not older than" are served from the latest state (always allowed).
   */
  list(at: CollectionRef, q: ListQuery = {}): ListResult {
    const { rt, namespace } = at;
    const rvText = q.resourceVersion ?? "";
    const match = q.resourceVersionMatch ?? "";
    const limitText = q.limit ?? "";
    let limit = 0;
    if (limitText !== "") {
      limit = Number(limitText);
      if (!Number.isInteger(limit)) {
        throw badRequest(`Invalid value: "${limitText}": limit must be an integer`);
      }
      if (limit < 0) limit = 0;
    }
    const current = this.store.rv;
    let rv = current;
    let startKey: string | undefined;
    if (q.continue) {
      if (match !== "") {
        throw badRequest("specifying resourceVersionMatch is not allowed when using continue");
      }
      if (rvText !== "" && rvText !== "0") {
        throw badRequest("specifying resource version is not allowed when using continue");
      }
      const pos = decodeContinue(q.continue);
      startKey = pos.start;
      if (pos.rv !== 0) {
        if (pos.rv < this.store.compactedRv) {
          throw expired(
            "The provided continue parameter is too old to display a consistent list result. " +
              "You can start a new list without the continue parameter, or use the continue " +
              "token in this response to retrieve the remainder of the results. Continuing with " +
              "the provided token results in an inconsistent list - objects that were created, " +
              "modified, or deleted between the time the first chunk was returned and now may " +
              "show up in the list.",
            encodeContinue({ rv: 0, start: pos.start }),
          );
        }
        rv = pos.rv;
      }
    } else if (match === "") {
      if (rvText !== "" && rvText !== "0") {
        const asked = this.#parseRv(rvText);
        if (asked > current) throw tooLargeResourceVersion(asked, current);
        if (limit > 0) rv = this.#exact(asked);
      }
    } else if (match === "Exact") {
      if (rvText === "" || rvText === "0") {
        throw badRequest(
          'resourceVersionMatch "Exact" is forbidden for resourceVersion "0" or unset resourceVersion',
        );
      }
      const asked = this.#parseRv(rvText);
      if (asked > current) throw tooLargeResourceVersion(asked, current);
      rv = this.#exact(asked);
    } else if (match === "NotOlderThan") {
      if (rvText === "") {
        throw badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
      }
      const asked = this.#parseRv(rvText);
      if (asked > current) throw tooLargeResourceVersion(asked, current);
    } else {
      throw badRequest(
        `Unsupported value: "${match}": supported values: "Exact", "NotOlderThan", ""`,
      );
    }
    const labels = q.labels;
    const fields = q.fields;
    const matcher = labels === undefined && fields === undefined
      ? undefined
      : (v: Version) =>
        (labels === undefined || labels(v.labels)) && (fields === undefined || fields(v.fields));
    const opts: Parameters<MvccStore["list"]>[1] = { rv, limit };
    if (rt.namespaced && namespace !== "") opts.prefix = `${namespace}/`;
    if (startKey !== undefined) opts.startKey = startKey;
    if (matcher !== undefined) opts.match = matcher;
    const page = this.store.list(resourceName(rt), opts);
    const result: ListResult = { rv, items: page.items };
    if (page.nextKey !== undefined) result.continue = encodeContinue({ rv, start: page.nextKey });
    return result;
  }

  #exact(asked: number): number {
    if (asked < this.store.compactedRv) {
      throw expired(`The resourceVersion for the provided list is too old.`);
    }
    return asked;
  }

  /**
   * Loads objects as a restore would (bulk): each is created, or replaced when it exists, keeping
   * the status, uid and timestamps it carries; CRD objects install their type. Returns how many
   * objects were written.
   */
  load(objects: Iterable<KubeObject>): number {
    let n = 0;
    for (const obj of objects) {
      if (obj.kind === "CustomResourceDefinition") {
        this.installCrd(obj);
        continue;
      }
      const rt = this.typeOfObject(obj);
      if (rt === undefined) {
        throw new Error(
          `Cannot load ${obj.apiVersion}/${obj.kind} ${obj.metadata?.name}: the type is not served ` +
            `(install its CRD first)`,
        );
      }
      const ns = rt.namespaced ? (obj.metadata?.namespace || "default") : "";
      const name = obj.metadata?.name ?? "";
      // The fake sets top-level fields and fields of metadata only: copying those two levels
      // leaves the caller's object alone without a deep clone of each object.
      const o: KubeObject = { ...obj, metadata: { ...obj.metadata } };
      if (
        name !== "" &&
        this.store.current(resourceName(rt), this.key({ rt, namespace: ns, name })) !== undefined
      ) {
        delete o.metadata!.resourceVersion;
        this.update({ rt, namespace: ns, name }, o, { restore: true });
      } else {
        this.create({ rt, namespace: ns }, o, { restore: true });
      }
      n++;
    }
    return n;
  }

  /** Subscribes to every write (see {@linkcode MvccStore.subscribe}). */
  subscribe(listener: (e: StoreEvent) => void): () => void {
    return this.store.subscribe(listener);
  }
}

function unsupportedPatch(rt: ResourceType): ApiError {
  const accepted = rt.custom
    ? "application/json-patch+json, application/merge-patch+json"
    : PATCH_TYPES.join(", ");
  return new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted}`,
  );
}

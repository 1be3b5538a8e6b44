/**
 * The `kubernetes` cluster source: one {@linkcode Reflector} per kind tern reads (v1 Namespace,
 * Node, Pod and ServiceAccount, networking.k8s.io/v1 NetworkPolicy, vpcresources.k8s.aws/v1beta1
 * SecurityGroupPolicy, tern.dev/v1alpha1 SecurityGroup), each object trimmed to the fields tern
 * uses and turned into a tern resource by {@linkcode parseManifestObject}, so the API server's
 * objects are validated exactly as manifests are; an object tern cannot use becomes an `error`
 * event and keeps its last valid version. `list()` answers once every kind's first list is in (a
 * kind whose CRD is not installed counts as empty and is reported in `status()`); `watch()`
 * yields the changes after it, in order; a relist after `410 Gone` yields only the difference,
 * and a change the trimmed resource does not show (a pod's conditions) yields nothing.
 *
 * A pod's addresses come from `status.podIPs`, or, while that is still empty, from the
 * annotation `tern.dev/pod-ips` that the node's daemon patches right after ADD
 * ({@linkcode KubernetesSource.annotatePod}): kubelet writes `status.podIPs` only after the
 * runtime's sandbox call returns and its next status sync, so without the annotation the other
 * nodes' policy would not know a new pod's address for seconds, and drop its first packets.
 * Whoever may create or patch a pod may write that annotation, so it is taken only for a pod
 * scheduled on a known Node and only for addresses inside that Node's pod CIDRs (pods are
 * listed after the Nodes for that); anything else waits for kubelet's `status.podIPs`.
 * @module
 */
import { contains, isIp, parseCidr, parseIp } from "../cidr.ts";
import { type Clock, realClock } from "../clock.ts";
import {
  apiVersionOf,
  KubeClient,
  type KubeClientOptions,
  type ResourceType,
} from "../kube/client.ts";
import { ApiError } from "../kube/errors.ts";
import { type InClusterOptions, resolveConnection } from "../kube/kubeconfig.ts";
import {
  Reflector,
  type ReflectorChange,
  type ReflectorOptions,
  type ReflectorStatus,
} from "../kube/reflector.ts";
import type { KubeObject } from "../kube/watch_stream.ts";
import { AsyncQueue } from "./_async_queue.ts";
import { parseManifestObject } from "./manifest.ts";
import { sameResource } from "./resource_diff.ts";
import { compactNode, compactPod, type PodPools, podPools } from "./compact_pod.ts";
import { validPod } from "./valid_pod.ts";
import type { ClusterSource } from "./source.ts";
import type { ClusterEvent, ManifestError, Resource, Snapshot } from "./types.ts";

/** The annotation through which a node's daemon publishes a new pod's addresses (comma-separated). */
export const POD_IPS_ANNOTATION = "tern.dev/pod-ips";

/** kubectl's copy of the last applied object: large, and never read by tern. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * The pod annotations kept by default: the address annotation and the default egress binding's
 * (`routing.egressBinding.annotation`). Nothing else of tern reads a pod's annotations, and
 * controllers and rollouts change others all the time (`kubectl.kubernetes.io/restartedAt`,
 * sidecar injectors' status, …): kept, each change would be an event for every consumer.
 */
export const DEFAULT_POD_ANNOTATIONS: readonly string[] = [
  POD_IPS_ANNOTATION,
  "tern.dev/egress-table",
];

/** A kind the source reflects, and how its objects are trimmed. */
export interface KindSpec {
  type: ResourceType;
  /** Keeps only what tern reads of an object (before validation). */
  trim: (object: KubeObject) => Record<string, unknown>;
}

const core = (plural: string, kind: string, namespaced: boolean): ResourceType => ({
  group: "",
  version: "v1",
  plural,
  kind,
  namespaced,
});

/** The pod type, for {@linkcode KubernetesSource.annotatePod}. */
export const POD_TYPE: ResourceType = core("pods", "Pod", true);

/** The kinds tern reads, in the order their first lists are shown. */
export const KUBERNETES_KINDS: readonly KindSpec[] = [
  { type: core("namespaces", "Namespace", false), trim: (o) => ({ metadata: meta(o) }) },
  {
    type: core("nodes", "Node", false),
    // No uid: nothing reads a Node's.
    trim: (o) => ({
      metadata: meta(o, ["name", "labels"]),
      spec: pick(o.spec, ["podCIDR", "podCIDRs"]),
      status: pick(o.status, ["addresses"]),
    }),
  },
  { type: POD_TYPE, trim: (o) => trimPod(o, new Set(DEFAULT_POD_ANNOTATIONS)) },
  { type: core("serviceaccounts", "ServiceAccount", true), trim: (o) => ({ metadata: meta(o) }) },
  {
    type: {
      group: "networking.k8s.io",
      version: "v1",
      plural: "networkpolicies",
      kind: "NetworkPolicy",
      namespaced: true,
    },
    trim: trimPolicy,
  },
  {
    type: {
      group: "vpcresources.k8s.aws",
      version: "v1beta1",
      plural: "securitygrouppolicies",
      kind: "SecurityGroupPolicy",
      namespaced: true,
    },
    trim: trimPolicy,
  },
  {
    type: {
      group: "tern.dev",
      version: "v1alpha1",
      plural: "securitygroups",
      kind: "SecurityGroup",
      namespaced: false,
    },
    trim: trimPolicy,
  },
];

/**
 * What the source keeps of one object: its resourceVersion (the reflector's, which it compares
 * to diff a relist: kept here rather than in a pair of the reflector's own, 40 bytes an object
 * less), its resource (or the last valid one) and its problems.
 */
interface Parsed {
  readonly resourceVersion: string | number;
  resource: Resource | undefined;
  errors: ManifestError[];
}

/** The per-kind status of {@linkcode KubernetesSource.status}. */
export interface KindStatus extends ReflectorStatus {
  /** `apiVersion` of the kind. */
  apiVersion: string;
  /** Objects that tern could not use (each also reported as an `error` event). */
  invalid: number;
  /**
   * 0 while a watch is open (a hung one is noticed by the idle timeout); else the seconds since
   * the server last answered or sent data for this kind; undefined before the first contact.
   */
  staleSeconds?: number;
}

/** The API server refuses tern's credentials (401) or permissions (403) for a kind. */
export class KubernetesAccessError extends Error {
  /** The kind refused (`ServiceAccount`). */
  readonly kind: string;
  /** The server's answer. */
  readonly apiError: ApiError;

  /** The message names the kind, the server, its answer and what to fix. */
  constructor(kind: string, server: string, apiError: ApiError) {
    const fix = apiError.code === 401
      ? "the credentials are not accepted; check the kubeconfig's user or the service-account token"
      : `grant tern's ClusterRole list and watch on ${kind}`;
    super(
      `Cannot list ${kind} from ${server}: ${apiError.code} ${apiError.reason}: ${apiError.serverMessage}: ${fix}`,
    );
    this.name = "KubernetesAccessError";
    this.kind = kind;
    this.apiError = apiError;
  }
}

/** Knobs of {@linkcode KubernetesSource}; every field documents its default. */
export interface KubernetesSourceOptions {
  /** Default the real clock. */
  clock?: Clock;
  /** Uniform in [0, 1), for the reflectors' jitter. Default `Math.random`. */
  random?: () => number;
  /** The kinds reflected. Default {@linkcode KUBERNETES_KINDS}. */
  kinds?: readonly KindSpec[];
  /**
   * The pod annotations kept (the daemon passes the address annotation and the egress binding's
   * annotation); the others are dropped as the pod arrives, so a change of only them is no event.
   * Default {@linkcode DEFAULT_POD_ANNOTATIONS}.
   */
  podAnnotations?: readonly string[];
  /** Passed to every reflector (page size, timeouts, backoff). Default the reflector's defaults. */
  reflector?: Omit<
    ReflectorOptions<Parsed>,
    "transform" | "versionOf" | "onChange" | "onError" | "onReachable" | "clock" | "random"
  >;
  /** Called after each failure of a kind, with the wait before the next attempt (for the daemon's log). */
  onError?: (kind: string, error: unknown, retryInMs: number) => void;
  /** Close the client on `close()`. Default true. */
  ownsClient?: boolean;
  /**
   * `list()` rejects with {@linkcode KubernetesAccessError} while the API server refuses a kind
   * before its first list (401, 403). False: `list()` waits instead, the refusal shows in
   * {@linkcode KubernetesSource.refusal} and `status()`, and the reflectors go on retrying with
   * their backoff (a 401 rereads the token file first): the daemon stays up, not ready, until an
   * operator fixes the RBAC or the credentials, instead of exiting into a restart loop.
   * Default true.
   */
  rejectWhenRefused?: boolean;
  /**
   * More ranges a node allocates pod addresses from, beside its Node's pod CIDRs: its IPAM blocks
   * in `ipam.mode: blocks`, where Nodes carry none. A pod's `tern.dev/pod-ips` is taken only
   * inside these and the pod CIDRs. Default none.
   */
  nodeRanges?: (node: string) => readonly string[];
}

/** A {@linkcode ClusterSource} over the Kubernetes API. */
export class KubernetesSource implements ClusterSource {
  /** `kubernetes:<server>`. */
  readonly name: string;
  /** The API server's URL. */
  readonly server: string;
  /** Resolves once the first list of every kind is in (missing kinds count as listed). */
  readonly synced: Promise<void>;
  readonly #client: KubeClient;
  readonly #clock: Clock;
  readonly #reflectors: Reflector<Parsed>[];
  readonly #firstListFailure = new Map<string, ApiError>();
  readonly #ownsClient: boolean;
  readonly #rejectWhenRefused: boolean;
  #queue = new AsyncQueue<ClusterEvent>();
  #watching = false;
  #listed = false;
  #started = false;
  #closed = false;
  #version = 0;
  #isSynced = false;
  #wake: () => void = () => {};
  readonly #reachableListeners = new Set<() => void>();

  /** Builds the source on `client`; nothing is requested until `start()`, `list()` or `watch()`. */
  constructor(client: KubeClient, options: KubernetesSourceOptions = {}) {
    this.#client = client;
    this.server = client.server;
    this.name = `kubernetes:${client.server}`;
    this.#clock = options.clock ?? realClock;
    this.#ownsClient = options.ownsClient ?? true;
    this.#rejectWhenRefused = options.rejectWhenRefused ?? true;
    const keep = new Set(options.podAnnotations ?? DEFAULT_POD_ANNOTATIONS);
    const pools = podPools();
    const kinds = (options.kinds ?? KUBERNETES_KINDS).map((spec) =>
      spec.type === POD_TYPE ? { ...spec, trim: (o: KubeObject) => trimPod(o, keep) } : spec
    );
    const nodePodCIDRs = (name: string): readonly string[] | undefined => {
      const node = this.#reflectors.find((r) => r.type.kind === "Node")?.get(name)?.resource;
      if (node?.kind !== "Node") return undefined;
      const more = options.nodeRanges?.(name) ?? [];
      return more.length === 0 ? node.podCIDRs : [...node.podCIDRs, ...more];
    };
    this.#reflectors = kinds.map((spec) =>
      new Reflector<Parsed>(client, spec.type, {
        ...options.reflector,
        clock: this.#clock,
        ...(options.random !== undefined ? { random: options.random } : {}),
        transform: (object, resourceVersion) =>
          toParsed(spec, object, resourceVersion, nodePodCIDRs, pools),
        versionOf: (parsed) => parsed.resourceVersion,
        onChange: (changes) => this.#changed(changes),
        onError: (error, retryInMs) => {
          const status = this.#reflectors.find((r) => r.type === spec.type)?.status();
          if (
            status?.synced === false && error instanceof ApiError &&
            (error.code === 401 || error.code === 403)
          ) {
            this.#firstListFailure.set(spec.type.kind, error);
            this.#wake();
          } else {
            this.#firstListFailure.delete(spec.type.kind);
          }
          options.onError?.(spec.type.kind, error, retryInMs);
        },
        // One kind reaching the server again means it is back: the others need not wait out
        // their backoff (up to 30 s after a long outage).
        onReachable: () => {
          for (const r of this.#reflectors) if (r.type !== spec.type) r.retryNow();
          for (const listener of this.#reachableListeners) listener();
        },
      })
    );
    this.synced = Promise.all(this.#reflectors.map((r) => r.synced)).then(() => {
      this.#isSynced = true;
    });
  }

  /** Whether the first list of every kind is in: the daemon is ready only then. */
  get isSynced(): boolean {
    return this.#isSynced;
  }

  /**
   * Starts every reflector (`list()` and `watch()` do it too); pods only once the Nodes are
   * listed, since a pod's `tern.dev/pod-ips` is checked against its Node. Idempotent.
   */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const nodes = this.#reflectors.find((r) => r.type.kind === "Node");
    for (const r of this.#reflectors) {
      if (r.type === POD_TYPE && nodes !== undefined) void nodes.synced.then(() => r.start());
      else r.start();
    }
  }

  /**
   * Everything, once every kind's first list is in. Rejects with {@linkcode KubernetesAccessError}
   * when the API server refuses tern's credentials for a kind before its first list (401, 403): a
   * config error the operator must fix (unless `rejectWhenRefused` is false: then it waits). The
   * reflectors keep trying: `list()` rejects again at once until the kind's next attempt succeeds
   * or fails otherwise.
   */
  async list(): Promise<Snapshot> {
    this.start();
    while (!this.#isSynced) {
      const refused = this.refusal();
      if (refused !== undefined && this.#rejectWhenRefused) throw refused;
      if (this.#closed) throw new Error(`Cannot list ${this.name}: the source is closed`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        void this.synced.then(resolve);
      });
    }
    return this.#snapshot();
  }

  /**
   * The API server's refusal (401, 403) of a kind whose first list is not in yet, while it lasts:
   * the first such kind's. Undefined once every refused kind has listed or failed otherwise.
   */
  refusal(): KubernetesAccessError | undefined {
    for (const [kind, error] of this.#firstListFailure) {
      if (!this.#reflectors.find((r) => r.type.kind === kind)?.status().synced) {
        return new KubernetesAccessError(kind, this.server, error);
      }
    }
    return undefined;
  }

  /** The changes after the last `list()` (listing first if it never ran), until `close()`. */
  async *watch(): AsyncGenerator<ClusterEvent> {
    if (this.#watching) throw new Error(`Cannot watch ${this.name}: it is already being watched`);
    if (this.#closed) return;
    this.#watching = true;
    try {
      if (!this.#listed) await this.list();
      for await (const event of this.#queue) yield event;
    } finally {
      this.#watching = false;
    }
  }

  /**
   * Calls `listener` each time the API server answers again after it could not be reached (so
   * writes that failed meanwhile may be retried now); returns the function that unsubscribes.
   */
  onReachable(listener: () => void): () => void {
    this.#reachableListeners.add(listener);
    return () => this.#reachableListeners.delete(listener);
  }

  /** Stops every reflector and ends the watch. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
    this.#queue.close();
    await Promise.all(this.#reflectors.map((r) => r.stop()));
    if (this.#ownsClient) this.#client.close();
  }

  /** Each kind's state, for `tern status`: synced, missing CRD, staleness, errors, counts. */
  status(): KindStatus[] {
    const now = this.#clock.now();
    return this.#reflectors.map((r) => {
      const status = r.status();
      const out: KindStatus = {
        ...status,
        apiVersion: apiVersionOf(r.type),
        invalid: r.items().filter((p) => p.errors.length > 0).length,
      };
      if (status.watching) out.staleSeconds = 0;
      else if (status.lastContactAt !== undefined) {
        out.staleSeconds = Math.max(0, Math.round((now - status.lastContactAt) / 1000));
      }
      return out;
    });
  }

  /**
   * Publishes a pod's addresses at once (a merge patch of the annotation `tern.dev/pod-ips`), so
   * other nodes see them before kubelet writes `status.podIPs`; no addresses removes it.
   * Throws the client's errors (`ApiError` with `notFound` when the pod is gone).
   */
  async annotatePod(namespace: string, name: string, ips: readonly string[]): Promise<void> {
    await this.#client.patch(POD_TYPE, name, {
      metadata: { annotations: { [POD_IPS_ANNOTATION]: ips.length > 0 ? ips.join(",") : null } },
    }, { namespace });
  }

  #snapshot(): Snapshot {
    this.#listed = true;
    // What is queued is already in the snapshot: the watch continues after it.
    this.#queue.close();
    this.#queue = new AsyncQueue<ClusterEvent>();
    const snapshot: Snapshot = {
      resourceVersion: String(++this.#version),
      nodes: [],
      pods: [],
      namespaces: [],
      nodeEndpoints: [],
      others: [],
      errors: [],
    };
    for (const reflector of this.#reflectors) {
      for (const parsed of reflector.items()) {
        snapshot.errors.push(...parsed.errors);
        const resource = parsed.resource;
        if (resource === undefined) continue;
        if (resource.kind === "Node") snapshot.nodes.push(resource);
        else if (resource.kind === "Pod") snapshot.pods.push(resource);
        else if (resource.kind === "Namespace") snapshot.namespaces.push(resource);
        else if (resource.kind === "NodeEndpoints") snapshot.nodeEndpoints.push(resource);
        else snapshot.others.push(resource);
      }
    }
    return snapshot;
  }

  #changed(changes: ReflectorChange<Parsed>[]): void {
    const events: ClusterEvent[] = [];
    const version = () => String(++this.#version);
    for (const change of changes) {
      const now = change.object;
      const before = change.previous?.resource;
      if (change.type === "deleted") {
        if (now.resource !== undefined) {
          events.push({ type: "deleted", resource: now.resource, resourceVersion: version() });
        }
        continue;
      }
      // A problem is told once, not again with every status update of the same object.
      if (now.errors.length > 0) {
        const told = new Set(change.previous?.errors.map((e) => e.message));
        for (const error of now.errors) {
          if (!told.has(error.message)) events.push({ type: "error", ...error });
        }
      }
      // An object tern cannot use keeps its last valid version, as an invalid manifest edit does.
      if (now.resource === undefined) {
        now.resource = before;
        continue;
      }
      if (before === undefined) {
        events.push({ type: "added", resource: now.resource, resourceVersion: version() });
      } else if (!sameResource(before, now.resource)) {
        events.push({ type: "modified", resource: now.resource, resourceVersion: version() });
      } else {
        now.resource = before; // unchanged for tern: keep the object consumers already hold
      }
    }
    // Before the first list() the snapshot will hold all of it: nothing to queue.
    if (this.#listed) this.#queue.pushAll(events);
  }
}

/** Options of {@linkcode connectKubernetesSource}. */
export interface ConnectOptions extends KubernetesSourceOptions, InClusterOptions {
  /** A kubeconfig path; in-cluster config when not given. */
  kubeconfig?: string | undefined;
  /** The kubeconfig's context; default its current-context. */
  context?: string | undefined;
  /** Passed to the client (timeouts, token check interval). */
  client?: Omit<KubeClientOptions, "clock">;
}

/**
 * Resolves the connection (kubeconfig or in-cluster) and builds the source. Throws
 * `KubeconfigError` naming what to fix; makes no request.
 */
export async function connectKubernetesSource(
  options: ConnectOptions = {},
): Promise<KubernetesSource> {
  const connection = await resolveConnection(options);
  const client = new KubeClient(connection, {
    ...options.client,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
  });
  return new KubernetesSource(client, options);
}

const NO_ERRORS: ManifestError[] = [];

/** An object as tern's resource, or its problems; never throws. */
function toParsed(
  spec: KindSpec,
  object: KubeObject,
  resourceVersion: string | number,
  nodePodCIDRs: (node: string) => readonly string[] | undefined,
  pools: PodPools,
): Parsed {
  const { type } = spec;
  const trimmed = {
    ...spec.trim(object),
    apiVersion: apiVersionOf(type),
    kind: type.kind,
  };
  const name = object.metadata.namespace
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
  const file = `kubernetes:${type.kind} ${name}`;
  const errors: ManifestError[] = [];
  if (type === POD_TYPE) errors.push(...podIpsFallback(trimmed, file, nodePodCIDRs));
  // Nearly every pod is valid: the hand-written checks take it; the schema words the problems.
  const fast = type === POD_TYPE ? validPod(trimmed) : undefined;
  const parsed = fast !== undefined
    ? { resources: [fast], errors: NO_ERRORS }
    : parseManifestObject(trimmed, { file });
  const resource = parsed.resources[0];
  if (resource?.kind === "Pod") compactPod(resource, pools);
  else if (resource?.kind === "Node") compactNode(resource, pools);
  const all = errors.length + parsed.errors.length === 0
    ? NO_ERRORS
    : [...errors, ...parsed.errors];
  return { resourceVersion, resource, errors: all };
}

/**
 * Fills `status.podIPs` from the annotation while kubelet has not written it. The annotation is
 * anyone's who may patch the pod, and a pod that never runs keeps it for ever: it is taken only
 * for a pod scheduled on a Node tern knows, and only when every address is inside that Node's
 * pod CIDRs (or its IPAM blocks, in blocks mode), where tern's daemon on that node allocates. Otherwise the addresses would join the
 * selections the pod's labels match on every node: an external host, a node, another node's
 * pod. An annotation that breaks these rules is reported and ignored; one on a pod whose Node is
 * not known (yet) is ignored quietly, as its Node's event may still be on its way.
 */
function podIpsFallback(
  pod: Record<string, unknown>,
  file: string,
  nodePodCIDRs: (node: string) => readonly string[] | undefined,
): ManifestError[] {
  const status = (pod.status ?? {}) as { podIP?: unknown; podIPs?: unknown[] };
  if (status.podIP !== undefined || (status.podIPs?.length ?? 0) > 0) return [];
  const spec = pod.spec as { hostNetwork?: unknown; nodeName?: unknown } | undefined;
  if (spec?.hostNetwork === true) return [];
  const annotations = (pod.metadata as { annotations?: Record<string, unknown> }).annotations;
  const value = annotations?.[POD_IPS_ANNOTATION];
  if (typeof value !== "string" || value.trim() === "") return [];
  const key = `metadata.annotations.${POD_IPS_ANNOTATION}`;
  const ignored = (why: string): ManifestError[] => [{
    file,
    key,
    value,
    message: `Invalid Pod in ${file}: ${key}: ${why}: ignored until status.podIPs is written`,
  }];
  const ips = value.split(",").map((ip) => ip.trim());
  const bad = ips.find((ip) => !isIpAddress(ip));
  if (bad !== undefined) return ignored(`${JSON.stringify(bad)} is not an IP address`);
  const nodeName = spec?.nodeName;
  if (typeof nodeName !== "string" || nodeName === "") {
    return ignored("the pod is not scheduled on a node, and only its node's daemon writes it");
  }
  const cidrs = nodePodCIDRs(nodeName);
  if (cidrs === undefined) return [];
  const outside = ips.find((ip) => !inAnyCidr(ip, cidrs));
  if (outside !== undefined) {
    return ignored(
      `${JSON.stringify(outside)} is not in the pod CIDRs of Node ${nodeName} (${
        cidrs.join(", ") || "none"
      })`,
    );
  }
  pod.status = { ...status, podIPs: ips.map((ip) => ({ ip })) };
  return [];
}

/** Whether IPv4 `ip` is inside one of the IPv4 `cidrs` (tern allocates IPv4 only). */
function inAnyCidr(ip: string, cidrs: readonly string[]): boolean {
  if (!isIp(ip)) return false;
  const n = parseIp(ip);
  return cidrs.some((text) => {
    try {
      return contains(parseCidr(text, { strict: false }), n);
    } catch {
      return false; // IPv6, or not a CIDR
    }
  });
}

function isIpAddress(text: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text.split(".").every((o) => Number(o) <= 255);
  if (!text.includes(":") || /[^0-9a-fA-F:.]/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/** `metadata` without what tern never reads (managedFields, kubectl's last-applied copy, …). */
function meta(
  object: KubeObject,
  keys: readonly ("name" | "namespace" | "uid" | "labels")[] = [
    "name",
    "namespace",
    "uid",
    "labels",
  ],
): Record<string, unknown> {
  const m = object.metadata;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (m[key] !== undefined && m[key] !== null) out[key] = m[key];
  }
  return out;
}

function metaWithAnnotations(object: KubeObject): Record<string, unknown> {
  const out = meta(object);
  const annotations = object.metadata.annotations;
  if (annotations !== undefined && annotations !== null) {
    const { [LAST_APPLIED]: _, ...rest } = annotations;
    out.annotations = rest;
  }
  return out;
}

function pick(value: unknown, keys: readonly string[]): Record<string, unknown> | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const from = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

function trimPod(object: KubeObject, keep: ReadonlySet<string>): Record<string, unknown> {
  const spec =
    pick(object.spec, ["nodeName", "serviceAccountName", "serviceAccount", "hostNetwork"]) ??
      {};
  const containers = (object.spec as { containers?: unknown } | undefined)?.containers;
  if (Array.isArray(containers)) {
    spec.containers = containers.map((c) => pick(c, ["name", "ports"]) ?? c);
  }
  // No uid: nothing reads a pod's, and 150 000 of them are ~9 MiB. A pod deleted and made again
  // under its name between two lists shows as modified in what tern reads, or not at all.
  const metadata = meta(object, ["name", "namespace", "labels"]);
  const annotations = object.metadata.annotations;
  if (annotations !== undefined && annotations !== null) {
    const kept: Record<string, unknown> = {};
    for (const key of keep) if (annotations[key] !== undefined) kept[key] = annotations[key];
    metadata.annotations = kept;
  }
  return {
    metadata,
    spec,
    status: pick(object.status, ["phase", "podIP", "podIPs"]),
  };
}

/** A policy: metadata trimmed, `spec` whole (the policy schemas read all of it), no `status`. */
function trimPolicy(object: KubeObject): Record<string, unknown> {
  const out: Record<string, unknown> = { metadata: metaWithAnnotations(object) };
  if (object.spec !== undefined) out.spec = object.spec;
  return out;
}

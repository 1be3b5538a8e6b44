/**
 * The endpoints this node has programmed, in memory: what the reconciler computes host routes
 * and rules from, and what the node publishes for its peers. The host dataplane registers an
 * endpoint *before* it touches the kernel and forgets it *before* it tears the kernel side
 * down, so a reconciler pass that lists the kernel first and reads this registry second never
 * sees a route of an endpoint it does not know (and never deletes one being programmed).
 * Listeners are told after every change, synchronously, with the endpoint before and after it
 * (so that one whose own work already settled the change can skip it); they only mark work dirty.
 * Each entry remembers when it last changed, so that a check of the pod side leaves alone an
 * endpoint whose ADD is still setting it up (the plugin does the pod side after the daemon answers).
 * It also counts the endpoints of each pod, so that "is this pod one of the node's?" — asked of
 * every Pod change in the cluster, a thousand a second on a large one — is one map lookup.
 * @module
 */
import type { AttachmentId, Endpoint } from "./api.ts";

/** A programmed endpoint, reduced to what routing and publication read. */
export interface LocalEndpoint {
  containerID: string;
  ifname: string;
  ip: string;
  hostVeth: string;
  /** Path of the pod's network namespace (the daemon checks the pod side there). */
  netns?: string;
  podNamespace?: string;
  podName?: string;
}

/**
 * One change of the registry: the endpoint as it was (`before`, absent when it is new) and as it
 * is (`after`, absent when it was removed).
 */
export interface EndpointChange {
  before?: LocalEndpoint;
  after?: LocalEndpoint;
}

/** Told of each change; `change` is undefined when many endpoints changed at once (a load). */
export type EndpointListener = (change: EndpointChange | undefined) => void;

function key(id: AttachmentId): string {
  return `${id.containerID}\0${id.ifname}`;
}

/** Reduces an endpoint record to a {@linkcode LocalEndpoint}. */
export function toLocalEndpoint(ep: Endpoint): LocalEndpoint {
  const local: LocalEndpoint = {
    containerID: ep.containerID,
    ifname: ep.ifname,
    ip: ep.ip,
    hostVeth: ep.hostVeth,
  };
  if (ep.netns !== "") local.netns = ep.netns;
  if (ep.podNamespace !== undefined) local.podNamespace = ep.podNamespace;
  if (ep.podName !== undefined) local.podName = ep.podName;
  return local;
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function same(a: LocalEndpoint, b: LocalEndpoint): boolean {
  return a.ip === b.ip && a.hostVeth === b.hostVeth && a.netns === b.netns &&
    a.podNamespace === b.podNamespace &&
    a.podName === b.podName;
}

/** The registry. */
export class LocalEndpoints {
  readonly #byId = new Map<string, LocalEndpoint>();
  readonly #changedAt = new Map<string, number>();
  /** Endpoints of each pod (namespace/name); a pod may have several attachments. */
  readonly #perPod = new Map<string, number>();
  readonly #listeners = new Set<EndpointListener>();
  readonly #now: () => number;
  #version = 0;

  /** `options.now` stamps each change (ms); default `Date.now`. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Increases with every change; equal versions mean equal contents. */
  get version(): number {
    return this.#version;
  }

  /** How many endpoints are registered. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Registers every `programmed` endpoint of `endpoints` (the KV state at start-up); they count as
   * settled long ago ({@linkcode LocalEndpoints.changedAt} is 0).
   */
  load(endpoints: readonly Endpoint[]): void {
    let changed = false;
    for (const ep of endpoints) {
      if (ep.state !== "programmed" || ep.hostVeth === "") continue;
      if (this.#set(toLocalEndpoint(ep))) {
        this.#changedAt.set(key(ep), 0);
        changed = true;
      }
    }
    if (changed) this.#changed(undefined);
  }

  /** Registers or updates one endpoint; returns the previous version, if there was one. */
  upsert(ep: LocalEndpoint): LocalEndpoint | undefined {
    const previous = this.#byId.get(key(ep));
    const after = { ...ep };
    if (this.#set(after)) {
      this.#changed(previous === undefined ? { after } : { before: previous, after });
    }
    return previous;
  }

  /** Forgets one endpoint; returns it, or undefined when it was not registered. */
  remove(id: AttachmentId): LocalEndpoint | undefined {
    const previous = this.#byId.get(key(id));
    if (previous === undefined) return undefined;
    this.#byId.delete(key(id));
    this.#changedAt.delete(key(id));
    this.#countPod(previous, -1);
    this.#changed({ before: previous });
    return previous;
  }

  /** The endpoint of an attachment. */
  get(id: AttachmentId): LocalEndpoint | undefined {
    return this.#byId.get(key(id));
  }

  /** When the endpoint of `id` was registered or last changed (ms, the `now` given); 0 if loaded. */
  changedAt(id: AttachmentId): number | undefined {
    return this.#changedAt.get(key(id));
  }

  /** Whether an endpoint of pod `namespace`/`name` is registered (one lookup, not a scan). */
  hasPod(namespace: string, name: string): boolean {
    return this.#perPod.has(podKey(namespace, name));
  }

  /** A copy of every endpoint, in registration order. */
  list(): LocalEndpoint[] {
    return [...this.#byId.values()];
  }

  /** Calls `listener` after every change; returns the function that unsubscribes it. */
  subscribe(listener: EndpointListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(ep: LocalEndpoint): boolean {
    const previous = this.#byId.get(key(ep));
    if (previous !== undefined && same(previous, ep)) return false;
    if (previous !== undefined) this.#countPod(previous, -1);
    this.#byId.set(key(ep), ep);
    this.#countPod(ep, 1);
    this.#changedAt.set(key(ep), this.#now());
    return true;
  }

  #countPod(ep: LocalEndpoint, delta: 1 | -1): void {
    if (ep.podNamespace === undefined || ep.podName === undefined) return;
    const pod = podKey(ep.podNamespace, ep.podName);
    const count = (this.#perPod.get(pod) ?? 0) + delta;
    if (count > 0) this.#perPod.set(pod, count);
    else this.#perPod.delete(pod);
  }

  #changed(change: EndpointChange | undefined): void {
    this.#version++;
    for (const listener of [...this.#listeners]) listener(change);
  }
}

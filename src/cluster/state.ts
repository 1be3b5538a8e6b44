/**
 * The daemon's in-memory picture of the cluster: it applies a source's snapshot and events, keeps
 * indexes for the questions the daemon asks often (the nodes, the pods on its node, a pod by
 * name, a namespace's labels; the pod behind an address is looked for, asked only by `policy
 * explain`) and tells subscribers what changed. Pure: no `Deno.*`, no I/O,
 * no timers; the caller feeds it. Objects returned are the store's own: read them, never mutate.
 * @module
 */
import { podKey, resourceKey } from "./resource_key.ts";
import type {
  ClusterEvent,
  ManifestError,
  Namespace,
  Node,
  NodeEndpoints,
  OtherResource,
  Pod,
  PublishedEndpoint,
  Resource,
  Snapshot,
} from "./types.ts";

/** What a subscriber is told after the store changed. */
export type ClusterChange =
  | {
    type: "added" | "modified" | "deleted";
    /** The new object, or for `deleted` the last one. */
    resource: Resource;
    /** The object before, for `modified`. */
    previous?: Resource;
    resourceVersion: string;
  }
  | { type: "reset"; resourceVersion: string }
  | { type: "error"; error: ManifestError };

/** Called synchronously after each change; must not call back into `apply` or `reset`. */
export type ChangeListener = (change: ClusterChange) => void;

/** A published endpoint and the node that published it. */
export interface EndpointLocation {
  node: string;
  endpoint: PublishedEndpoint;
}

const TERMINATED = new Set(["Succeeded", "Failed"]);

/** Past this many others changed since `others()` was last asked, it sorts them all again. */
const MAX_PATCHED_OTHERS = 256;

/** The store. Create one, `reset()` it with a snapshot, then `apply()` each event. */
export class ClusterState {
  readonly #nodes = new Map<string, Node>();
  /**
   * Namespace → name → pod. Nested, so that no pod has a key string of its own here (the
   * name is the pod's own string): ~56 bytes a pod less than `Pod/<ns>/<name>` keys.
   */
  readonly #pods = new Map<string, Map<string, Pod>>();
  #podCount = 0;
  readonly #namespaces = new Map<string, Namespace>();
  readonly #endpoints = new Map<string, NodeEndpoints>();
  readonly #others = new Map<string, OtherResource>();
  /**
   * The others by key, as `others()` last gave them, with their keys; undefined until asked
   * (and after a reset). Remade from the keys changed since (`#othersChanged`) when asked again:
   * one copy and a binary search per change, not a sort of every key (10 000 NetworkPolicies at
   * kube-scale; each policy change asked for the sort).
   */
  #othersSorted: { keys: string[]; values: readonly OtherResource[] } | undefined;
  readonly #othersChanged = new Set<string>();
  /**
   * Node → its pods: every node's, or only `#node`'s when the store was given one (the daemon
   * asks only about its own node; a set entry per pod of 5 000 nodes is ~3.6 MiB at 150 000).
   */
  readonly #podsByNode = new Map<string, Set<Pod>>();
  readonly #node: string | undefined;
  /** Address → where it was published. */
  readonly #ipByEndpoint = new Map<string, EndpointLocation[]>();
  /** Pod key → addresses published for it. */
  readonly #publishedByPod = new Map<string, Set<string>>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #maxErrors: number;
  #errors: ManifestError[] = [];
  #resourceVersion = "";

  /**
   * `options.maxErrors` (default 100) bounds the list of recent manifest errors kept for status.
   * `options.node` names the one node whose pods are indexed by node (the daemon's own):
   * `podsOnNode()` of another node then looks through every pod. Default: every node's.
   */
  constructor(options: { maxErrors?: number; node?: string } = {}) {
    this.#maxErrors = options.maxErrors ?? 100;
    this.#node = options.node;
  }

  /** The resource version of the last snapshot or event applied; empty before the first. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** Replaces everything with the snapshot and notifies `reset`. */
  reset(snapshot: Snapshot): void {
    this.#nodes.clear();
    this.#pods.clear();
    this.#podCount = 0;
    this.#namespaces.clear();
    this.#endpoints.clear();
    this.#others.clear();
    this.#othersSorted = undefined;
    this.#othersChanged.clear();
    this.#podsByNode.clear();
    this.#ipByEndpoint.clear();
    this.#publishedByPod.clear();
    const all: Resource[] = [
      ...snapshot.nodes,
      ...snapshot.namespaces,
      ...snapshot.pods,
      ...snapshot.nodeEndpoints,
      ...snapshot.others,
    ];
    for (const resource of all) this.#put(resource);
    this.#errors = snapshot.errors.slice(-this.#maxErrors);
    this.#resourceVersion = snapshot.resourceVersion;
    this.#notify({ type: "reset", resourceVersion: snapshot.resourceVersion });
  }

  /**
   * Applies one event from a source and returns the change it made, or undefined when it made
   * none (deleting an object the store does not hold). `added` and `modified` both upsert, so
   * replaying an event is harmless.
   */
  apply(event: ClusterEvent): ClusterChange | undefined {
    if (event.type === "reset") {
      this.reset(event.snapshot);
      return { type: "reset", resourceVersion: event.snapshot.resourceVersion };
    }
    if (event.type === "error") {
      const { type: _, ...error } = event;
      this.#errors.push(error);
      if (this.#errors.length > this.#maxErrors) this.#errors.shift();
      const change: ClusterChange = { type: "error", error };
      this.#notify(change);
      return change;
    }
    this.#resourceVersion = event.resourceVersion;
    let change: ClusterChange;
    if (event.type === "deleted") {
      const last = this.#remove(resourceKey(event.resource));
      if (last === undefined) return undefined;
      change = { type: "deleted", resource: last, resourceVersion: event.resourceVersion };
    } else {
      const previous = this.#remove(resourceKey(event.resource));
      this.#put(event.resource);
      change = previous === undefined
        ? { type: "added", resource: event.resource, resourceVersion: event.resourceVersion }
        : {
          type: "modified",
          resource: event.resource,
          previous,
          resourceVersion: event.resourceVersion,
        };
    }
    this.#notify(change);
    return change;
  }

  /** Calls `listener` after every change; returns the function that unsubscribes it. */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** All nodes, by name. */
  nodes(): Node[] {
    return sortedValues(this.#nodes);
  }

  /** The node called `name`. */
  node(name: string): Node | undefined {
    return this.#nodes.get(name);
  }

  /** All pods, by namespace then name. */
  pods(): Pod[] {
    const out = new Array<Pod>(this.#podCount);
    let i = 0;
    // In the order of their keys (`Pod/<ns>/<name>`), as before the index was nested.
    const namespaces = [...this.#pods.keys()].sort((a, b) => compareKeys(`${a}/`, `${b}/`));
    for (const namespace of namespaces) {
      for (const pod of sortedValues(this.#pods.get(namespace)!)) out[i++] = pod;
    }
    return out;
  }

  /** How many pods the store holds. */
  get podCount(): number {
    return this.#podCount;
  }

  /** The pod `namespace/name`. */
  pod(namespace: string, name: string): Pod | undefined {
    return this.#pods.get(namespace)?.get(name);
  }

  /** The pods scheduled on node `name`, by namespace then name. */
  podsOnNode(name: string): Pod[] {
    if (this.#node === undefined || name === this.#node) {
      return [...(this.#podsByNode.get(name) ?? [])].sort(byKey);
    }
    const out: Pod[] = [];
    for (const names of this.#pods.values()) {
      for (const pod of names.values()) if (pod.nodeName === name) out.push(pod);
    }
    return out.sort(byKey);
  }

  /**
   * The pod that holds `ip`, from the pod's `status.podIPs` or from the endpoints its node
   * published. Host-network pods are never returned (they share their node's address). When
   * several claim the address, a pod that is not terminated wins, then the one its node
   * published, then the first by name.
   */
  podByIp(ip: string): Pod | undefined {
    const published = new Set<string>();
    for (const { endpoint } of this.#ipByEndpoint.get(ip) ?? []) {
      const owner = endpointPodKey(endpoint);
      if (owner !== undefined) published.add(owner);
    }
    // Asked only by `policy explain`, an operator's question: a look through every pod (~ms at
    // 150 000), not an index of every pod's address (a map of 150 000 entries: ~7 MiB).
    const claims = new Set<Pod>();
    for (const names of this.#pods.values()) {
      for (const pod of names.values()) if (pod.podIPs.includes(ip)) claims.add(pod);
    }
    for (const { endpoint } of this.#ipByEndpoint.get(ip) ?? []) {
      if (endpoint.podNamespace === undefined || endpoint.podName === undefined) continue;
      const pod = this.pod(endpoint.podNamespace, endpoint.podName);
      if (pod !== undefined) claims.add(pod);
    }
    const candidates = [...claims].filter((pod) => !pod.hostNetwork);
    const rank = (pod: Pod) =>
      (TERMINATED.has(pod.phase ?? "") ? 2 : 0) +
      (published.has(podKey(pod.namespace, pod.name)) ? 0 : 1);
    candidates.sort((a, b) => rank(a) - rank(b) || byKey(a, b));
    return candidates[0];
  }

  /** The addresses of a pod: its `status.podIPs`, then any published for it, without repeats. */
  podIPs(pod: Pod): string[] {
    // Asked for every pod by every policy run: no key, no set, for the usual pod (one address,
    // nothing published, which is every pod with the kubernetes source).
    const published = this.#publishedByPod.size > 0
      ? this.#publishedByPod.get(podKey(pod.namespace, pod.name))
      : undefined;
    if (published === undefined && pod.podIPs.length <= 1) return [...pod.podIPs];
    return [...new Set([...pod.podIPs, ...(published ?? [])])];
  }

  /** Where `ip` was published (node and endpoint), the first by node name when several did. */
  endpointByIp(ip: string): EndpointLocation | undefined {
    return this.#ipByEndpoint.get(ip)?.[0];
  }

  /** All namespaces, by name. */
  namespaces(): Namespace[] {
    return sortedValues(this.#namespaces);
  }

  /** The namespace called `name`. */
  namespace(name: string): Namespace | undefined {
    return this.#namespaces.get(name);
  }

  /** Every node's published endpoints, by node name. */
  nodeEndpoints(): NodeEndpoints[] {
    return sortedValues(this.#endpoints);
  }

  /**
   * Resources kept aside, by key; `filter` narrows them by `apiVersion` and/or kind. Without a
   * filter the list is the store's own, the same array until an other changes (read it, never
   * mutate it).
   */
  others(filter: { apiVersion?: string; kind?: string } = {}): readonly OtherResource[] {
    const all = this.#sortedOthers();
    if (filter.apiVersion === undefined && filter.kind === undefined) return all;
    return all.filter((o) =>
      (filter.apiVersion === undefined || o.apiVersion === filter.apiVersion) &&
      (filter.kind === undefined || o.resourceKind === filter.kind)
    );
  }

  #sortedOthers(): readonly OtherResource[] {
    const sorted = this.#othersSorted;
    const changed = this.#othersChanged;
    if (sorted !== undefined && changed.size === 0) return sorted.values;
    if (sorted === undefined || changed.size > MAX_PATCHED_OTHERS) {
      const keys = [...this.#others.keys()].sort(compareKeys);
      const values = keys.map((key) => this.#others.get(key)!);
      this.#othersSorted = { keys, values };
    } else {
      // The keys are this store's alone: changed in place. The values were handed out: a copy.
      const { keys } = sorted;
      const values = sorted.values.slice();
      for (const key of changed) {
        const at = lowerBound(keys, key);
        const present = keys[at] === key;
        const now = this.#others.get(key);
        if (present && now !== undefined) values[at] = now;
        else if (present) {
          keys.splice(at, 1);
          values.splice(at, 1);
        } else if (now !== undefined) {
          keys.splice(at, 0, key);
          values.splice(at, 0, now);
        }
      }
      this.#othersSorted = { keys, values };
    }
    changed.clear();
    return this.#othersSorted.values;
  }

  /** The most recent manifest errors, oldest first. */
  errors(): ManifestError[] {
    return [...this.#errors];
  }

  /** Everything the store holds, as a snapshot. */
  snapshot(): Snapshot {
    return {
      resourceVersion: this.#resourceVersion,
      nodes: this.nodes(),
      pods: this.pods(),
      namespaces: this.namespaces(),
      nodeEndpoints: this.nodeEndpoints(),
      others: [...this.others()],
      errors: this.errors(),
    };
  }

  #put(resource: Resource): void {
    const key = resourceKey(resource);
    switch (resource.kind) {
      case "Node":
        this.#nodes.set(resource.name, resource);
        return;
      case "Namespace":
        this.#namespaces.set(resource.name, resource);
        return;
      case "Other":
        this.#others.set(key, resource);
        if (this.#othersSorted !== undefined) this.#othersChanged.add(key);
        return;
      case "Pod": {
        let names = this.#pods.get(resource.namespace);
        if (names === undefined) this.#pods.set(resource.namespace, names = new Map());
        const old = names.get(resource.name);
        if (old !== undefined) this.#unindexPod(old);
        else this.#podCount++;
        names.set(resource.name, resource);
        if (this.#indexedOnNode(resource)) addTo(this.#podsByNode, resource.nodeName!, resource);
        return;
      }
      case "NodeEndpoints":
        this.#endpoints.set(resource.node, resource);
        for (const endpoint of resource.endpoints) {
          const list = this.#ipByEndpoint.get(endpoint.ip) ?? [];
          list.push({ node: resource.node, endpoint });
          list.sort((a, b) => compareKeys(a.node, b.node));
          this.#ipByEndpoint.set(endpoint.ip, list);
          const owner = endpointPodKey(endpoint);
          if (owner !== undefined) addTo(this.#publishedByPod, owner, endpoint.ip);
        }
        return;
    }
  }

  /** Removes the resource with `key` from every index; returns it, or undefined. */
  #remove(key: string): Resource | undefined {
    const [kind] = key.split("/", 1);
    if (kind === "Node") return take(this.#nodes, key.slice("Node/".length));
    if (kind === "Namespace") return take(this.#namespaces, key.slice("Namespace/".length));
    if (kind === "Pod") {
      const [, namespace, name] = key.split("/", 3) as [string, string, string];
      const names = this.#pods.get(namespace);
      const pod = names?.get(name);
      if (pod === undefined) return undefined;
      names!.delete(name);
      if (names!.size === 0) this.#pods.delete(namespace);
      this.#podCount--;
      this.#unindexPod(pod);
      return pod;
    }
    if (kind === "NodeEndpoints") {
      const published = take(this.#endpoints, key.slice("NodeEndpoints/".length));
      if (published === undefined) return undefined;
      for (const endpoint of published.endpoints) {
        const list = (this.#ipByEndpoint.get(endpoint.ip) ?? []).filter((l) =>
          l.node !== published.node
        );
        if (list.length === 0) this.#ipByEndpoint.delete(endpoint.ip);
        else this.#ipByEndpoint.set(endpoint.ip, list);
        const owner = endpointPodKey(endpoint);
        // Another node may publish the same pod and address (a stale file); keep it then.
        if (owner !== undefined && !list.some((l) => endpointPodKey(l.endpoint) === owner)) {
          removeFrom(this.#publishedByPod, owner, endpoint.ip);
        }
      }
      return published;
    }
    const other = take(this.#others, key);
    if (other !== undefined && this.#othersSorted !== undefined) this.#othersChanged.add(key);
    return other;
  }

  /** Removes `pod` from the index by node (not from the pods). */
  #unindexPod(pod: Pod): void {
    if (this.#indexedOnNode(pod)) removeFrom(this.#podsByNode, pod.nodeName!, pod);
  }

  /** Whether `pod` is in the index by node. */
  #indexedOnNode(pod: Pod): boolean {
    return pod.nodeName !== undefined && (this.#node === undefined || pod.nodeName === this.#node);
  }

  #notify(change: ClusterChange): void {
    const failures: unknown[] = [];
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `Cluster state listeners failed: ${failures.length}`);
    }
  }
}

function endpointPodKey(endpoint: PublishedEndpoint): string | undefined {
  return endpoint.podNamespace !== undefined && endpoint.podName !== undefined
    ? podKey(endpoint.podNamespace, endpoint.podName)
    : undefined;
}

function sortedValues<T>(map: Map<string, T>): T[] {
  return [...map.keys()].sort(compareKeys).map((key) => map.get(key)!);
}

/** The index of the first of sorted `keys` that is `key` or after it. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function take<T>(map: Map<string, T>, key: string): T | undefined {
  const value = map.get(key);
  map.delete(key);
  return value;
}

function addTo<T>(index: Map<string, Set<T>>, at: string, key: T): void {
  const set = index.get(at) ?? new Set<T>();
  set.add(key);
  index.set(at, set);
}

function removeFrom<T>(index: Map<string, Set<T>>, at: string, key: T): void {
  const set = index.get(at);
  if (set === undefined) return;
  set.delete(key);
  if (set.size === 0) index.delete(at);
}

/** Pods in the order of their keys: namespace, then name. */
function byKey(a: Pod, b: Pod): number {
  return a.namespace === b.namespace
    ? compareKeys(a.name, b.name)
    : compareKeys(`${a.namespace}/`, `${b.namespace}/`);
}

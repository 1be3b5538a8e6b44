/**
 * What the `kubernetes` source shares between the pods it keeps: at 150 000 pods every byte a pod
 * holds is ~143 KiB of ternd's heap, and most of a pod repeats other pods. Repeated strings
 * (namespace, node, label values, container and port names) are kept once ({@linkcode StringPool}:
 * `JSON.parse` makes a new copy of each value); the containers of pods made from one template are
 * one frozen list shared by all of them ({@linkcode SharedValues}: ~300 bytes a pod); a pod with no
 * kept annotation shares one frozen empty object. Labels stay the object `JSON.parse` made (it
 * holds its properties in the object, ~25 bytes less than a copy built key by key), with pooled
 * values. docs/benchmarks.md, "What the daemon keeps per pod", has the measurements and what was
 * rejected. Pure but for the pools.
 * @module
 */
import type { Container, Node, Pod } from "./types.ts";

/**
 * One copy of each repeated string: JSON.parse makes a new string for every value, so 150 000
 * pods hold 150 000 copies of `team-000`, of each node's name and of each label value. A string
 * is pooled only when it comes again: its first copy waits among the strings seen once, and the
 * pool takes that copy at the second sighting. A value only one pod holds (every
 * `pod-template-hash` at kube-scale, where each pod has a ReplicaSet of its own) never costs a
 * pool entry (~50 bytes in a map of 150 000); the replicas of a real ReplicaSet still share
 * theirs. (A pool that forgets the strings nobody holds cannot be written: a string cannot be
 * held weakly.) Bounded: past `max` distinct strings the pool starts afresh (what is already
 * shared stays shared); the strings seen once are kept in two generations of `window` each, so
 * a string is remembered for at least `window` newer ones and at most twice that.
 */
export class StringPool {
  #pool = new Map<string, string>();
  #seenOnce = new Map<string, string>();
  #seenBefore = new Map<string, string>();
  readonly #max: number;
  readonly #window: number;

  /**
   * A pool of at most `max` strings (default 200 000), remembering the last `window` to twice
   * `window` strings seen once (default 4 096: a repeated value, a node's name among 5 000, is
   * seen twice within a few windows and pooled then; the pods before keep their own copies).
   */
  constructor(max = 200_000, window = 4_096) {
    this.#max = max;
    this.#window = window;
  }

  /** The pooled copy of `text`, or `text` itself while it has been seen once. */
  get(text: string): string {
    const pooled = this.#pool.get(text);
    if (pooled !== undefined) return pooled;
    const first = this.#seenOnce.get(text) ?? this.#seenBefore.get(text);
    if (first === undefined) {
      if (this.#seenOnce.size >= this.#window) {
        this.#seenBefore = this.#seenOnce;
        this.#seenOnce = new Map();
      }
      this.#seenOnce.set(text, text);
      return text;
    }
    if (!this.#seenOnce.delete(text)) this.#seenBefore.delete(text);
    if (this.#pool.size >= this.#max) this.#pool = new Map();
    this.#pool.set(first, first);
    return first;
  }

  /** Distinct strings pooled (seen at least twice). */
  get size(): number {
    return this.#pool.size;
  }

  /** Strings remembered as seen once so far. */
  get waiting(): number {
    return this.#seenOnce.size + this.#seenBefore.size;
  }
}

/**
 * One shared, frozen copy of each distinct value, found by a content key the caller computes.
 * Bounded as {@linkcode StringPool} is: past `max` distinct values it starts afresh.
 */
export class SharedValues<T> {
  #pool = new Map<string, T>();
  readonly #max: number;

  /** A pool of at most `max` values (default 10 000). */
  constructor(max = 10_000) {
    this.#max = max;
  }

  /** The shared value whose content key is `key`; `value` (deep-frozen by the caller) when new. */
  get(key: string, value: T): T {
    const shared = this.#pool.get(key);
    if (shared !== undefined) return shared;
    if (this.#pool.size >= this.#max) this.#pool = new Map();
    this.#pool.set(key, value);
    return value;
  }

  /** Distinct values held. */
  get size(): number {
    return this.#pool.size;
  }
}

/** The pools one source shares between its pods. */
export interface PodPools {
  strings: StringPool;
  containers: SharedValues<Container[]>;
}

/** Fresh pools with their default bounds. */
export function podPools(): PodPools {
  return { strings: new StringPool(), containers: new SharedValues() };
}

const NO_ANNOTATIONS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Shares what a pod repeats with the others (pure but for the pools): its strings, its
 * containers (frozen: a consumer that tried to change them would throw) and one frozen empty
 * annotations object. The pod is fresh from parsing, not yet handed out; its labels object is
 * its own (its values are replaced by their pooled copies in place).
 */
export function compactPod(pod: Pod, pools: PodPools): void {
  const { strings } = pools;
  pod.namespace = strings.get(pod.namespace);
  pod.serviceAccountName = strings.get(pod.serviceAccountName);
  if (pod.nodeName !== undefined) pod.nodeName = strings.get(pod.nodeName);
  if (pod.phase !== undefined) pod.phase = strings.get(pod.phase);
  const labels = pod.labels;
  for (const key in labels) {
    if (Object.hasOwn(labels, key)) labels[key] = strings.get(labels[key]!);
  }
  if (Object.keys(pod.annotations).length === 0) pod.annotations = NO_ANNOTATIONS;
  pod.containers = pools.containers.get(JSON.stringify(pod.containers), pod.containers);
  if (!Object.isFrozen(pod.containers)) {
    for (const container of pod.containers) {
      container.name = strings.get(container.name);
      for (const port of container.ports) {
        if (port.name !== undefined) port.name = strings.get(port.name);
        Object.freeze(port);
      }
      Object.freeze(container.ports);
      Object.freeze(container);
    }
    Object.freeze(pod.containers);
  }
}

/**
 * Shares a Node's repeated strings with the other Nodes' and pods' (pure but for the pool): its
 * label values (arch, OS, instance type, region, zone: the same on most nodes; the hostname
 * label is the node's name) and its address types. The Node is fresh from parsing.
 */
export function compactNode(node: Node, pools: PodPools): void {
  const { strings } = pools;
  node.name = strings.get(node.name);
  const labels = node.labels;
  for (const key in labels) {
    if (Object.hasOwn(labels, key)) labels[key] = strings.get(labels[key]!);
  }
  for (const address of node.addresses) address.type = strings.get(address.type);
}

/**
 * Which cluster changes can change the policy this node compiles, so that the daemon does not
 * recompile for the changes that most often churn a large cluster: a pod's label that no selector
 * reads (`version`, `pod-template-hash`, a rollout's stamp), its annotations (policy reads none).
 * A pod's other fields (identity, addresses, phase, node, service account, container ports) and
 * every other kind always count. The label keys that count are those any `matchLabels` or
 * `matchExpressions` of any policy resource names ({@linkcode selectorLabelKeys}), recomputed
 * when a policy resource changes ({@linkcode PolicyLabelKeys}). Pure, apart from that cache.
 * @module
 */
import type { ClusterChange } from "../../src/cluster/state.ts";
import type { OtherResource, Pod } from "../../src/cluster/types.ts";
import { SharedParts } from "../../src/lib/shared_parts.ts";

/** The label keys that selectors anywhere in `resources` read (pure). */
export function selectorLabelKeys(resources: Iterable<OtherResource>): Set<string> {
  const keys = new Set<string>();
  for (const resource of resources) for (const key of keysOf(resource)) keys.add(key);
  return keys;
}

/**
 * Each object's keys, found once: after a policy change the keys are gathered again from every
 * policy (10 000 at kube-scale), which walking every object's JSON made tens of milliseconds.
 * Policies name the same few keys: the lists are shared (one frozen list per distinct list).
 */
const keysByResource = new WeakMap<OtherResource, readonly string[]>();
const keyLists = new SharedParts(1_000);

function keysOf(resource: OtherResource): readonly string[] {
  let found = keysByResource.get(resource);
  if (found === undefined) {
    found = keyLists.share([...walkLabelKeys(resource)]);
    keysByResource.set(resource, found);
  }
  return found;
}

function walkLabelKeys(resource: OtherResource): Set<string> {
  const keys = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const [field, inner] of Object.entries(value)) {
      if (field === "matchLabels" && inner !== null && typeof inner === "object") {
        for (const key of Object.keys(inner)) keys.add(key);
      } else if (field === "matchExpressions" && Array.isArray(inner)) {
        for (const req of inner) {
          const key = (req as { key?: unknown } | null)?.key;
          if (typeof key === "string") keys.add(key);
        }
      } else walk(inner);
    }
  };
  walk(resource.raw);
  return keys;
}

/**
 * Whether `change` can change the compiled policy (pure): false only for an error, and for a
 * pod modified in nothing but its annotations and labels whose keys are not in `labelKeys`.
 */
export function affectsPolicy(
  change: ClusterChange,
  labelKeys: () => ReadonlySet<string>,
): boolean {
  if (change.type === "error") return false;
  if (change.type !== "modified") return true;
  const { resource: now, previous: before } = change;
  if (now.kind !== "Pod" || before?.kind !== "Pod") return true;
  return !samePolicyInputs(before, now, labelKeys);
}

function samePolicyInputs(a: Pod, b: Pod, labelKeys: () => ReadonlySet<string>): boolean {
  if (
    a.namespace !== b.namespace || a.name !== b.name || a.uid !== b.uid ||
    a.serviceAccountName !== b.serviceAccountName || a.nodeName !== b.nodeName ||
    a.hostNetwork !== b.hostNetwork || a.phase !== b.phase ||
    a.podIPs.join(",") !== b.podIPs.join(",") ||
    (a.containers !== b.containers && JSON.stringify(a.containers) !== JSON.stringify(b.containers))
  ) {
    return false;
  }
  const keys = new Set([...Object.keys(a.labels), ...Object.keys(b.labels)]);
  let read: ReadonlySet<string> | undefined;
  for (const key of keys) {
    if (a.labels[key] === b.labels[key]) continue;
    read ??= labelKeys();
    if (read.has(key)) return false;
  }
  return true;
}

/**
 * The label keys of {@linkcode selectorLabelKeys} over some states, counted per object and kept up
 * to date from each change: after a policy change the next pod event needs the keys, and reading
 * them again from 10 000 policies (and the states' sorted lists of them) cost it ~15 ms.
 */
export class PolicyLabelKeys {
  readonly #sources: (() => Iterable<OtherResource>)[];
  /** Key → how many objects name it; undefined: read every object on next use. */
  #counts: Map<string, number> | undefined;
  #keys = new Set<string>();

  /** `sources` list the policy resources (the cluster state's and `policy.dir`'s others). */
  constructor(sources: (() => Iterable<OtherResource>)[]) {
    this.#sources = sources;
  }

  /** The keys (a set kept up to date: read it, do not keep it). */
  keys(): ReadonlySet<string> {
    if (this.#counts === undefined) {
      this.#counts = new Map();
      this.#keys = new Set();
      for (const source of this.#sources) for (const other of source()) this.#count(other, +1);
    }
    return this.#keys;
  }

  /** Follows a change of one of the sources: an object of a kind other than Pod counts. */
  observe(change: ClusterChange): void {
    if (change.type === "error" || this.#counts === undefined) return;
    if (change.type === "reset") {
      this.#counts = undefined;
      return;
    }
    const { resource, previous } = change;
    if (previous?.kind === "Other") this.#count(previous, -1);
    else if (change.type === "modified" && resource.kind === "Other") {
      // A modification without the object before: its keys cannot be taken away.
      this.#counts = undefined;
      return;
    }
    if (resource.kind === "Other") this.#count(resource, change.type === "deleted" ? -1 : +1);
  }

  #count(other: OtherResource, sign: 1 | -1): void {
    const counts = this.#counts!;
    for (const key of keysOf(other)) {
      const count = (counts.get(key) ?? 0) + sign;
      if (count > 0) {
        counts.set(key, count);
        this.#keys.add(key);
      } else {
        counts.delete(key);
        this.#keys.delete(key);
      }
    }
  }
}

/**
 * The one way the sandbox, its tests, the demo and the benchmarks write cluster objects (Nodes,
 * Pods, Namespaces, policies): {@linkcode ClusterObjects}, whatever the daemons' cluster source
 * is. `cluster_objects_files.ts` keeps them as manifests in a directory (the `files` source);
 * `cluster_objects_kube.ts` writes them to an API server (the `kubernetes` source). A fixture
 * written against this interface runs unchanged on both.
 * @module
 */

/** A Kubernetes-style object: `apiVersion`, `kind`, `metadata.name` (and namespace), the rest. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** What names one object: its type and its name (a namespace for namespaced kinds). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
}

/** Writes cluster objects where the daemons learn them from. */
export interface ClusterObjects {
  /**
   * Creates `obj`, or replaces the one of that name (its spec, labels and annotations; its
   * status too when given, as the component that owns the status would write it).
   */
  apply(obj: KubeObject): Promise<void>;
  /** Deletes the object; one already gone is fine. */
  remove(ref: ObjectRef): Promise<void>;
}

/** The reference of `obj` (pure). */
export function refOf(obj: KubeObject): ObjectRef {
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    ...(obj.metadata.namespace !== undefined ? { namespace: obj.metadata.namespace } : {}),
    name: obj.metadata.name,
  };
}

/** `Kind ns/name` (or `Kind name`), for messages (pure). */
export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace !== undefined ? `${ref.namespace}/` : ""}${ref.name}`;
}

/**
 * `value` checked to be one object with `apiVersion`, `kind` and `metadata.name` (not a `List`:
 * give its items one by one). Throws a `TypeError` naming what is missing.
 */
export function asKubeObject(value: Record<string, unknown>): KubeObject {
  const metadata = value.metadata as Record<string, unknown> | undefined;
  if (typeof value.apiVersion !== "string" || typeof value.kind !== "string") {
    throw new TypeError(
      `Cannot write a cluster object without apiVersion and kind: got ${
        JSON.stringify(value).slice(0, 120)
      }`,
    );
  }
  if (value.kind === "List" || value.kind.endsWith("List")) {
    throw new TypeError(`Cannot write a ${value.kind} as one object: apply its items one by one`);
  }
  if (typeof metadata?.name !== "string" || metadata.name === "") {
    throw new TypeError(`Cannot write a ${value.kind} without metadata.name`);
  }
  return value as KubeObject;
}

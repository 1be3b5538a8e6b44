/**
 * The identity of a resource, as one string: what a source diffs by and what the state store
 * indexes by. Pods and other namespaced objects are keyed by namespace and name, as the API
 * server keys them; a pod that is deleted and recreated under the same name keeps its key and
 * arrives as `modified` with a new uid.
 * @module
 */
import type { Resource } from "./types.ts";

/** `Node/<name>`, `Pod/<ns>/<name>`, `Namespace/<name>`, `NodeEndpoints/<node>`, `other:<apiVersion>/<kind>/<ns>/<name>`. */
export function resourceKey(resource: Resource): string {
  switch (resource.kind) {
    case "Node":
      return `Node/${resource.name}`;
    case "Pod":
      return podKey(resource.namespace, resource.name);
    case "Namespace":
      return `Namespace/${resource.name}`;
    case "NodeEndpoints":
      return `NodeEndpoints/${resource.node}`;
    case "Other":
      return otherKey({
        apiVersion: resource.apiVersion,
        kind: resource.resourceKind,
        namespace: resource.namespace,
        name: resource.name,
      });
  }
}

/** The key of the pod `namespace/name`. */
export function podKey(namespace: string, name: string): string {
  return `Pod/${namespace}/${name}`;
}

/** The key of a resource tern keeps aside; cluster-scoped objects have no namespace. */
export function otherKey(
  ref: { apiVersion: string; kind: string; namespace?: string | undefined; name: string },
): string {
  return `other:${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

/**
 * A {@linkcode Snapshot} from a flat list of resources: each sorted into its kind's list, in the
 * order given. Every source that lists resources (and every test that builds a cluster) sorts
 * them the same way. Pure.
 * @module
 */
import type { ManifestError, Resource, Snapshot } from "./types.ts";

/** The snapshot at `options.resourceVersion` holding `resources` and `options.errors` (default none). */
export function snapshotOf(
  resources: Iterable<Resource>,
  options: { resourceVersion: string; errors?: ManifestError[] },
): Snapshot {
  const snapshot: Snapshot = {
    resourceVersion: options.resourceVersion,
    nodes: [],
    pods: [],
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: options.errors ?? [],
  };
  for (const resource of resources) {
    switch (resource.kind) {
      case "Node":
        snapshot.nodes.push(resource);
        break;
      case "Pod":
        snapshot.pods.push(resource);
        break;
      case "Namespace":
        snapshot.namespaces.push(resource);
        break;
      case "NodeEndpoints":
        snapshot.nodeEndpoints.push(resource);
        break;
      case "Other":
        snapshot.others.push(resource);
    }
  }
  return snapshot;
}

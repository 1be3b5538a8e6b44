/**
 * Which cluster changes matter to this node, so that the daemon marks only the work they touch
 * as dirty: routing cares about every Node and about the Pods of this node (their labels and
 * annotations bind them to egress tables); the endpoints publisher cares about its own
 * NodeEndpoints object being changed or removed by someone else. Pure.
 * @module
 */
import type { ClusterChange } from "../../src/cluster/state.ts";
import type { Pod } from "../../src/cluster/types.ts";

/**
 * Whether `change` can change this node's desired routes or rules. `options.isLocalPod` says
 * whether a pod without `spec.nodeName` is one of the node's endpoints.
 */
export function affectsRouting(
  change: ClusterChange,
  options: { nodeName: string; isLocalPod: (namespace: string, name: string) => boolean },
): boolean {
  if (change.type === "reset") return true;
  if (change.type === "error") return false;
  const { resource, previous } = change;
  if (resource.kind === "Node") return true;
  if (resource.kind !== "Pod") return false;
  const local = (pod: Pod) =>
    pod.nodeName === options.nodeName ||
    (pod.nodeName === undefined && options.isLocalPod(pod.namespace, pod.name));
  return local(resource) || (previous?.kind === "Pod" && local(previous));
}

/** Whether `change` touched this node's own NodeEndpoints (or replaced everything). */
export function touchesOwnEndpoints(change: ClusterChange, nodeName: string): boolean {
  if (change.type === "reset") return true;
  if (change.type === "error") return false;
  return change.resource.kind === "NodeEndpoints" && change.resource.node === nodeName;
}

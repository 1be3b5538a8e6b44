/**
 * How a node publishes its pods' addresses on the `kubernetes` source: a merge patch of the
 * annotation `tern.dev/pod-ips` on each local pod, right after ADD. kubelet writes
 * `status.podIPs` only after the runtime's sandbox call has returned and its next status sync
 * has run, so without the annotation the other nodes' policy would not know a new pod's address
 * for that long and would drop its first packets (Calico's CNI plugin annotates for the same
 * reason). Each pod is patched once per address set; a pod that is gone (404) is skipped.
 * @module
 */
import type { PublishedEndpoint } from "../../src/cluster/types.ts";
import { ApiError } from "../../src/kube/errors.ts";

/** Patches one pod's `tern.dev/pod-ips` annotation (`KubernetesSource.annotatePod`). */
export type AnnotatePod = (namespace: string, name: string, ips: string[]) => Promise<void>;

/** The annotation a pod carries now, as the cluster state last saw it. */
export type CurrentAnnotation = (namespace: string, name: string) => string | undefined;

/**
 * A publish function for {@linkcode EndpointPublisher}-style callers: given the node's endpoints,
 * patches every pod whose annotation does not show its addresses yet; true when it patched any.
 * Throws the first failure other than a gone pod, after trying every pod (the caller retries; pods
 * already patched are not patched again).
 */
export function podIpPublisher(
  annotate: AnnotatePod,
  current: CurrentAnnotation,
): (endpoints: readonly PublishedEndpoint[]) => Promise<boolean> {
  /** What each pod was last patched with (`ns/name` → comma-separated addresses). */
  const done = new Map<string, string>();
  return async (endpoints) => {
    const wanted = new Map<string, { namespace: string; name: string; ips: string[] }>();
    for (const ep of endpoints) {
      if (ep.podNamespace === undefined || ep.podName === undefined) continue;
      const key = `${ep.podNamespace}/${ep.podName}`;
      const entry = wanted.get(key) ?? { namespace: ep.podNamespace, name: ep.podName, ips: [] };
      if (!entry.ips.includes(ep.ip)) entry.ips.push(ep.ip);
      wanted.set(key, entry);
    }
    for (const key of [...done.keys()]) if (!wanted.has(key)) done.delete(key);
    let patched = false;
    let failure: unknown;
    for (const [key, pod] of wanted) {
      const value = [...pod.ips].sort().join(",");
      if (done.get(key) === value) continue;
      if (current(pod.namespace, pod.name) === value) {
        done.set(key, value);
        continue;
      }
      try {
        await annotate(pod.namespace, pod.name, value.split(","));
        patched = true;
        done.set(key, value);
      } catch (err) {
        if (err instanceof ApiError && err.notFound) {
          done.set(key, value); // the pod is gone (or not created through the API): nothing to tell
          continue;
        }
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
    return patched;
  };
}

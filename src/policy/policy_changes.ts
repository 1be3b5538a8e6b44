/**
 * The journal of what changed in the cluster state between two policy computations, so that the
 * compiler updates what it keeps (`PolicyCompiler`, `PeerIndex`) from the changes instead of
 * comparing 150 000 pods: the pods added, modified or deleted (or whose published addresses
 * changed), the namespaces, and whether any other object (policies, service accounts) changed. A
 * reset of the state, or a journal just created, means "everything". Subscribe
 * {@linkcode PolicyChanges.observe} to every state the policy view reads, and
 * {@linkcode PolicyChanges.take} what piled up right before a computation. Pure.
 * @module
 */
import type { ClusterChange } from "../cluster/state.ts";
import type { PublishedEndpoint, Resource } from "../cluster/types.ts";

/** What changed since the last computation (see the module doc). */
export interface PolicyDelta {
  /** Keys `namespace/name` of the pods that changed. */
  pods: ReadonlySet<string>;
  /** Names of the namespaces that changed. */
  namespaces: ReadonlySet<string>;
  /** Whether an object of another kind (a policy, a service account) changed. */
  resources: boolean;
}

/** Collects {@linkcode PolicyDelta}s from cluster state changes. */
export class PolicyChanges {
  #all = true;
  #pods = new Set<string>();
  #namespaces = new Set<string>();
  #resources = false;

  /** Records one change of a state the policy view reads. */
  observe(change: ClusterChange): void {
    if (change.type === "error") return;
    if (change.type === "reset") {
      this.#all = true;
      return;
    }
    this.#note(change.resource);
    if (change.previous !== undefined) this.#note(change.previous);
  }

  /** Everything must be compared again (a state was replaced, a computation failed). */
  invalidate(): void {
    this.#all = true;
  }

  /** The changes since the last call, and forgets them; undefined: compare everything. */
  take(): PolicyDelta | undefined {
    const delta = this.#all
      ? undefined
      : { pods: this.#pods, namespaces: this.#namespaces, resources: this.#resources };
    this.#all = false;
    this.#pods = new Set();
    this.#namespaces = new Set();
    this.#resources = false;
    return delta;
  }

  #note(resource: Resource): void {
    switch (resource.kind) {
      case "Pod":
        this.#pods.add(`${resource.namespace}/${resource.name}`);
        return;
      case "Namespace":
        this.#namespaces.add(resource.name);
        return;
      case "Other":
        this.#resources = true;
        return;
      case "NodeEndpoints":
        // A published endpoint adds an address to its pod.
        for (const endpoint of resource.endpoints) this.#notePublished(endpoint);
        return;
      case "Node":
        // The compiled model reads no Node (explain does, from a context of its own).
        return;
    }
  }

  #notePublished(endpoint: PublishedEndpoint): void {
    if (endpoint.podNamespace !== undefined && endpoint.podName !== undefined) {
      this.#pods.add(`${endpoint.podNamespace}/${endpoint.podName}`);
    }
  }
}

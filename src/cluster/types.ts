/**
 * The shapes of cluster state that every source produces and every consumer reads: nodes, pods,
 * namespaces, the endpoints each node publishes, and the resources tern keeps aside for later
 * layers ("other"). They are tern's own, trimmed views of the Kubernetes objects, already
 * validated at the edge, so code inside the daemon trusts them. Types only.
 * @module
 */

/** One entry of a Node's `status.addresses`. */
export interface NodeAddress {
  /** `InternalIP`, `ExternalIP`, `Hostname`, `InternalDNS`, `ExternalDNS` or another type. */
  type: string;
  /** An IP address for the `*IP` types, a name for the others. */
  address: string;
}

/** A `v1` Node: what routing needs of it. */
export interface Node {
  kind: "Node";
  name: string;
  uid?: string;
  labels: Record<string, string>;
  /** `status.addresses`, in the order given. */
  addresses: NodeAddress[];
  /**
   * `spec.podCIDRs`, or `[spec.podCIDR]` when only that is set; canonical text, IPv4 or IPv6,
   * possibly empty (a node the cluster has not given a range yet).
   */
  podCIDRs: string[];
}

/** A named or numbered port of a container, for NetworkPolicy's named ports. */
export interface ContainerPort {
  /** The port's name (an IANA_SVC_NAME), when it has one. */
  name?: string;
  containerPort: number;
  protocol: "TCP" | "UDP" | "SCTP";
}

/** A container of a pod, reduced to its name and ports. */
export interface Container {
  name: string;
  ports: ContainerPort[];
}

/** A `v1` Pod: identity, selectors' inputs, placement and addresses. */
export interface Pod {
  kind: "Pod";
  namespace: string;
  name: string;
  uid?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** `spec.serviceAccountName` (or the deprecated `spec.serviceAccount`); `default` when unset. */
  serviceAccountName: string;
  /** `spec.nodeName`; absent while the pod is not scheduled. */
  nodeName?: string;
  /** `spec.hostNetwork`: such a pod shares its node's addresses and is not tern's. */
  hostNetwork: boolean;
  /** `status.phase` when given (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`). */
  phase?: string;
  /** `status.podIPs` (or `[status.podIP]`); often empty in hand-written manifests. */
  podIPs: string[];
  containers: Container[];
}

/** A `v1` Namespace. */
export interface Namespace {
  kind: "Namespace";
  name: string;
  uid?: string;
  /** Labels, always with `kubernetes.io/metadata.name` as the API server sets it. */
  labels: Record<string, string>;
}

/** One endpoint that a node owns: an attachment's identity and its address. */
export interface PublishedEndpoint {
  /** Namespace and name of the pod, when the runtime passed them (`K8S_POD_*`). */
  podNamespace?: string;
  podName?: string;
  containerID: string;
  ifname: string;
  /** The address, without prefix. */
  ip: string;
}

/** `tern.dev/v1alpha1` `NodeEndpoints`: the endpoints one node publishes for the others. */
export interface NodeEndpoints {
  kind: "NodeEndpoints";
  /** The publishing node's name (`metadata.name`). */
  node: string;
  endpoints: PublishedEndpoint[];
}

/**
 * A resource of a kind tern does not model yet (NetworkPolicy, SecurityGroupPolicy, …): kept
 * whole for the layer that will read it.
 */
export interface OtherResource {
  kind: "Other";
  apiVersion: string;
  /** The object's own `kind`. */
  resourceKind: string;
  namespace?: string;
  name: string;
  /** The object as parsed, untouched. */
  raw: Record<string, unknown>;
}

/** Any resource a source delivers; `kind` tells which. */
export type Resource = Node | Pod | Namespace | NodeEndpoints | OtherResource;

/** A manifest that could not be used, and why; the object is skipped, never fatal. */
export interface ManifestError {
  /** Where the object came from: a file path, or an API object reference. */
  file: string;
  /** 1-based document index inside a multi-document file, when known. */
  document?: number;
  /** 1-based line of the offending key, when known. */
  line?: number;
  /** Key path of the offending value (`spec.podCIDRs[1]`, `items[3].metadata.name`); empty for the whole document. */
  key: string;
  /** The offending value as parsed (undefined when the key is missing). */
  value: unknown;
  /** One line for the operator: what was wrong, where, and the value. */
  message: string;
  /**
   * The object the problem is about, when its kind and name could be read: for code that sorts
   * errors by kind (the policy status lists those about policies), so it need not parse the
   * message.
   */
  subject?: ManifestSubject;
}

/** An object named in a {@linkcode ManifestError}: its kind and `namespace/name` (or `name`). */
export interface ManifestSubject {
  kind: string;
  name: string;
}

/** Everything a source holds at one moment, as `list()` returns it. */
export interface Snapshot {
  /** Opaque; the watch that follows continues from here. */
  resourceVersion: string;
  nodes: Node[];
  pods: Pod[];
  namespaces: Namespace[];
  nodeEndpoints: NodeEndpoints[];
  others: OtherResource[];
  /** Manifests that were skipped. */
  errors: ManifestError[];
}

/** A resource appeared, changed or went away. `deleted` carries the last known object. */
export interface ResourceEvent {
  type: "added" | "modified" | "deleted";
  resource: Resource;
  /** Opaque, increasing in the order the source emits events. */
  resourceVersion: string;
}

/** A bad manifest was found while watching; the previous valid object, if any, stays in effect. */
export interface ErrorEvent extends ManifestError {
  type: "error";
}

/**
 * The source had to start over (a Kubernetes watch that expired, a directory that was
 * replaced): the snapshot replaces all state.
 */
export interface ResetEvent {
  type: "reset";
  snapshot: Snapshot;
}

/** What `ClusterSource.watch()` yields. */
export type ClusterEvent = ResourceEvent | ErrorEvent | ResetEvent;

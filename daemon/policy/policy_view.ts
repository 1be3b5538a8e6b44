/**
 * What the policy compiler sees on this node: the cluster source's state, the policies of
 * `policy.dir`, and this node's endpoints, with the rule for an endpoint whose Pod object the
 * cluster state does not hold (yet). The compiler itself holds such an endpoint closed; here:
 *
 * - without a cluster source (a single node), no pod has labels anywhere: the endpoint is a pod
 *   with no labels and service account `default` in its namespace (`K8S_POD_NAMESPACE`, else
 *   `default`), a peer like any other, so namespace-wide policies apply to it;
 * - with a cluster source, when no NetworkPolicy and no SecurityGroupPolicy of its namespace
 *   exists, nothing can select it whatever its labels: it is programmed as unaffected (a pod whose
 *   manifest lags is not cut off for nothing), but is not a peer of anyone's selectors until its
 *   labels are known;
 * - with a cluster source, when such a policy exists, its labels could decide its policy: it is
 *   held closed (its veth drops everything) until its Pod object arrives, never run unprotected.
 *
 * Namespaces: with a cluster source, one the state does not hold has not arrived yet (its watch
 * may lag the pods') and is unknown, which the compiler treats as failing closed; on a single node
 * nothing but `policy.dir` gives a namespace labels, so one it lacks is known by its name label
 * alone, exactly.
 *
 * An endpoint without a pod identity (no `K8S_POD_*` arguments) is named after its container id
 * in namespace `default`. Policies found in both sources are taken from the cluster source.
 * What an endpoint gives (its policy endpoint, its synthesized pod) is kept per endpoint object
 * between builds, so unchanged endpoints give the same objects, which the compiler and the peer
 * index compare by reference (an ADD costs a lookup per other endpoint). Pure, apart from that
 * cache.
 * @module
 */
import { ClusterState } from "../../src/cluster/state.ts";
import { NAMESPACE_NAME_LABEL } from "../../src/cluster/manifest.ts";
import type { Namespace, OtherResource, Pod } from "../../src/cluster/types.ts";
import type { LocalEndpoint as PolicyEndpoint } from "../../src/policy/model.ts";
import type { ClusterView } from "../../src/policy/policy_context.ts";
import { readPolicyResources } from "../../src/policy/resources.ts";
import type { LocalEndpoint } from "../../src/local_endpoints.ts";

/** What the view is built from. */
export interface PolicyInputs {
  /** The cluster source's state; undefined on a single node (no `cluster` section). */
  cluster: ClusterState | undefined;
  /** The objects read from `policy.dir`; undefined without one. */
  policyDir: ClusterState | undefined;
  /** This node's programmed endpoints. */
  endpoints: readonly LocalEndpoint[];
  /** This node's name (the synthesized pods' `nodeName`). */
  nodeName: string;
}

/** The view, the endpoints to compile, and why some are held closed. */
export interface PolicyView {
  view: ClusterView;
  endpoints: PolicyEndpoint[];
  /** Host veth → why the endpoint is held closed (replaces the compiler's generic reason). */
  held: Map<string, string>;
}

/** The policy endpoint of a daemon endpoint: pod identity, host veth, address. */
export function policyEndpoint(ep: LocalEndpoint): PolicyEndpoint {
  return {
    namespace: ep.podNamespace ?? "default",
    name: ep.podName ?? ep.containerID,
    ifname: ep.hostVeth,
    ip: ep.ip,
  };
}

const EMPTY = new ClusterState();

/** What the builder keeps of one endpoint object (the registry replaces endpoints, never mutates them). */
interface EndpointRecord {
  endpoint: PolicyEndpoint;
  /** `namespace/name`. */
  key: string;
  /** The pod synthesized for it, with the node name it was made for. */
  synthesized?: Pod;
}

/**
 * Builds views; keeps per endpoint object what it derives from it (its policy endpoint, the pod
 * it synthesizes), so that a build costs a lookup per endpoint and unchanged endpoints give the
 * same objects, which the compiler reuses by identity.
 */
export class PolicyViewBuilder {
  #records = new WeakMap<LocalEndpoint, EndpointRecord>();
  /** The pods synthesized by the last build, by `namespace/name`. */
  #synthesized = new Map<string, Pod>();
  /** Single-node namespaces by name, kept so that each stays the same object. */
  #namespaces = new Map<string, Namespace>();

  /** The view of `inputs` (see the module doc). */
  build(inputs: PolicyInputs): PolicyView {
    const cluster = inputs.cluster ?? EMPTY;
    const extra = inputs.policyDir;
    const others = (
      filter: { apiVersion?: string; kind?: string } = {},
    ): readonly OtherResource[] => {
      const own = cluster.others(filter);
      if (extra === undefined) return own;
      const seen = new Set(own.map(otherKey));
      return [...own, ...extra.others(filter).filter((o) => !seen.has(otherKey(o)))];
    };
    const endpoints: PolicyEndpoint[] = [];
    const held = new Map<string, string>();
    const synthesized = new Map<string, Pod>();
    const byIp = new Map<string, Pod>();
    let selecting: Map<string, string[]> | undefined;
    for (const local of inputs.endpoints) {
      if (local.hostVeth === "") continue;
      const record = this.#record(local);
      const ep = record.endpoint;
      endpoints.push(ep);
      const key = record.key;
      if (synthesized.has(key)) continue;
      if (inputs.cluster !== undefined && cluster.pod(ep.namespace, ep.name) !== undefined) {
        continue;
      }
      if (inputs.cluster !== undefined) {
        selecting ??= policiesByNamespace(others());
        const could = selecting.get(ep.namespace);
        if (could !== undefined) {
          held.set(
            ep.ifname,
            `Pod ${key} is not in the cluster state and ${could.slice(0, 3).join(", ")}${
              could.length > 3 ? ", …" : ""
            } could select it: held closed until its Pod object arrives`,
          );
          continue;
        }
      }
      const pod = this.#pod(record, inputs.nodeName);
      synthesized.set(key, pod);
      for (const ip of pod.podIPs) byIp.set(ip, pod);
    }
    this.#synthesized = synthesized;
    const isSynthesized = (pod: Pod) => synthesized.get(`${pod.namespace}/${pod.name}`) === pod;
    // Synthesized pods are peers only on a single node (see the module doc).
    const peers = inputs.cluster === undefined ? synthesized : undefined;
    const view: ClusterView = {
      pods: () => peers === undefined ? cluster.pods() : [...cluster.pods(), ...peers.values()],
      pod: (namespace, name) =>
        cluster.pod(namespace, name) ?? synthesized.get(`${namespace}/${name}`),
      peer: (namespace, name) => cluster.pod(namespace, name) ?? peers?.get(`${namespace}/${name}`),
      podIPs: (pod) => isSynthesized(pod) ? [...pod.podIPs] : cluster.podIPs(pod),
      podByIp: (ip) => cluster.podByIp(ip) ?? byIp.get(ip),
      namespace: (name) =>
        cluster.namespace(name) ?? extra?.namespace(name) ??
          (inputs.cluster === undefined ? this.#namespace(name) : undefined),
      others,
      node: (name) => cluster.node(name),
    };
    return { view, endpoints, held };
  }

  #record(local: LocalEndpoint): EndpointRecord {
    let record = this.#records.get(local);
    if (record === undefined) {
      const endpoint = policyEndpoint(local);
      record = { endpoint, key: `${endpoint.namespace}/${endpoint.name}` };
      this.#records.set(local, record);
    }
    return record;
  }

  #namespace(name: string): Namespace {
    let namespace = this.#namespaces.get(name);
    if (namespace === undefined) {
      namespace = { kind: "Namespace", name, labels: { [NAMESPACE_NAME_LABEL]: name } };
      this.#namespaces.set(name, namespace);
    }
    return namespace;
  }

  /**
   * The pod synthesized for an endpoint: the one made for it before, else the last build's pod
   * of the same identity and address (an endpoint registered again), else a new one.
   */
  #pod(record: EndpointRecord, nodeName: string): Pod {
    if (record.synthesized?.nodeName === nodeName) return record.synthesized;
    const ep = record.endpoint;
    const before = this.#synthesized.get(record.key);
    if (
      before !== undefined && before.nodeName === nodeName && before.podIPs.length === 1 &&
      before.podIPs[0] === ep.ip
    ) {
      return record.synthesized = before;
    }
    return record.synthesized = {
      kind: "Pod",
      namespace: ep.namespace,
      name: ep.name,
      labels: {},
      annotations: {},
      serviceAccountName: "default",
      nodeName,
      hostNetwork: false,
      phase: "Running",
      podIPs: [ep.ip],
      containers: [],
    };
  }
}

function otherKey(o: OtherResource): string {
  return `${o.apiVersion}/${o.resourceKind}/${o.namespace ?? ""}/${o.name}`;
}

/** Namespace → the valid NetworkPolicies and SecurityGroupPolicies in it, by kind and name. */
function policiesByNamespace(others: readonly OtherResource[]): Map<string, string[]> {
  const resources = readPolicyResources(others);
  const out = new Map<string, string[]>();
  const add = (namespace: string, what: string) => {
    const list = out.get(namespace);
    if (list) list.push(what);
    else out.set(namespace, [what]);
  };
  for (const np of resources.networkPolicies) {
    add(np.namespace, `NetworkPolicy ${np.namespace}/${np.name}`);
  }
  for (const sgp of resources.securityGroupPolicies) {
    add(sgp.namespace, `SecurityGroupPolicy ${sgp.namespace}/${sgp.name}`);
  }
  return out;
}

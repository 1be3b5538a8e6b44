/**
 * Cluster fixtures shared by `src/` and `daemon/` tests: a cluster state built from manifest
 * text, where any manifest error fails the test (a typo in a fixture must not pass as an empty
 * cluster), and a plain Pod with every field at its default.
 * @module
 */
import { parseManifests } from "../src/cluster/manifest.ts";
import { parseCidr } from "../src/cidr.ts";
import { blockObject, type IpPool } from "../src/ipam/ipam_objects.ts";
import type { KubeObject } from "../src/kube/watch_stream.ts";
import { snapshotOf } from "../src/cluster/snapshot.ts";
import { ClusterState } from "../src/cluster/state.ts";
import type { Pod, Resource } from "../src/cluster/types.ts";

/** The resources of manifest `text` read as file `file`; throws on any manifest error. */
export function manifestResources(text: string, file: string): Resource[] {
  const parsed = parseManifests(text, { file });
  if (parsed.errors.length > 0) {
    throw new Error(`Bad test manifest: ${parsed.errors.map((e) => e.message).join("; ")}`);
  }
  return parsed.resources;
}

/** A cluster state holding the manifests in `texts` (files `text-0`, `text-1`, …). */
export function stateFrom(...texts: string[]): ClusterState {
  const resources = texts.flatMap((text, i) => manifestResources(text, `text-${i}`));
  const state = new ClusterState();
  state.reset(snapshotOf(resources, { resourceVersion: "1" }));
  return state;
}

/** Pod `default/<name>` with no labels, no addresses and no node, plus `overrides`. */
export function testPod(name: string, overrides: Partial<Pod> = {}): Pod {
  return {
    kind: "Pod",
    namespace: "default",
    name,
    labels: {},
    annotations: {},
    serviceAccountName: "default",
    hostNetwork: false,
    podIPs: [],
    containers: [],
    ...overrides,
  };
}

/**
 * The NetworkPolicy the Kubernetes fault tests and the kube-admit bench share: `app=server` pods
 * of `namespace` take tcp/80 from `role=client` pods of that namespace only.
 */
export function serverFromClientsPolicy(namespace: string): Record<string, unknown> {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "server-from-clients", namespace },
    spec: {
      podSelector: { matchLabels: { app: "server" } },
      policyTypes: ["Ingress"],
      ingress: [{
        from: [{ podSelector: { matchLabels: { role: "client" } } }],
        ports: [{ protocol: "TCP", port: 80 }],
      }],
    },
  };
}

/** An IPPool object as an operator writes it: `cidr`, the default block size. */
export function ipPoolObject(name: string, cidr: string): KubeObject {
  return {
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name },
    spec: { cidr },
  } as KubeObject;
}

/**
 * The IPAMBlock object a node's claim creates (`blockObject`, what the daemon writes), for
 * `cidr` of pool `pool` owned by `node`, with `allocated` addresses in its status (default 0).
 */
export function ipamBlockObject(
  cidr: string,
  options: { pool: string; node: string; allocated?: number },
): KubeObject {
  const range = parseCidr(cidr);
  const pool: IpPool = {
    name: options.pool,
    cidr,
    range,
    blockSize: range.prefix,
    nodeSelector: { matchLabels: {}, matchExpressions: [] },
  };
  const object = blockObject(pool, range, options.node);
  return { ...object, status: { allocated: options.allocated ?? 0 } } as KubeObject;
}

/**
 * Test support for `src/policy`: builds a cluster state from the manifests in
 * `testdata/policy/` and this node's endpoints as the daemon would know them (host veth names
 * derived from the published container ids). Reads files, so tests only.
 * @module
 */
import { parseAllDocuments } from "yaml";
import { stateFrom } from "../../test/cluster_fixtures.ts";
import type { ClusterState } from "../cluster/state.ts";
import type { OtherResource } from "../cluster/types.ts";
import { hostVethName } from "../names.ts";
import { compilePolicy } from "./compile.ts";
import type { LocalEndpoint, PolicyModel } from "./model.ts";

/** `testdata/policy/`. */
export const TESTDATA = new URL("../../testdata/policy/", import.meta.url);

/** Every scenario in `testdata/policy/` with a golden `.nft` file. */
export const SCENARIOS = [
  "none",
  "np-deny-all-ingress",
  "np-allow-from-namespace",
  "np-and-peer",
  "np-ipblock-except",
  "np-named-port",
  "np-endport",
  "np-egress-dns",
  "sg-by-label",
  "sg-by-service-account",
  "sg-priority-deny",
  "both-layers",
];

/** The test cluster (`cluster.yaml`) plus the manifests of `files` in `testdata/policy/`. */
export async function loadCluster(...files: string[]): Promise<ClusterState> {
  const texts = await Promise.all(
    ["cluster.yaml", ...files].map((f) => Deno.readTextFile(new URL(f, TESTDATA))),
  );
  return stateFrom(...texts);
}

/**
 * The test cluster plus the objects of `file` kept aside as they are, not validated: what a
 * source without policy validation at its edge would deliver (the `files` source rejects invalid
 * policies before they reach the state), to test the policy layer's own checks.
 */
export async function loadClusterUnvalidated(file: string): Promise<ClusterState> {
  const state = await loadCluster();
  const text = await Deno.readTextFile(new URL(file, TESTDATA));
  parseAllDocuments(text).forEach((doc, i) => {
    const raw = doc.toJS() as Record<string, unknown> & {
      apiVersion: string;
      kind: string;
      metadata: { name: string; namespace?: string };
    };
    const resource: OtherResource = {
      kind: "Other",
      apiVersion: raw.apiVersion,
      resourceKind: raw.kind,
      name: raw.metadata.name,
      raw,
    };
    if (raw.metadata.namespace !== undefined) resource.namespace = raw.metadata.namespace;
    state.apply({ type: "added", resource, resourceVersion: String(100 + i) });
  });
  return state;
}

/** Extra manifests as YAML text, added to the test cluster. */
export async function clusterWith(...texts: string[]): Promise<ClusterState> {
  return stateFrom(await Deno.readTextFile(new URL("cluster.yaml", TESTDATA)), ...texts);
}

/** The endpoints `node` published, with the host veth names the plugin gave them. */
export async function localEndpoints(
  state: ClusterState,
  node = "node-1",
): Promise<LocalEndpoint[]> {
  const published = state.nodeEndpoints().find((e) => e.node === node)?.endpoints ?? [];
  return await Promise.all(published.map(async (ep) => ({
    namespace: ep.podNamespace!,
    name: ep.podName!,
    ifname: await hostVethName(ep.containerID, ep.ifname),
    ip: ep.ip,
  })));
}

/** The model node-1 compiles for the test cluster plus `files`. */
export async function compileScenario(...files: string[]): Promise<PolicyModel> {
  const state = await loadCluster(...files);
  return compilePolicy(state, { endpoints: await localEndpoints(state) });
}

/** Applies a `modified` event that gives pod `namespace/name` these labels. */
export function relabel(
  state: ClusterState,
  pod: { namespace: string; name: string; labels: Record<string, string> },
): void {
  const { labels } = pod;
  const before = state.pod(pod.namespace, pod.name);
  if (before === undefined) {
    throw new Error(`No pod ${pod.namespace}/${pod.name} in the test cluster`);
  }
  state.apply({ type: "modified", resource: { ...before, labels }, resourceVersion: "2" });
}

/** A change of cluster state, as two models of node-1. */
export interface Transition {
  name: string;
  before: PolicyModel;
  after: PolicyModel;
}

/** The changes the incremental tests replay. */
export async function transitions(): Promise<Transition[]> {
  const out: Transition[] = [];
  const compile = async (state: ClusterState, skip?: string) => {
    const endpoints = (await localEndpoints(state)).filter((e) =>
      `${e.namespace}/${e.name}` !== skip
    );
    return compilePolicy(state, { endpoints });
  };
  {
    const state = await loadCluster("sg-priority-deny.yaml");
    const without = await compile(state, "z/a");
    const all = await compile(state);
    out.push({ name: "pod z/a appears", before: without, after: all });
    out.push({ name: "pod z/a goes away", before: all, after: without });
  }
  {
    const state = await loadCluster("sg-by-label.yaml");
    const before = await compile(state);
    relabel(state, { namespace: "x", name: "b", labels: { pod: "b", app: "web" } });
    out.push({ name: "local pod x/b joins sg-web by label", before, after: await compile(state) });
  }
  {
    const state = await loadCluster("np-and-peer.yaml");
    const before = await compile(state);
    relabel(state, { namespace: "y", name: "c", labels: { pod: "b" } });
    out.push({
      name: "remote pod y/c becomes a peer by label",
      before,
      after: await compile(state),
    });
  }
  {
    const sg = await loadCluster("sg-by-label.yaml");
    const both = await loadCluster("sg-by-label.yaml", "np-allow-from-namespace.yaml");
    out.push({
      name: "a NetworkPolicy is added over a security group",
      before: await compile(sg),
      after: await compile(both),
    });
    out.push({
      name: "that NetworkPolicy is deleted",
      before: await compile(both),
      after: await compile(sg),
    });
  }
  {
    // A large group's own rules change (issue 4's "same-pod" change): elements are added,
    // removed, split and re-pointed in the middle of a map of hundreds.
    const many = async (rules: Record<string, unknown>[]) =>
      await compile(await clusterWith(JSON.stringify(manyRulesGroup(rules))));
    const base = manyRules(300);
    const denied = [
      {
        action: "deny",
        priority: 10,
        protocol: "tcp",
        ports: [1100],
        from: [{ cidr: "10.200.0.0/25" }],
      },
      ...base,
    ];
    const edited = base.filter((_, i) => i % 37 !== 5).map((rule, i) =>
      i % 50 === 7 ? { ...rule, ports: [2000 + i] } : rule
    );
    edited.push({ action: "allow", protocol: "udp", from: [{ cidr: "10.200.0.64/26" }] });
    const before = await many(base);
    out.push({ name: "a deny rule is added to a large group", before, after: await many(denied) });
    out.push({ name: "that deny rule is removed", before: await many(denied), after: before });
    out.push({ name: "rules of a large group change", before, after: await many(edited) });
  }
  {
    // x/a and x/b have one ingress layer: one pair of maps, named after x/a's (the lower id).
    const shared = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-from-y-all, namespace: x }
spec:
  podSelector: {}
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }], ports: [{ port: 81 }] }]
`;
    const state = await clusterWith(shared);
    const both = await compile(state);
    const withoutLeader = await compile(state, "x/a");
    out.push({ name: "the leader of a shared map goes away", before: both, after: withoutLeader });
    out.push({ name: "the leader of a shared map comes back", before: withoutLeader, after: both });
    const split = await compile(
      await clusterWith(
        shared,
        await Deno.readTextFile(new URL("np-allow-from-namespace.yaml", TESTDATA)),
      ),
    );
    out.push({ name: "the leader's layer splits off a shared map", before: both, after: split });
    out.push({ name: "the leader's layer joins a shared map again", before: split, after: both });
  }
  {
    const state = await loadCluster("sg-priority-deny.yaml");
    out.push({
      name: "nothing changes",
      before: await compile(state),
      after: await compile(state),
    });
  }
  return out;
}

/** `count` SecurityGroup rules, each TCP to one port from one address of 10.200.0.0/16. */
function manyRules(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    action: "allow",
    protocol: "tcp",
    ports: [1024 + (i % 7) * 10 + (i % 3)],
    from: [{ cidr: `10.200.${i >> 8}.${i & 255}/32` }],
  }));
}

/** Group sg-many with these ingress rules, for pod x/a (label app=web). */
function manyRulesGroup(rules: Record<string, unknown>[]): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        apiVersion: "vpcresources.k8s.aws/v1beta1",
        kind: "SecurityGroupPolicy",
        metadata: { name: "many", namespace: "x" },
        spec: {
          podSelector: { matchLabels: { app: "web" } },
          securityGroups: { groupIds: ["sg-many"] },
        },
      },
      {
        apiVersion: "tern.dev/v1alpha1",
        kind: "SecurityGroup",
        metadata: { name: "sg-many" },
        spec: { ingress: rules, egress: [{ action: "allow" }] },
      },
    ],
  };
}

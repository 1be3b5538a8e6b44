import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import { testPod as pod } from "../../test/cluster_fixtures.ts";
import { type ClusterChange, ClusterState } from "./state.ts";
import type { Namespace, Node, NodeEndpoints, OtherResource, Snapshot } from "./types.ts";

function node(name: string, cidr: string, ip: string): Node {
  return {
    kind: "Node",
    name,
    labels: {},
    addresses: [{ type: "InternalIP", address: ip }],
    podCIDRs: [cidr],
  };
}

function namespace(name: string): Namespace {
  return { kind: "Namespace", name, labels: { "kubernetes.io/metadata.name": name } };
}

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    resourceVersion: "1",
    nodes: [],
    pods: [],
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: [],
    ...overrides,
  };
}

const published = (nodeName: string, ...eps: [string, string, string][]): NodeEndpoints => ({
  kind: "NodeEndpoints",
  node: nodeName,
  endpoints: eps.map(([ns, name, ip]) => ({
    podNamespace: ns,
    podName: name,
    containerID: `c-${name}`,
    ifname: "eth0",
    ip,
  })),
});

Deno.test("ClusterState.reset() loads a snapshot and answers queries sorted by name", () => {
  const state = new ClusterState();
  state.reset(snapshot({
    resourceVersion: "7",
    nodes: [
      node("node-2", "10.244.2.0/24", "192.168.0.2"),
      node("node-1", "10.244.1.0/24", "192.168.0.1"),
    ],
    pods: [
      pod("b", { nodeName: "node-1" }),
      pod("a", { nodeName: "node-1" }),
      pod("c", { nodeName: "node-2" }),
    ],
    namespaces: [namespace("team-a"), namespace("default")],
  }));
  assertEquals(state.resourceVersion, "7");
  assertEquals(state.nodes().map((n) => n.name), ["node-1", "node-2"]);
  assertEquals(state.podsOnNode("node-1").map((p) => p.name), ["a", "b"]);
  assertEquals(state.podsOnNode("node-3"), []);
  assertEquals(state.namespaces().map((n) => n.name), ["default", "team-a"]);
  assertEquals(state.namespace("team-a")?.labels, { "kubernetes.io/metadata.name": "team-a" });
  assertEquals(state.pod("default", "c")?.nodeName, "node-2");
});

Deno.test("ClusterState given its node indexes that node's pods and finds another's by looking", () => {
  const pods = [
    pod("b", { nodeName: "node-1" }),
    pod("a", { nodeName: "node-1" }),
    pod("c", { nodeName: "node-2" }),
  ];
  const state = new ClusterState({ node: "node-1" });
  state.reset(snapshot({ pods }));
  const every = new ClusterState();
  every.reset(snapshot({ pods }));
  for (const store of [state, every]) {
    assertEquals(store.podsOnNode("node-1").map((p) => p.name), ["a", "b"]);
    assertEquals(store.podsOnNode("node-2").map((p) => p.name), ["c"]);
    assertEquals(store.podsOnNode("node-3"), []);
  }
  const moved = pod("a", { nodeName: "node-2" });
  state.apply({ type: "modified", resource: moved, resourceVersion: "2" });
  assertEquals(state.podsOnNode("node-1").map((p) => p.name), ["b"]);
  assertEquals(state.podsOnNode("node-2").map((p) => p.name), ["a", "c"]);
  state.apply({
    type: "modified",
    resource: pod("c", { nodeName: "node-1" }),
    resourceVersion: "3",
  });
  assertEquals(state.podsOnNode("node-1").map((p) => p.name), ["b", "c"]);
  state.apply({ type: "deleted", resource: pod("b"), resourceVersion: "4" });
  assertEquals(state.podsOnNode("node-1").map((p) => p.name), ["c"]);
});

Deno.test("ClusterState.apply() upserts and deletes, and moves a pod between nodes' indexes", () => {
  const state = new ClusterState();
  state.reset(snapshot({ pods: [pod("a", { nodeName: "node-1", podIPs: ["10.244.1.5"] })] }));
  const moved = pod("a", { nodeName: "node-2", podIPs: ["10.244.2.9"] });
  const change = state.apply({ type: "modified", resource: moved, resourceVersion: "2" });
  assertEquals(change?.type, "modified");
  assertEquals(state.podsOnNode("node-1"), []);
  assertEquals(state.podsOnNode("node-2").map((p) => p.name), ["a"]);
  assertEquals(state.podByIp("10.244.1.5"), undefined);
  assertEquals(state.podByIp("10.244.2.9")?.name, "a");
  assertEquals(
    state.apply({ type: "deleted", resource: moved, resourceVersion: "3" })?.type,
    "deleted",
  );
  assertEquals(state.pods(), []);
  assertEquals(state.podByIp("10.244.2.9"), undefined);
  assertEquals(state.resourceVersion, "3");
});

Deno.test("ClusterState.apply() treats added for a known object as modified and ignores deleting an unknown one", () => {
  const state = new ClusterState();
  const n = node("node-1", "10.244.1.0/24", "192.168.0.1");
  assertEquals(state.apply({ type: "added", resource: n, resourceVersion: "1" })?.type, "added");
  const again = state.apply({ type: "added", resource: n, resourceVersion: "2" });
  assertEquals(again?.type, "modified");
  assertEquals(state.nodes().length, 1);
  const gone = node("node-9", "10.244.9.0/24", "192.168.0.9");
  assertEquals(state.apply({ type: "deleted", resource: gone, resourceVersion: "3" }), undefined);
});

Deno.test("ClusterState.podByIp() resolves addresses published by a node to the pod they name", () => {
  const state = new ClusterState();
  state.reset(snapshot({
    pods: [pod("web", { namespace: "team-a", nodeName: "node-1" })],
    nodeEndpoints: [published("node-1", ["team-a", "web", "10.244.1.7"])],
  }));
  assertEquals(state.podByIp("10.244.1.7")?.name, "web");
  assertEquals(state.podIPs(state.pod("team-a", "web")!), ["10.244.1.7"]);
  assertEquals(state.endpointByIp("10.244.1.7")?.node, "node-1");
  state.apply({ type: "deleted", resource: published("node-1"), resourceVersion: "2" });
  assertEquals(state.podByIp("10.244.1.7"), undefined);
  assertEquals(state.podIPs(state.pod("team-a", "web")!), []);
});

Deno.test("ClusterState.podByIp() prefers a running pod over a terminated one and skips host-network pods", () => {
  const state = new ClusterState();
  state.reset(snapshot({
    pods: [
      pod("old", { phase: "Succeeded", podIPs: ["10.244.1.9"] }),
      pod("new", { phase: "Running", podIPs: ["10.244.1.9"] }),
      pod("host", { hostNetwork: true, podIPs: ["192.168.0.1"] }),
    ],
  }));
  assertEquals(state.podByIp("10.244.1.9")?.name, "new");
  assertEquals(state.podByIp("192.168.0.1"), undefined);
  state.apply({ type: "deleted", resource: pod("new"), resourceVersion: "2" });
  assertEquals(state.podByIp("10.244.1.9")?.name, "old");
});

Deno.test("ClusterState.podByIp() keeps every claim of an address until the last claimant goes", () => {
  const state = new ClusterState();
  const claim = (name: string, phase: string) => pod(name, { phase, podIPs: ["10.244.1.9"] });
  state.reset(
    snapshot({ pods: [claim("a", "Failed"), claim("b", "Failed"), claim("c", "Running")] }),
  );
  assertEquals(state.podByIp("10.244.1.9")?.name, "c");
  state.apply({ type: "deleted", resource: pod("c"), resourceVersion: "2" });
  assertEquals(state.podByIp("10.244.1.9")?.name, "a");
  state.apply({ type: "modified", resource: claim("a", "Failed"), resourceVersion: "3" });
  state.apply({ type: "deleted", resource: pod("a"), resourceVersion: "4" });
  assertEquals(state.podByIp("10.244.1.9")?.name, "b");
  state.apply({ type: "added", resource: claim("d", "Running"), resourceVersion: "5" });
  assertEquals(state.podByIp("10.244.1.9")?.name, "d");
  state.apply({ type: "deleted", resource: pod("b"), resourceVersion: "6" });
  state.apply({ type: "deleted", resource: pod("d"), resourceVersion: "7" });
  assertEquals(state.podByIp("10.244.1.9"), undefined);
});

Deno.test("ClusterState notifies subscribers of each change and stops after unsubscribe", () => {
  const state = new ClusterState();
  const seen: ClusterChange["type"][] = [];
  const unsubscribe = state.subscribe((c) => seen.push(c.type));
  state.reset(snapshot());
  const n = node("node-1", "10.244.1.0/24", "192.168.0.1");
  state.apply({ type: "added", resource: n, resourceVersion: "2" });
  state.apply({
    type: "error",
    file: "x.yaml",
    key: "kind",
    value: undefined,
    message: "Invalid manifest in x.yaml: kind: is required",
  });
  state.apply({ type: "deleted", resource: n, resourceVersion: "3" });
  unsubscribe();
  state.apply({ type: "added", resource: n, resourceVersion: "4" });
  assertEquals(seen, ["reset", "added", "error", "deleted"]);
  assertEquals(state.errors().map((e) => e.file), ["x.yaml"]);
});

Deno.test("ClusterState calls every listener even when one throws, then reports the failure", () => {
  const state = new ClusterState();
  let called = false;
  state.subscribe(() => {
    throw new Error("boom");
  });
  state.subscribe(() => called = true);
  const err = assertThrows(
    () =>
      state.apply({
        type: "added",
        resource: namespace("x"),
        resourceVersion: "1",
      }),
    AggregateError,
    "Cluster state listeners failed: 1",
  );
  assert(called);
  assertEquals((err.errors[0] as Error).message, "boom");
  assertEquals(state.namespaces().length, 1);
});

Deno.test("ClusterState.others() filters kept-aside resources by apiVersion and kind", () => {
  const other = (apiVersion: string, kind: string, name: string): OtherResource => ({
    kind: "Other",
    apiVersion,
    resourceKind: kind,
    namespace: "default",
    name,
    raw: { apiVersion, kind, metadata: { name } },
  });
  const state = new ClusterState();
  state.reset(snapshot({
    others: [
      other("networking.k8s.io/v1", "NetworkPolicy", "a"),
      other("vpcresources.k8s.aws/v1beta1", "SecurityGroupPolicy", "b"),
    ],
  }));
  assertEquals(state.others({ kind: "NetworkPolicy" }).map((o) => o.name), ["a"]);
  assertEquals(state.others().length, 2);
});

Deno.test("ClusterState.others() stays in key order through adds, changes and deletes, one array until a change", () => {
  const other = (namespace: string, name: string, generation: number): OtherResource => ({
    kind: "Other",
    apiVersion: "networking.k8s.io/v1",
    resourceKind: "NetworkPolicy",
    namespace,
    name,
    raw: { metadata: { namespace, name, generation } },
  });
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const state = new ClusterState();
  state.reset(snapshot({ others: [other("ns-1", "b", 0), other("ns-0", "a", 0)] }));
  const want = new Map<string, OtherResource>();
  for (const o of state.others()) want.set(`${o.namespace}/${o.name}`, o);
  // Few changes between asks (patched) and, once, more than the patch takes (sorted again).
  for (const [round, changes] of [1, 3, 0, 7, 400, 2, 5].entries()) {
    const before = state.others();
    for (let k = 0; k < changes; k++) {
      const namespace = `ns-${random(4)}`;
      const name = `p-${random(200)}`;
      const key = `${namespace}/${name}`;
      const at = String(round * 1000 + k);
      if (want.has(key) && random(3) === 0) {
        state.apply({ type: "deleted", resource: want.get(key)!, resourceVersion: at });
        want.delete(key);
      } else {
        const o = other(namespace, name, k);
        state.apply({
          type: want.has(key) ? "modified" : "added",
          resource: o,
          resourceVersion: at,
        });
        want.set(key, o);
      }
    }
    const now = state.others();
    const sorted = [...want.values()].sort((a, b) =>
      a.namespace! < b.namespace!
        ? -1
        : a.namespace! > b.namespace!
        ? 1
        : a.name < b.name
        ? -1
        : a.name > b.name
        ? 1
        : 0
    );
    assertEquals(now.length, sorted.length, `round ${round}`);
    now.forEach((o, i) =>
      assert(o === sorted[i], `round ${round}: ${i} is ${o.namespace}/${o.name}`)
    );
    assert(
      (now === before) === (changes === 0),
      `round ${round}: a new array iff something changed`,
    );
    assert(state.others() === now, "asked again without a change: the same array");
  }
  assertEquals(state.snapshot().others, state.others());
});

Deno.test("ClusterState keeps only the most recent manifest errors", () => {
  const state = new ClusterState({ maxErrors: 2 });
  for (const file of ["a", "b", "c"]) {
    state.apply({
      type: "error",
      file,
      key: "",
      value: undefined,
      message: `Invalid YAML in ${file}`,
    });
  }
  assertEquals(state.errors().map((e) => e.file), ["b", "c"]);
});

Deno.test("ClusterState.pods() lists pods in the order of their keys, namespace prefixes included", () => {
  const state = new ClusterState();
  const at = (namespace: string, name: string) => pod(name, { namespace, nodeName: "n1" });
  state.reset(snapshot({
    pods: [at("team", "b"), at("team-1", "a"), at("team", "a"), at("a", "z")],
  }));
  const keys = (pods: { namespace: string; name: string }[]) =>
    pods.map((p) => `${p.namespace}/${p.name}`);
  const expected = ["a/z", "team-1/a", "team/a", "team/b"];
  assertEquals(keys(state.pods()), expected);
  assertEquals(keys(state.podsOnNode("n1")), expected);
  assertEquals(state.podCount, 4);
  state.apply({ type: "modified", resource: at("team", "a"), resourceVersion: "2" });
  state.apply({ type: "deleted", resource: at("team-1", "a"), resourceVersion: "3" });
  assertEquals(keys(state.pods()), ["a/z", "team/a", "team/b"]);
  assertEquals(state.podCount, 3);
});

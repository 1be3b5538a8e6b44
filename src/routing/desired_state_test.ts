import { assertEquals } from "../../test/assert.ts";
import type { Node } from "../cluster/types.ts";
import { desiredState, type DesiredStateInput, endpointRules, ipv4Set } from "./desired_state.ts";
import type { RoutingConfig } from "./routing_config.ts";

const routing: RoutingConfig = {
  mode: "routes",
  addressTypes: ["InternalIP"],
  clusterCIDRs: ["10.244.0.0/16"],
  egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1" }],
  egressBinding: { annotation: "tern.dev/egress-table", label: "egress" },
};

function node(name: string, cidrs: string[], address?: string): Node {
  return {
    kind: "Node",
    name,
    labels: {},
    addresses: address ? [{ type: "InternalIP", address }] : [],
    podCIDRs: cidrs,
  };
}

function input(overrides: Partial<DesiredStateInput> = {}): DesiredStateInput {
  return {
    nodeName: "node-a",
    podCIDRs: ["10.244.1.0/24"],
    endpoints: [
      {
        containerID: "a",
        ifname: "eth0",
        ip: "10.244.1.2",
        hostVeth: "terna",
        podNamespace: "ns",
        podName: "web",
      },
      { containerID: "b", ifname: "eth0", ip: "10.244.1.3", hostVeth: "ternb" },
    ],
    nodes: [
      node("node-a", ["10.244.1.0/24"], "192.168.50.1"),
      node("node-b", ["10.244.2.0/24"], "192.168.50.2"),
    ],
    pod: (namespace, name) =>
      namespace === "ns" && name === "web"
        ? { labels: { egress: "egress-a" }, annotations: {} }
        : undefined,
    routing,
    ownPodCIDRRoute: "unreachable",
    cluster: true,
    ...overrides,
  };
}

Deno.test("desiredState() assembles host, own-CIDR, peer and egress routes and the rules, with no problems", () => {
  const out = desiredState(input());
  assertEquals(out.routes, [
    { table: 254, dst: "10.244.1.2/32", dev: "terna", scope: "link" },
    { table: 254, dst: "10.244.1.3/32", dev: "ternb", scope: "link" },
    { table: 254, dst: "10.244.1.0/24", type: "unreachable" },
    { table: 254, dst: "10.244.2.0/24", via: "192.168.50.2" },
    { table: 100, dst: "0.0.0.0/0", via: "10.97.0.1" },
  ]);
  assertEquals(out.rules, [
    { priority: 512, dst: "10.244.0.0/16", table: 254 },
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
  ]);
  assertEquals(out.problems, []);
  assertEquals(out.peers, [{
    node: "node-b",
    address: "192.168.50.2",
    podCIDRs: ["10.244.2.0/24"],
    routed: ["10.244.2.0/24"],
  }]);
});

Deno.test("desiredState() on a single node: no own-CIDR route, no peers, no cluster problems", () => {
  const out = desiredState(input({ nodes: [], cluster: false, ownPodCIDRRoute: "none" }));
  assertEquals(out.routes.map((r) => r.dst), ["10.244.1.2/32", "10.244.1.3/32", "0.0.0.0/0"]);
  assertEquals(out.problems, []);
  assertEquals(out.peers, []);
});

Deno.test("desiredState() reports this node missing from the cluster, or disagreeing with the pools", () => {
  assertEquals(
    desiredState(input({ nodes: [node("node-b", ["10.244.2.0/24"], "192.168.50.2")] })).problems,
    [{
      kind: "no_local_node",
      message:
        "This node has no Node in the cluster source: node-a: peers cannot route to its pods",
    }],
  );
  assertEquals(
    desiredState(input({ nodes: [node("node-a", ["10.244.9.0/24", "fd00::/64"])] })).problems,
    [{
      kind: "pod_cidr_mismatch",
      message:
        "Node node-a has pod CIDRs 10.244.9.0/24 but the daemon hands out 10.244.1.0/24: fix the Node or podCIDRs in ternd.yaml, then restart ternd",
    }],
  );
});

Deno.test("desiredState() keeps overlapping pod CIDRs out and names unknown egress tables", () => {
  const out = desiredState(input({
    nodes: [
      node("node-a", ["10.244.1.0/24"], "192.168.50.1"),
      node("node-b", ["10.244.2.0/24"], "192.168.50.2"),
      node("node-c", ["10.244.2.128/25"], "192.168.50.3"),
    ],
    pod: () => ({ labels: { egress: "nat-z" }, annotations: {} }),
  }));
  assertEquals(out.routes.filter((r) => r.via !== undefined && r.table === 254), []);
  assertEquals(out.problems.map((p) => p.kind), ["cidr_conflict", "unknown_egress_table"]);
  assertEquals(
    out.problems[1]!.message,
    'Pod is bound to an egress table that is not configured: ns/web: label egress is "nat-z"',
  );
});

Deno.test("desiredState() wants no rule on a node where no pod is bound to an egress table", () => {
  const out = desiredState(input({ pod: () => undefined }));
  assertEquals(out.rules, []);
  assertEquals(out.routes.length, 5, "the routes are all there");
});

Deno.test("endpointRules() gives a bound pod its from rule and the node's to rules, an unbound pod none", () => {
  const pod = () => ({ labels: {}, annotations: { "tern.dev/egress-table": "100" } });
  const ep = {
    containerID: "a",
    ifname: "eth0",
    ip: "10.244.1.2",
    hostVeth: "terna",
    podNamespace: "ns",
    podName: "x",
  };
  const podCIDRs = ["10.244.1.0/24", "fd00:10:244:1::/64"];
  assertEquals(endpointRules(ep, { routing, podCIDRs, pod }), [
    { priority: 512, dst: "10.244.0.0/16", table: 254 },
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
  ]);
  // Outside the pod CIDRs (restored from an earlier pool), the pod's own `to` rule too.
  assertEquals(
    endpointRules({ ...ep, ip: "10.250.0.2" }, {
      routing: { ...routing, clusterCIDRs: [] },
      podCIDRs,
      pod,
    }),
    [
      { priority: 512, dst: "10.244.1.0/24", table: 254 },
      { priority: 512, dst: "10.250.0.2/32", table: 254 },
      { priority: 1536, src: "10.250.0.2/32", table: 100 },
    ],
  );
  const { podName: _, ...anonymous } = ep;
  assertEquals(endpointRules(anonymous, { routing, podCIDRs, pod }), []);
  assertEquals(endpointRules(ep, { routing, podCIDRs, pod: () => undefined }), []);
});

Deno.test("ipv4Set() is the sorted canonical IPv4 CIDRs without repeats", () => {
  assertEquals(ipv4Set(["10.244.2.0/24", "fd00::/64", "10.244.1.0/24", "10.244.2.0/24"]), [
    "10.244.1.0/24",
    "10.244.2.0/24",
  ]);
});

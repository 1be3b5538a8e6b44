import { assertEquals } from "../../test/assert.ts";
import type { Node } from "../cluster/types.ts";
import { desiredPeerRoutes } from "./peer_routes.ts";

function node(name: string, cidrs: string[], addresses: [string, string][] = []): Node {
  return {
    kind: "Node",
    name,
    labels: {},
    addresses: addresses.map(([type, address]) => ({ type, address })),
    podCIDRs: cidrs,
  };
}

const cluster = [
  node("node-1", ["10.244.1.0/24"], [["InternalIP", "192.168.50.1"]]),
  node("node-2", ["10.244.2.0/24"], [["ExternalIP", "203.0.113.2"], [
    "InternalIP",
    "192.168.50.2",
  ]]),
  node("node-3", ["10.244.3.0/24", "fd00:10:244:3::/64"], [["InternalIP", "192.168.50.3"]]),
];

Deno.test("desiredPeerRoutes() routes every other node's IPv4 pod CIDR via its InternalIP in routes mode", () => {
  const out = desiredPeerRoutes("node-1", cluster, { mode: "routes" });
  assertEquals(out.routes, [
    { table: 254, dst: "10.244.2.0/24", via: "192.168.50.2" },
    { table: 254, dst: "10.244.3.0/24", via: "192.168.50.3" },
  ]);
  assertEquals(out.problems, []);
});

Deno.test("desiredPeerRoutes() installs nothing in native mode but still names the peers", () => {
  assertEquals(desiredPeerRoutes("node-1", cluster, { mode: "native" }), {
    routes: [],
    problems: [],
    peers: [
      { node: "node-2", address: "192.168.50.2", podCIDRs: ["10.244.2.0/24"], routed: [] },
      { node: "node-3", address: "192.168.50.3", podCIDRs: ["10.244.3.0/24"], routed: [] },
    ],
  });
});

Deno.test("desiredPeerRoutes() reports each peer's address and the CIDRs routed via it", () => {
  const nodes = [
    ...cluster,
    node("node-4", ["10.244.3.0/25"], [["InternalIP", "192.168.50.4"]]),
    node("node-5", ["10.244.5.0/24"]),
  ];
  assertEquals(desiredPeerRoutes("node-1", nodes, { mode: "routes" }).peers, [
    {
      node: "node-2",
      address: "192.168.50.2",
      podCIDRs: ["10.244.2.0/24"],
      routed: ["10.244.2.0/24"],
    },
    { node: "node-3", address: "192.168.50.3", podCIDRs: ["10.244.3.0/24"], routed: [] },
    { node: "node-4", address: "192.168.50.4", podCIDRs: ["10.244.3.0/25"], routed: [] },
    { node: "node-5", podCIDRs: ["10.244.5.0/24"], routed: [] },
  ]);
});

Deno.test("desiredPeerRoutes() excludes both sides of an overlap between peers and reports them", () => {
  const nodes = [
    ...cluster,
    node("node-4", ["10.244.2.0/25"], [["InternalIP", "192.168.50.4"]]),
    node("node-5", ["10.244.3.0/24"], [["InternalIP", "192.168.50.5"]]),
  ];
  const out = desiredPeerRoutes("node-1", nodes, { mode: "routes" });
  assertEquals(out.routes, []);
  assertEquals(out.problems, [
    {
      kind: "cidr_conflict",
      nodes: ["node-2", "node-4"],
      cidrs: ["10.244.2.0/24", "10.244.2.0/25"],
      message:
        "Pod CIDRs overlap: node-2 10.244.2.0/24 and node-4 10.244.2.0/25: neither is routed",
    },
    {
      kind: "cidr_conflict",
      nodes: ["node-3", "node-5"],
      cidrs: ["10.244.3.0/24", "10.244.3.0/24"],
      message:
        "Pod CIDRs overlap: node-3 10.244.3.0/24 and node-5 10.244.3.0/24: neither is routed",
    },
  ]);
});

Deno.test("desiredPeerRoutes() never routes a peer CIDR that overlaps the local node's, from config or Node", () => {
  const nodes = [...cluster, node("node-6", ["10.244.9.0/24"], [["InternalIP", "192.168.50.6"]])];
  const out = desiredPeerRoutes("node-1", nodes, {
    mode: "routes",
    localPodCIDRs: ["10.244.8.0/23"],
  });
  assertEquals(out.routes.map((r) => r.dst), ["10.244.2.0/24", "10.244.3.0/24"]);
  assertEquals(out.problems.map((p) => p.message), [
    "Pod CIDRs overlap: node-1 (this node) 10.244.8.0/23 and node-6 10.244.9.0/24: neither is routed",
  ]);
  const viaNode = desiredPeerRoutes(
    "node-2",
    cluster.concat(node("x", ["10.244.2.0/24"], [["InternalIP", "192.168.50.9"]])),
    {
      mode: "routes",
    },
  );
  assertEquals(viaNode.routes.map((r) => r.dst), ["10.244.1.0/24", "10.244.3.0/24"]);
});

Deno.test("desiredPeerRoutes() reports overlaps in native mode too", () => {
  const nodes = [...cluster, node("node-4", ["10.244.1.0/24"], [["InternalIP", "192.168.50.4"]])];
  const out = desiredPeerRoutes("node-2", nodes, { mode: "native" });
  assertEquals(out.routes, []);
  assertEquals(out.problems.map((p) => p.kind), ["cidr_conflict"]);
});

Deno.test("desiredPeerRoutes() reports nodes without an address or an IPv4 pod CIDR and routes the rest", () => {
  const nodes = [
    ...cluster,
    node("bare", [], [["InternalIP", "192.168.50.7"]]),
    node("v6only", ["fd00::/64"], [["InternalIP", "192.168.50.8"]]),
    node("hidden", ["10.244.7.0/24"], [["Hostname", "hidden"], ["InternalIP", "fd00::7"]]),
  ];
  const out = desiredPeerRoutes("node-1", nodes, { mode: "routes" });
  assertEquals(out.routes.map((r) => r.dst), ["10.244.2.0/24", "10.244.3.0/24"]);
  assertEquals(out.problems, [
    {
      kind: "no_pod_cidr",
      node: "bare",
      message: "Node has no IPv4 pod CIDR: bare: no route to its pods",
    },
    {
      kind: "no_address",
      node: "hidden",
      message: "Node has no IPv4 address of type InternalIP: hidden: no route to 10.244.7.0/24",
    },
    {
      kind: "no_pod_cidr",
      node: "v6only",
      message: "Node has no IPv4 pod CIDR: v6only: no route to its pods",
    },
  ]);
});

Deno.test("desiredPeerRoutes() follows the preferred address types in order", () => {
  const out = desiredPeerRoutes("node-1", cluster, {
    mode: "routes",
    addressTypes: ["ExternalIP", "InternalIP"],
  });
  assertEquals(out.routes.map((r) => r.via), ["203.0.113.2", "192.168.50.3"]);
});

Deno.test("desiredPeerRoutes() does not report the local node for lacking an address", () => {
  const out = desiredPeerRoutes("node-0", [node("node-0", [])].concat(cluster), { mode: "routes" });
  assertEquals(out.problems, []);
  assertEquals(out.routes.length, 3);
});

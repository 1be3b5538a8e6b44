import { assertEquals } from "../../test/assert.ts";
import type { Node } from "../cluster/types.ts";
import { nodesWithBlocks } from "./block_routes.ts";
import { desiredPeerRoutes } from "./peer_routes.ts";

function node(name: string, address: string, podCIDRs: string[] = []): Node {
  return {
    kind: "Node",
    name,
    labels: {},
    addresses: [{ type: "InternalIP", address }],
    podCIDRs,
  };
}

Deno.test("nodesWithBlocks() routes each peer's blocks via the peer, replacing its pod CIDRs", () => {
  const nodes = [
    node("a", "192.168.0.1", ["10.244.1.0/24"]),
    node("b", "192.168.0.2", ["10.244.2.0/24"]),
    node("c", "192.168.0.3"),
  ];
  const byNode = new Map([
    ["a", ["10.50.0.0/26"]],
    ["b", ["10.50.0.64/26", "10.50.1.0/26"]],
  ]);
  const peers = desiredPeerRoutes("a", nodesWithBlocks(nodes, byNode), {
    mode: "routes",
    localPodCIDRs: byNode.get("a")!,
  });
  assertEquals(peers.routes.map((r) => `${r.dst} via ${r.via}`), [
    "10.50.0.64/26 via 192.168.0.2",
    "10.50.1.0/26 via 192.168.0.2",
  ]);
  // A node with no block yet has nothing to route; that is reported, not an error.
  assertEquals(peers.problems.map((p) => p.kind), ["no_pod_cidr"]);
});

Deno.test("nodesWithBlocks() leaves a block two nodes claim unrouted on both sides", () => {
  const nodes = [node("a", "192.168.0.1"), node("b", "192.168.0.2"), node("c", "192.168.0.3")];
  const byNode = new Map([["b", ["10.50.0.0/26"]], ["c", ["10.50.0.0/25"]]]);
  const peers = desiredPeerRoutes("a", nodesWithBlocks(nodes, byNode), { mode: "routes" });
  assertEquals(peers.routes, []);
  assertEquals(peers.problems.filter((p) => p.kind === "cidr_conflict").length, 1);
});

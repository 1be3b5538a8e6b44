import { assertEquals } from "../test/assert.ts";
import { renderClusterIpam } from "./cluster_ipam_render.ts";

Deno.test("renderClusterIpam() shows pools, then each node's blocks, then problems", () => {
  const text = renderClusterIpam({
    pools: [{
      name: "default",
      cidr: "10.244.0.0/16",
      blockSize: 26,
      blocks: 1024,
      claimed: 2,
      capacity: 128,
      allocated: 13,
    }],
    nodes: [{
      node: "a",
      blocks: [
        { cidr: "10.244.0.0/26", pool: "default", allocated: 10, capacity: 64 },
        { cidr: "10.244.1.0/26", pool: "default", allocated: 3, capacity: 64 },
      ],
      allocated: 13,
      capacity: 128,
    }],
    problems: ["IPPool bad has an invalid spec.cidr"],
  });
  const lines = text.split("\n").map((l) => l.trimEnd());
  assertEquals(lines[0]!.split(/\s{2,}/), ["POOL", "CIDR", "BLOCK", "BLOCKS CLAIMED", "ALLOCATED"]);
  assertEquals(lines[1]!.split(/\s{2,}/), [
    "default",
    "10.244.0.0/16",
    "/26",
    "2 of 1024",
    "13 of 128",
  ]);
  assertEquals(lines[4]!.split(/\s{2,}/), ["a", "10.244.0.0/26", "default", "10 of 64"]);
  assertEquals(lines[5]!.trim().split(/\s{2,}/), ["10.244.1.0/26", "default", "3 of 64"]);
  assertEquals(lines.slice(-3), ["problems:", "  IPPool bad has an invalid spec.cidr", ""]);
});

import { assertEquals } from "../../test/assert.ts";
import { parseCidr } from "../cidr.ts";
import { clusterReport } from "./cluster_report.ts";
import type { IpamBlock, IpPool } from "./ipam_objects.ts";

const pool: IpPool = {
  name: "default",
  cidr: "10.244.0.0/16",
  range: parseCidr("10.244.0.0/16"),
  blockSize: 26,
  nodeSelector: { matchLabels: {}, matchExpressions: [] },
};

function block(cidr: string, node: string, allocated: number, poolName = "default"): IpamBlock {
  return {
    name: cidr.replaceAll(".", "-").replace("/", "-"),
    cidr,
    pool: poolName,
    node,
    allocated,
    releasing: false,
    uid: cidr,
    resourceVersion: "1",
    createdAt: 0,
  };
}

Deno.test("clusterReport() sums each pool's and each node's blocks and use", () => {
  const report = clusterReport([pool], [
    block("10.244.0.64/26", "b", 3),
    block("10.244.0.0/26", "a", 10),
    block("10.244.1.0/26", "a", 0),
    block("10.99.0.0/26", "c", 1, "gone"),
  ]);
  assertEquals(report.pools, [{
    name: "default",
    cidr: "10.244.0.0/16",
    blockSize: 26,
    blocks: 1024,
    claimed: 3,
    capacity: 192,
    allocated: 13,
  }]);
  assertEquals(
    report.nodes.map((n) => [n.node, n.blocks.map((b) => b.cidr), n.allocated, n.capacity]),
    [
      ["a", ["10.244.0.0/26", "10.244.1.0/26"], 10, 128],
      ["b", ["10.244.0.64/26"], 3, 64],
      ["c", ["10.99.0.0/26"], 1, 64],
    ],
  );
  assertEquals(report.problems, ["IPAMBlock 10-99-0-0-26 names IPPool gone, which does not exist"]);
});

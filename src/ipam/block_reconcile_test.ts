import { assertEquals } from "../../test/assert.ts";
import { parseCidr } from "../cidr.ts";
import { planBlockReconcile } from "./block_reconcile.ts";
import type { IpPool } from "./ipam_objects.ts";

const pools: IpPool[] = [{
  name: "default",
  cidr: "10.244.0.0/16",
  range: parseCidr("10.244.0.0/16"),
  blockSize: 26,
  nodeSelector: { matchLabels: {}, matchExpressions: [] },
}];

function owner(cidr: string, node: string) {
  return { cidr, pool: "default", node };
}

Deno.test("planBlockReconcile() keeps blocks both sides know", () => {
  const plan = planBlockReconcile("n1", {
    apiBlocks: [owner("10.244.0.0/26", "n1"), owner("10.244.0.64/26", "n2")],
    recorded: ["10.244.0.0/26"],
    usedIps: ["10.244.0.5"],
    pools,
  });
  assertEquals(plan.keep, [{ cidr: "10.244.0.0/26", pool: "default", used: 1 }]);
  assertEquals([plan.adopt, plan.reclaim, plan.forget, plan.conflict], [[], [], [], []]);
});

Deno.test("planBlockReconcile() adopts a block the API says is ours but KV does not know", () => {
  const plan = planBlockReconcile("n1", {
    apiBlocks: [owner("10.244.1.0/26", "n1")],
    recorded: [],
    usedIps: [],
    pools,
  });
  assertEquals(plan.adopt, [{ cidr: "10.244.1.0/26", pool: "default", used: 0 }]);
});

Deno.test("planBlockReconcile() reclaims a block in use that the API lost, even without a record", () => {
  const plan = planBlockReconcile("n1", {
    apiBlocks: [],
    recorded: ["10.244.0.0/26"],
    usedIps: ["10.244.0.9", "10.244.2.70", "10.244.2.71"],
    pools,
  });
  assertEquals(plan.reclaim, [
    { cidr: "10.244.0.0/26", pool: "default", used: 1 },
    { cidr: "10.244.2.64/26", pool: "default", used: 2 },
  ]);
});

Deno.test("planBlockReconcile() forgets an unused record the API does not give us", () => {
  const plan = planBlockReconcile("n1", {
    apiBlocks: [owner("10.244.0.64/26", "n2")],
    recorded: ["10.244.0.0/26", "10.244.0.64/26"],
    usedIps: [],
    pools,
  });
  assertEquals(plan.forget.map((r) => r.cidr), ["10.244.0.0/26", "10.244.0.64/26"]);
  assertEquals(plan.adopt, []);
});

Deno.test("planBlockReconcile() reports a block in use that another node owns as a conflict", () => {
  const plan = planBlockReconcile("n1", {
    apiBlocks: [owner("10.244.0.64/26", "n2")],
    recorded: ["10.244.0.64/26"],
    usedIps: ["10.244.0.70"],
    pools,
  });
  assertEquals(plan.conflict, [{ cidr: "10.244.0.64/26", pool: "default", used: 1, owner: "n2" }]);
});

Deno.test("planBlockReconcile() lists addresses in no pool apart", () => {
  const plan = planBlockReconcile("n1", {
    apiBlocks: [],
    recorded: [],
    usedIps: ["192.168.0.4"],
    pools,
  });
  assertEquals(plan.outside, ["192.168.0.4"]);
  assertEquals(plan.reclaim, []);
});

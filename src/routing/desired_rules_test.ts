import { assertEquals } from "../../test/assert.ts";
import { desiredRules } from "./desired_rules.ts";
import type { EgressTable } from "./egress_tables.ts";

const tables: EgressTable[] = [
  { name: "nat-a", table: 100, via: "192.168.50.254" },
  { name: "nat-b", table: 101, dev: "eth1" },
];
const binding = { annotation: "tern.dev/egress-table", label: "egress" };
const localCIDRs = ["10.244.1.0/24"];

Deno.test("desiredRules() gives a node with no pod bound to an egress table no rule at all", () => {
  const pods = [{ ip: "10.244.1.9" }, { ip: "10.244.1.7", labels: { app: "web" } }];
  assertEquals(desiredRules(pods, { egressTables: tables, binding, localCIDRs }), {
    rules: [],
    problems: [],
  });
  // Nor the cluster CIDRs' rules, nor a pod outside the local CIDRs.
  const outside = [...pods, { ip: "10.250.0.4" }];
  assertEquals(
    desiredRules(outside, {
      egressTables: tables,
      binding,
      localCIDRs,
      clusterCIDRs: ["10.244.0.0/16"],
    })
      .rules,
    [],
  );
  assertEquals(desiredRules(pods).rules, []);
});

Deno.test("desiredRules() with a first binding: the local pod CIDRs' to rules and the from rule", () => {
  const out = desiredRules([
    { ip: "10.244.1.9" },
    { ip: "10.244.1.7", labels: { egress: "nat-a" } },
    { ip: "10.244.1.7", labels: { egress: "nat-a" } },
  ], { egressTables: tables, binding, localCIDRs: ["10.244.1.0/24", "10.244.9.0/24"] });
  assertEquals(out.rules, [
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 512, dst: "10.244.9.0/24", table: 254 },
    { priority: 1536, src: "10.244.1.7/32", table: 100 },
  ]);
  assertEquals(out.problems, []);
});

Deno.test("desiredRules() binds pods to egress tables by annotation first, then label, by name or id", () => {
  const out = desiredRules([
    {
      ip: "10.244.1.2",
      annotations: { "tern.dev/egress-table": "nat-a" },
      labels: { egress: "nat-b" },
    },
    { ip: "10.244.1.3", labels: { egress: "101" } },
    { ip: "10.244.1.4", labels: { app: "web" } },
  ], { egressTables: tables, binding, localCIDRs });
  assertEquals(out.rules, [
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
    { priority: 1536, src: "10.244.1.3/32", table: 101 },
  ]);
});

Deno.test("desiredRules() gives a to rule of its own to an address that no local CIDR covers", () => {
  const out = desiredRules([
    { ip: "10.244.1.2", labels: { egress: "nat-a" } },
    { ip: "10.250.0.4" }, // restored from an earlier pool
    { ip: "10.250.0.5", labels: { egress: "nat-b" } },
  ], { egressTables: tables, binding, localCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"] });
  assertEquals(out.rules, [
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 512, dst: "10.250.0.4/32", table: 254 },
    { priority: 512, dst: "10.250.0.5/32", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
    { priority: 1536, src: "10.250.0.5/32", table: 101 },
  ]);
  // Without any local CIDR, every pod gets one.
  const bare = desiredRules([{ ip: "10.244.1.2", labels: { egress: "nat-a" } }, {
    ip: "10.244.1.3",
  }], { egressTables: tables, binding });
  assertEquals(bare.rules.map((r) => r.dst ?? r.src), [
    "10.244.1.2/32",
    "10.244.1.3/32",
    "10.244.1.2/32",
  ]);
});

Deno.test("desiredRules() takes every rule away when the last binding goes", () => {
  const pods = (egress?: string) => [
    { ip: "10.244.1.2", labels: egress === undefined ? {} : { egress } },
    { ip: "10.250.0.4" },
  ];
  const options = { egressTables: tables, binding, localCIDRs, clusterCIDRs: ["10.244.0.0/16"] };
  assertEquals(desiredRules(pods("nat-a"), options).rules.length, 4);
  assertEquals(desiredRules(pods(), options).rules, []);
  assertEquals(desiredRules(pods("").slice(1), options).rules, []);
});

Deno.test("desiredRules() reports a binding to a table that is not configured and adds no rule", () => {
  const out = desiredRules([
    { ip: "10.244.1.5", pod: "team-a/web-1", annotations: { "tern.dev/egress-table": "nat-z" } },
  ], { egressTables: tables, binding, localCIDRs });
  assertEquals(out.rules, []);
  assertEquals(out.problems, [{
    kind: "unknown_egress_table",
    ip: "10.244.1.5",
    pod: "team-a/web-1",
    value: "nat-z",
    message:
      'Pod is bound to an egress table that is not configured: team-a/web-1: annotation tern.dev/egress-table is "nat-z"',
  }]);
  // Beside a pod that is bound, the others' rules are there and the problem still reported.
  const mixed = desiredRules([
    { ip: "10.244.1.5", annotations: { "tern.dev/egress-table": "nat-z" } },
    { ip: "10.244.1.6", labels: { egress: "nat-a" } },
  ], { egressTables: tables, binding, localCIDRs });
  assertEquals(mixed.rules, [
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 1536, src: "10.244.1.6/32", table: 100 },
  ]);
  assertEquals(mixed.problems.map((p) => p.message), [
    'Pod is bound to an egress table that is not configured: 10.244.1.5: annotation tern.dev/egress-table is "nat-z"',
  ]);
});

Deno.test("desiredRules() ignores bindings when no egress table is configured", () => {
  const out = desiredRules([{ ip: "10.244.1.5", labels: { egress: "nat-a" } }], {
    binding,
    localCIDRs,
  });
  assertEquals(out, { rules: [], problems: [] });
});

Deno.test("desiredRules() keeps cluster CIDRs on main only when some pod is bound", () => {
  const clusterCIDRs = ["10.244.0.0/16"];
  const unbound = desiredRules([{ ip: "10.244.1.2" }], {
    egressTables: tables,
    binding,
    localCIDRs,
    clusterCIDRs,
  });
  assertEquals(unbound.rules, []);
  const bound = desiredRules([{ ip: "10.244.1.2", labels: { egress: "nat-a" } }], {
    egressTables: tables,
    binding,
    localCIDRs: ["10.244.1.0/24", "10.244.0.0/16"],
    clusterCIDRs,
  });
  // A local CIDR equal to a cluster CIDR yields one rule.
  assertEquals(bound.rules, [
    { priority: 512, dst: "10.244.0.0/16", table: 254 },
    { priority: 512, dst: "10.244.1.0/24", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
  ]);
});

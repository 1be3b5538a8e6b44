import { assertEquals } from "../../test/assert.ts";
import { desiredRules } from "./desired_rules.ts";
import type { EgressTable } from "./egress_tables.ts";

const tables: EgressTable[] = [
  { name: "nat-a", table: 100, via: "192.168.50.254" },
  { name: "nat-b", table: 101, dev: "eth1" },
];
const binding = { annotation: "tern.dev/egress-table", label: "egress" };

Deno.test("desiredRules() gives every local pod `to podIP lookup main` at 512", () => {
  const out = desiredRules([{ ip: "10.244.1.9" }, { ip: "10.244.1.7" }, { ip: "10.244.1.7" }]);
  assertEquals(out.rules, [
    { priority: 512, dst: "10.244.1.7/32", table: 254 },
    { priority: 512, dst: "10.244.1.9/32", table: 254 },
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
  ], { egressTables: tables, binding });
  assertEquals(out.rules, [
    { priority: 512, dst: "10.244.1.2/32", table: 254 },
    { priority: 512, dst: "10.244.1.3/32", table: 254 },
    { priority: 512, dst: "10.244.1.4/32", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
    { priority: 1536, src: "10.244.1.3/32", table: 101 },
  ]);
});

Deno.test("desiredRules() reports a binding to a table that is not configured and adds no from rule", () => {
  const out = desiredRules([
    { ip: "10.244.1.5", pod: "team-a/web-1", annotations: { "tern.dev/egress-table": "nat-z" } },
  ], { egressTables: tables, binding });
  assertEquals(out.rules, [{ priority: 512, dst: "10.244.1.5/32", table: 254 }]);
  assertEquals(out.problems, [{
    kind: "unknown_egress_table",
    ip: "10.244.1.5",
    pod: "team-a/web-1",
    value: "nat-z",
    message:
      'Pod is bound to an egress table that is not configured: team-a/web-1: annotation tern.dev/egress-table is "nat-z"',
  }]);
});

Deno.test("desiredRules() ignores bindings when no egress table is configured", () => {
  const out = desiredRules([{ ip: "10.244.1.5", labels: { egress: "nat-a" } }], { binding });
  assertEquals(out.rules.map((r) => r.priority), [512]);
  assertEquals(out.problems, []);
});

Deno.test("desiredRules() keeps cluster CIDRs on main only when some pod is bound", () => {
  const clusterCIDRs = ["10.244.0.0/16"];
  const unbound = desiredRules([{ ip: "10.244.1.2" }], {
    egressTables: tables,
    binding,
    clusterCIDRs,
  });
  assertEquals(unbound.rules.length, 1);
  const bound = desiredRules([{ ip: "10.244.1.2", labels: { egress: "nat-a" } }], {
    egressTables: tables,
    binding,
    clusterCIDRs,
  });
  assertEquals(bound.rules, [
    { priority: 512, dst: "10.244.0.0/16", table: 254 },
    { priority: 512, dst: "10.244.1.2/32", table: 254 },
    { priority: 1536, src: "10.244.1.2/32", table: 100 },
  ]);
});

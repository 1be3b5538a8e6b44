import { assertEquals } from "../../test/assert.ts";
import { desiredTableRoutes, type EgressTable, egressTableOf } from "./egress_tables.ts";

const tables: EgressTable[] = [
  { name: "nat-b", table: 101, dev: "eth1" },
  { name: "nat-a", table: 100, via: "192.168.50.254" },
  { name: "nat-c", table: 102, via: "192.168.60.1", dev: "eth2" },
];

Deno.test("desiredTableRoutes() gives each table its default route via gateway and/or device", () => {
  assertEquals(desiredTableRoutes(tables), [
    { table: 100, dst: "0.0.0.0/0", via: "192.168.50.254" },
    { table: 101, dst: "0.0.0.0/0", dev: "eth1" },
    { table: 102, dst: "0.0.0.0/0", via: "192.168.60.1", dev: "eth2" },
  ]);
});

Deno.test("egressTableOf() reads nothing when the binding names no key or the value is empty", () => {
  const pod = { labels: { "tern.dev/egress-table": "" }, annotations: { x: "nat-a" } };
  assertEquals(egressTableOf(pod, { egressTables: tables, binding: {} }), { bound: false });
  assertEquals(
    egressTableOf(pod, { egressTables: tables, binding: { label: "tern.dev/egress-table" } }),
    { bound: false },
  );
  assertEquals(
    egressTableOf(pod, { egressTables: tables, binding: { annotation: "x" } }),
    { bound: true, table: tables[1]! },
  );
});

import { assertEquals } from "../../test/assert.ts";
import { routingConfigSchema } from "./routing_config.ts";

const problems = (input: unknown) => {
  const result = routingConfigSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

Deno.test("routingConfigSchema defaults to routes mode, InternalIP, no tables and the tern.dev binding keys", () => {
  assertEquals(routingConfigSchema.parse({}), {
    mode: "routes",
    addressTypes: ["InternalIP"],
    clusterCIDRs: [],
    egressTables: [],
    egressBinding: { annotation: "tern.dev/egress-table", label: "tern.dev/egress-table" },
  });
});

Deno.test("routingConfigSchema reads egress tables, cluster CIDRs and a custom binding", () => {
  assertEquals(
    routingConfigSchema.parse({
      mode: "native",
      clusterCIDRs: ["10.244.0.0/16"],
      egressTables: [
        { name: "nat-a", table: 100, via: "192.168.50.254" },
        { name: "nat-b", table: 1000, dev: "eth1" },
      ],
      egressBinding: { label: "egress" },
    }),
    {
      mode: "native",
      addressTypes: ["InternalIP"],
      clusterCIDRs: ["10.244.0.0/16"],
      egressTables: [
        { name: "nat-a", table: 100, via: "192.168.50.254" },
        { name: "nat-b", table: 1000, dev: "eth1" },
      ],
      egressBinding: { label: "egress" },
    },
  );
});

Deno.test("routingConfigSchema rejects kernel tables, tables without a route, repeats and bad values", () => {
  assertEquals(
    problems({
      egressTables: [
        { name: "main", table: 254, via: "192.168.50.1" },
        { name: "a", table: 100 },
        { name: "a", table: 100, via: "10.0.0.300" },
        { name: "b", table: 101, dev: "eth0/1" },
      ],
    }),
    [
      "egressTables.0.table: 254 must be a table id 1..252 or 256..4294967295 (253..255 are the kernel's)",
      "egressTables.1: needs via (a gateway) or dev (a device), or both",
      'egressTables.2.via: "10.0.0.300" is not an IPv4 address',
      'egressTables.3.dev: "eth0/1" is not an interface name',
    ],
  );
  assertEquals(
    problems({
      egressTables: [{ name: "a", table: 100, dev: "eth0" }, {
        name: "a",
        table: 100,
        dev: "eth1",
      }],
    }),
    [
      'egressTables.1.name: "a" is already the name of egressTables[0]',
      "egressTables.1.table: 100 is already the table of egressTables[0]",
    ],
  );
  assertEquals(problems({ mode: "overlay" }).length, 1);
  assertEquals(problems({ clusterCIDRs: ["10.244.0.1/16"] }).length, 1);
  assertEquals(
    problems({ egressTables: [{ name: "a", table: 5, dev: "eth0", gw: "x" }] }).length,
    1,
  );
});

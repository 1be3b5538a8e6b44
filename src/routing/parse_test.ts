import { assertEquals, assertThrows } from "../../test/assert.ts";
import type { Route, Rule } from "./model.ts";
import { parseRoutes, parseRules, routeListArgs, ruleListArgs } from "./parse.ts";

const fixture = (name: string) =>
  Deno.readTextFile(new URL(`../../testdata/cluster/ip/${name}`, import.meta.url));

const routesInFixture: Route[] = [
  { table: 100, dst: "0.0.0.0/0", scope: "global", via: "192.168.50.254", dev: "eth0" },
  { table: 101, dst: "0.0.0.0/0", scope: "link", dev: "eth0" },
  { table: 254, dst: "10.244.1.7/32", scope: "link", dev: "tern0a1b2c3d4e5" },
  { table: 254, dst: "10.244.2.0/24", scope: "global", via: "192.168.50.2", dev: "eth0" },
  { table: 254, dst: "10.244.3.0/24", scope: "global", via: "192.168.50.3", dev: "eth0" },
  {
    table: 254,
    dst: "10.244.4.0/24",
    scope: "global",
    via: "192.168.50.4",
    dev: "eth0",
    metric: 50,
  },
  { table: 254, dst: "10.250.0.0/16", scope: "global", type: "unreachable" },
];

const rulesInFixture: Rule[] = [
  { priority: 512, dst: "10.244.1.7/32", table: 254 },
  { priority: 512, dst: "10.96.0.0/12", table: 254 },
  { priority: 1536, src: "10.244.1.7/32", table: 100 },
  { priority: 1536, src: "10.244.1.8/32", table: 101 },
  { priority: 1536, src: "10.244.1.12/32", table: 100 },
  { priority: 1600, table: 100, extra: "fwmark 0x10" },
];

Deno.test("parseRoutes() reads real `ip -4 -N -json route show proto 116 table all` output", async () => {
  const routes = parseRoutes(await fixture("route-show-proto116-numeric.json"), { protocol: 116 });
  assertEquals(routes, routesInFixture);
});

Deno.test("parseRoutes() reads the same listing printed with names", async () => {
  const routes = parseRoutes(await fixture("route-show-proto116-names.json"), { protocol: 116 });
  assertEquals(routes, routesInFixture);
});

Deno.test("parseRoutes() drops entries of another protocol and IPv6 routes", () => {
  const routes = parseRoutes([
    { dst: "10.9.0.0/16", gateway: "192.168.50.9", dev: "eth0", protocol: "static", flags: [] },
    { dst: "10.8.0.0/16", gateway: "192.168.50.9", dev: "eth0", protocol: "4", flags: [] },
    { dst: "10.7.0.0/16", gateway: "192.168.50.9", dev: "eth0", protocol: "116", flags: [] },
    { dst: "fd00::/64", dev: "eth0", metric: 1024, flags: [] },
  ], { protocol: 116 });
  assertEquals(routes.map((r) => r.dst), ["10.7.0.0/16"]);
});

Deno.test("parseRules() keeps only rules carrying tern's protocol, from real `ip -json rule show` output", async () => {
  assertEquals(
    parseRules(await fixture("rule-show-numeric.json"), { protocol: 116 }),
    rulesInFixture,
  );
  assertEquals(
    parseRules(await fixture("rule-show-names.json"), { protocol: 116 }),
    rulesInFixture,
  );
});

Deno.test("parseRules() honours another protocol number and its rt_protos name", async () => {
  const text = await fixture("rule-show-names.json");
  assertEquals(parseRules(text, { protocol: 4 }), []);
  const named = parseRules(
    [{ priority: 512, src: "all", dst: "10.1.2.3", table: "main", protocol: "bird" }],
    { protocol: 12 },
  );
  assertEquals(named, [{ priority: 512, dst: "10.1.2.3/32", table: 254 }]);
});

Deno.test("parsers treat empty output as nothing and refuse what they cannot read", () => {
  assertEquals(parseRoutes("", { protocol: 116 }), []);
  assertEquals(parseRules("[]", { protocol: 116 }), []);
  assertThrows(() => parseRoutes("{}", { protocol: 116 }), TypeError, "expected a JSON array");
  assertThrows(
    () => parseRoutes([{ dst: "10.0.0.0/8", table: "egress" }], { protocol: 116 }),
    TypeError,
    'Cannot read table "egress": list with ip -N',
  );
  assertThrows(
    () => parseRoutes([{ dst: "banana" }], { protocol: 116 }),
    TypeError,
    'bad destination: "banana"',
  );
});

Deno.test("routeListArgs() and ruleListArgs() ask for IPv4 and numbers", () => {
  assertEquals(routeListArgs(116), ["-4", "-N", "route", "show", "proto", "116", "table", "all"]);
  assertEquals(ruleListArgs(), ["-4", "-N", "rule", "show"]);
});

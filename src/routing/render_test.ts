import { assertEquals } from "../../test/assert.ts";
import { diffRoutes, diffRules } from "./diff.ts";
import type { Route, Rule } from "./model.ts";
import { parseRoutes, parseRules } from "./parse.ts";
import {
  renderRouteBatch,
  renderRouteDel,
  renderRouteReplace,
  renderRuleAdd,
  renderRuleBatch,
  renderRuleDel,
} from "./render.ts";

const fixture = (name: string) =>
  Deno.readTextFile(new URL(`../../testdata/cluster/ip/${name}`, import.meta.url));

Deno.test("renderRouteReplace() writes every attribute and tern's protocol as a number", () => {
  assertEquals(
    renderRouteReplace({ table: 254, dst: "10.244.2.0/24", via: "192.168.50.2" }, 116),
    "route replace 10.244.2.0/24 via 192.168.50.2 table 254 proto 116",
  );
  assertEquals(
    renderRouteReplace(
      { table: 254, dst: "10.244.1.7/32", dev: "tern0a1b2c3d4e5", scope: "link" },
      116,
    ),
    "route replace 10.244.1.7/32 dev tern0a1b2c3d4e5 scope link table 254 proto 116",
  );
  assertEquals(
    renderRouteReplace({ table: 100, dst: "0.0.0.0/0", via: "192.168.50.254", dev: "eth0" }, 7),
    "route replace 0.0.0.0/0 via 192.168.50.254 dev eth0 table 100 proto 7",
  );
});

Deno.test("renderRouteDel() names only the identity and the protocol", () => {
  assertEquals(
    renderRouteDel(
      { table: 254, dst: "10.244.4.0/24", via: "x", metric: 50, type: "unreachable" },
      116,
    ),
    "route del 10.244.4.0/24 table 254 metric 50 proto 116",
  );
});

Deno.test("renderRuleAdd() and renderRuleDel() write selectors, table, priority and protocol", () => {
  const to: Rule = { priority: 512, dst: "10.244.1.7/32", table: 254 };
  const from: Rule = { priority: 1536, src: "10.244.1.7/32", table: 100 };
  const odd: Rule = { priority: 1600, table: 100, extra: "fwmark 0x10" };
  assertEquals(
    renderRuleAdd(to, 116),
    "rule add to 10.244.1.7/32 lookup 254 priority 512 proto 116",
  );
  assertEquals(
    renderRuleAdd(from, 116),
    "rule add from 10.244.1.7/32 lookup 100 priority 1536 proto 116",
  );
  assertEquals(renderRuleDel(odd, 116), "rule del fwmark 0x10 lookup 100 priority 1600 proto 116");
  assertEquals(renderRuleDel({ priority: 9, table: 0 }, 116), "rule del priority 9 proto 116");
});

Deno.test("renderRuleBatch() adds a replacement before deleting what it replaces", () => {
  const old: Rule = { priority: 1536, src: "10.244.1.7/32", table: 100 };
  const next: Rule = { ...old, table: 101 };
  const gone: Rule = { priority: 512, dst: "10.244.1.8/32", table: 254 };
  const fresh: Rule = { priority: 512, dst: "10.244.1.9/32", table: 254 };
  assertEquals(
    renderRuleBatch({ add: [fresh], replace: [{ from: old, to: next }], del: [gone] }, {
      protocol: 116,
    }),
    [
      "rule add to 10.244.1.9/32 lookup 254 priority 512 proto 116",
      "rule add from 10.244.1.7/32 lookup 101 priority 1536 proto 116",
      "rule del from 10.244.1.7/32 lookup 100 priority 1536 proto 116",
      "rule del to 10.244.1.8/32 lookup 254 priority 512 proto 116",
    ],
  );
});

Deno.test("the fixture's kernel state reconciles to a desired state with exactly these ip -batch lines", async () => {
  const haveRoutes = parseRoutes(await fixture("route-show-proto116-numeric.json"), {
    protocol: 116,
  });
  const haveRules = parseRules(await fixture("rule-show-numeric.json"), { protocol: 116 });
  const wantRoutes: Route[] = [
    { table: 100, dst: "0.0.0.0/0", via: "192.168.50.254" },
    { table: 101, dst: "0.0.0.0/0", via: "192.168.50.1", dev: "eth0" },
    { table: 254, dst: "10.244.1.7/32", dev: "tern0a1b2c3d4e5", scope: "link" },
    { table: 254, dst: "10.244.2.0/24", via: "192.168.50.2" },
    { table: 254, dst: "10.244.3.0/24", via: "192.168.50.33" },
  ];
  const wantRules: Rule[] = [
    { priority: 512, dst: "10.244.1.7/32", table: 254 },
    { priority: 512, dst: "10.244.1.8/32", table: 254 },
    { priority: 1536, src: "10.244.1.7/32", table: 100 },
    { priority: 1536, src: "10.244.1.8/32", table: 100 },
  ];
  assertEquals(renderRouteBatch(diffRoutes(haveRoutes, wantRoutes), { protocol: 116 }), [
    "route replace 0.0.0.0/0 via 192.168.50.1 dev eth0 table 101 proto 116",
    "route replace 10.244.3.0/24 via 192.168.50.33 table 254 proto 116",
    "route del 10.244.4.0/24 table 254 metric 50 proto 116",
    "route del 10.250.0.0/16 table 254 proto 116",
  ]);
  assertEquals(renderRuleBatch(diffRules(haveRules, wantRules), { protocol: 116 }), [
    "rule add to 10.244.1.8/32 lookup 254 priority 512 proto 116",
    "rule add from 10.244.1.8/32 lookup 100 priority 1536 proto 116",
    "rule del from 10.244.1.8/32 lookup 101 priority 1536 proto 116",
    "rule del from 10.244.1.12/32 lookup 100 priority 1536 proto 116",
    "rule del fwmark 0x10 lookup 100 priority 1600 proto 116",
    "rule del to 10.96.0.0/12 lookup 254 priority 512 proto 116",
  ]);
});

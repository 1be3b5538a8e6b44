import { assertEquals } from "../../test/assert.ts";
import { diffRoutes, diffRules, isEmptyDiff } from "./diff.ts";
import type { Route, Rule } from "./model.ts";

const peer = (dst: string, via: string): Route => ({ table: 254, dst, via });

Deno.test("diffRoutes() adds missing, replaces changed and deletes unwanted routes", () => {
  const have: Route[] = [
    { ...peer("10.244.2.0/24", "192.168.50.2"), dev: "eth0", scope: "global" }, // wanted as is
    { ...peer("10.244.3.0/24", "192.168.50.9"), dev: "eth0", scope: "global" }, // peer moved
    { ...peer("10.244.5.0/24", "192.168.50.5"), dev: "eth0", scope: "global" }, // node left
  ];
  const want = [
    peer("10.244.2.0/24", "192.168.50.2"),
    peer("10.244.3.0/24", "192.168.50.3"),
    peer("10.244.4.0/24", "192.168.50.4"),
  ];
  assertEquals(diffRoutes(have, want), {
    add: [want[2]!],
    del: [have[2]!],
    replace: [{ from: have[1]!, to: want[1]! }],
  });
});

Deno.test("diffRoutes() accepts the device and scope the kernel filled in", () => {
  const have: Route[] = [
    { table: 254, dst: "10.244.2.0/24", via: "192.168.50.2", dev: "eth0", scope: "global" },
    { table: 101, dst: "0.0.0.0/0", dev: "eth1", scope: "link" },
    { table: 254, dst: "10.244.1.7/32", dev: "tern0a1b2c3d4e5", scope: "link" },
  ];
  const want: Route[] = [
    { table: 254, dst: "10.244.2.0/24", via: "192.168.50.2" },
    { table: 101, dst: "0.0.0.0/0", dev: "eth1" },
    { table: 254, dst: "10.244.1.7/32", dev: "tern0a1b2c3d4e5", scope: "link" },
  ];
  assertEquals(isEmptyDiff(diffRoutes(have, want)), true);
});

Deno.test("diffRoutes() replaces a route on the wrong device, scope or type", () => {
  const want: Route = { table: 254, dst: "10.244.1.7/32", dev: "ternaaaaaaaaaaa", scope: "link" };
  for (
    const have of [
      { ...want, dev: "ternbbbbbbbbbbb" },
      { ...want, scope: "global" as const },
      { ...want, type: "unreachable" },
    ]
  ) {
    assertEquals(diffRoutes([have], [want]).replace, [{ from: have, to: want }]);
  }
});

Deno.test("diffRoutes() treats a different metric as a different route and tables apart", () => {
  const have: Route[] = [{ ...peer("10.244.4.0/24", "192.168.50.4"), metric: 50, scope: "global" }];
  const want: Route[] = [peer("10.244.4.0/24", "192.168.50.4"), {
    ...peer("10.244.4.0/24", "192.168.50.4"),
    table: 100,
  }];
  const diff = diffRoutes(have, want);
  assertEquals(diff.add, [want[1]!, want[0]!]);
  assertEquals(diff.del, have);
  assertEquals(diff.replace, []);
});

Deno.test("diffRules() keys rules by priority and selectors and replaces a changed table", () => {
  const have: Rule[] = [
    { priority: 512, dst: "10.244.1.7/32", table: 254 },
    { priority: 1536, src: "10.244.1.7/32", table: 100 },
    { priority: 1536, src: "10.244.1.8/32", table: 101 },
    { priority: 1600, table: 100, extra: "fwmark 0x10" },
  ];
  const want: Rule[] = [
    { priority: 512, dst: "10.244.1.7/32", table: 254 },
    { priority: 512, dst: "10.244.1.9/32", table: 254 },
    { priority: 1536, src: "10.244.1.7/32", table: 101 },
  ];
  assertEquals(diffRules(have, want), {
    add: [want[1]!],
    replace: [{ from: have[1]!, to: want[2]! }],
    del: [have[2]!, have[3]!],
  });
});

Deno.test("diffRules() keeps one of several rules with one identity and deletes the others", () => {
  const have: Rule[] = [
    { priority: 1536, src: "10.244.1.7/32", table: 100 },
    { priority: 1536, src: "10.244.1.7/32", table: 101 },
    { priority: 1536, src: "10.244.1.7/32", table: 101 },
  ];
  const diff = diffRules(have, [{ priority: 1536, src: "10.244.1.7/32", table: 101 }]);
  assertEquals(diff, { add: [], replace: [], del: [have[0]!, have[2]!] });
});

Deno.test("a second diff after applying the first changes nothing", () => {
  const have: Rule[] = [{ priority: 1536, src: "10.244.1.7/32", table: 100 }];
  const want: Rule[] = [{ priority: 1536, src: "10.244.1.7/32", table: 101 }, {
    priority: 512,
    dst: "10.244.1.7/32",
    table: 254,
  }];
  const diff = diffRules(have, want);
  const applied = [
    ...have.filter((r) => !diff.del.includes(r) && !diff.replace.some((x) => x.from === r)),
    ...diff.add,
    ...diff.replace.map((x) => x.to),
  ];
  assertEquals(isEmptyDiff(diffRules(applied, want)), true);
});

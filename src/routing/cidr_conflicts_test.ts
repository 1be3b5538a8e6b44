import { assertEquals, assertThrows } from "../../test/assert.ts";
import { findCidrConflicts } from "./cidr_conflicts.ts";

const c = (node: string, cidr: string) => ({ node, cidr });

Deno.test("findCidrConflicts() finds duplicates and nested ranges between nodes, each pair once", () => {
  const conflicts = findCidrConflicts([
    c("a", "10.244.1.0/24"),
    c("b", "10.244.2.0/24"),
    c("c", "10.244.1.0/24"), // duplicate of a
    c("d", "10.244.2.128/25"), // inside b
    c("e", "10.244.3.0/24"), // alone
  ]);
  assertEquals(conflicts, [
    { a: c("a", "10.244.1.0/24"), b: c("c", "10.244.1.0/24") },
    { a: c("b", "10.244.2.0/24"), b: c("d", "10.244.2.128/25") },
  ]);
});

Deno.test("findCidrConflicts() reports every node inside a wide range, and adjacent ranges as fine", () => {
  const conflicts = findCidrConflicts([
    c("x", "10.244.1.0/24"),
    c("y", "10.244.2.0/24"),
    c("wide", "10.244.0.0/16"),
    c("next", "10.245.0.0/16"),
  ]);
  assertEquals(conflicts.map(({ a, b }) => `${a.node}-${b.node}`), ["wide-x", "wide-y"]);
});

Deno.test("findCidrConflicts() ignores overlaps within one node", () => {
  assertEquals(findCidrConflicts([c("a", "10.0.0.0/16"), c("a", "10.0.1.0/24")]), []);
});

Deno.test("findCidrConflicts() scales to thousands of claims", () => {
  const claims = Array.from({ length: 4096 }, (_, i) => c(`n${i}`, `10.${i >> 8}.${i & 255}.0/24`));
  claims.push(c("late", "10.15.255.0/24"));
  assertEquals(findCidrConflicts(claims).length, 1);
});

Deno.test("findCidrConflicts() refuses a claim that is not an IPv4 CIDR", () => {
  assertThrows(() => findCidrConflicts([c("a", "fd00::/64")]), TypeError, "Not an IPv4");
});

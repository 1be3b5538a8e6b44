import { assertEquals } from "../test/assert.ts";
import { formatPath, formatValue, valueAt } from "./zod_issues.ts";

Deno.test("formatPath() writes keys with dots and indexes with brackets", () => {
  assertEquals(formatPath(["spec", "podCIDRs", 1]), "spec.podCIDRs[1]");
  assertEquals(formatPath([0, "a"]), "[0].a");
  assertEquals(formatPath([]), "");
});

Deno.test("formatValue() shows JSON cut to 80 characters, and undefined as such", () => {
  assertEquals(formatValue("x"), '"x"');
  assertEquals(formatValue(undefined), "undefined");
  const long = formatValue("a".repeat(200));
  assertEquals([long.length, long.endsWith("...")], [80, true]);
});

Deno.test("valueAt() walks objects and arrays and stops at anything else", () => {
  const input = { a: [{ b: 5 }] };
  assertEquals(valueAt(input, ["a", 0, "b"]), 5);
  assertEquals(valueAt(input, ["a", 0, "b", "c"]), undefined);
  assertEquals(valueAt(input, ["x"]), undefined);
});

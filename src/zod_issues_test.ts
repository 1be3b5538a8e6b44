import { z } from "zod";
import { assert, assertEquals } from "../test/assert.ts";
import { describeIssue, formatPath, formatValue, valueAt } from "./zod_issues.ts";

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

Deno.test("describeIssue() words missing, mistyped and out-of-set values with the value given", () => {
  const schema = z.object({
    name: z.string(),
    mtu: z.number(),
    mode: z.enum(["bgp", "vxlan"]),
    port: z.number().max(65535),
  });
  const input = { mtu: "9000", mode: "ipip", port: 70000 };
  const result = schema.safeParse(input);
  assert(!result.success);
  assertEquals(result.error.issues.map((i) => describeIssue(i, input)), [
    { path: ["name"], key: "name", value: undefined, text: "is required" },
    { path: ["mtu"], key: "mtu", value: "9000", text: 'expected number: got "9000"' },
    {
      path: ["mode"],
      key: "mode",
      value: "ipip",
      text: 'must be one of "bgp", "vxlan": got "ipip"',
    },
    {
      path: ["port"],
      key: "port",
      value: 70000,
      text: "too big: expected number to be <=65535: got 70000",
    },
  ]);
});

Deno.test("describeIssue() appends the value to a check's message unless the message shows it", () => {
  const schema = z.object({
    a: z.string().refine((s) => s === "ok", "must be ok"),
    b: z.string().refine((s) => s === "ok", { message: 'must be ok: got "no"' }),
  });
  const input = { a: "no", b: "no" };
  const result = schema.safeParse(input);
  assert(!result.success);
  assertEquals(result.error.issues.map((i) => describeIssue(i, input).text), [
    'must be ok: got "no"',
    'must be ok: got "no"',
  ]);
});

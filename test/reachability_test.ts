import { assertEquals } from "./assert.ts";
import { formatMatrix } from "./reachability.ts";

Deno.test("formatMatrix() shows ok, FAIL, the address a receiver saw, and - on the diagonal", () => {
  const text = formatMatrix(["a", "b", "c"], [
    { from: "a", to: "b", ok: true },
    { from: "a", to: "c", ok: false },
    { from: "b", to: "a", ok: false, seen: "10.98.0.2" },
    { from: "b", to: "c", ok: true },
    { from: "c", to: "a", ok: true },
    { from: "c", to: "b", ok: true },
  ], { width: 4 });
  assertEquals(text.split("\n"), [
    "from \\ to a    b    c",
    "a    -    ok   FAIL",
    "b    saw 10.98.0.2 -    ok",
    "c    ok   ok   -",
  ]);
});

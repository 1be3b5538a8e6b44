import { assertEquals } from "../../test/assert.ts";
import { concatBytes } from "./bytes.ts";

Deno.test("concatBytes() joins the parts in order", () => {
  const parts = [
    new Uint8Array([1, 2]),
    new Uint8Array([]),
    new Uint8Array([3]),
    Uint8Array.of(4, 5),
  ];
  assertEquals(concatBytes(parts), new Uint8Array([1, 2, 3, 4, 5]));
});

Deno.test("concatBytes() of no parts is empty", () => {
  assertEquals(concatBytes([]), new Uint8Array(0));
});

Deno.test("concatBytes() copies: a later change to a part does not show", () => {
  const part = new Uint8Array([7]);
  const out = concatBytes([part]);
  part[0] = 9;
  assertEquals(out, new Uint8Array([7]));
});

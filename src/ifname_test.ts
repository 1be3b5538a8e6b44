import { assertEquals, assertStringIncludes } from "../test/assert.ts";
import { ifnameProblem } from "./ifname.ts";

Deno.test("ifnameProblem() accepts names of up to 15 bytes", () => {
  for (const name of ["eth0", "a23456789012345", "ééééééé", "net1.100"]) {
    assertEquals(ifnameProblem(name), undefined, name);
  }
});

Deno.test("ifnameProblem() counts bytes of UTF-8, not characters", () => {
  assertStringIncludes(ifnameProblem("éééééééé") ?? "", "at most 15 bytes");
  assertStringIncludes(ifnameProblem("a234567890123456") ?? "", "at most 15 bytes");
});

Deno.test("ifnameProblem() refuses '.', '..', '/', ':' and Go's whitespace including NEL", () => {
  for (const name of [".", "..", "a/b", "a:b", "a b", "a\tb", "a\u0085b", "a\u00a0b"]) {
    assertEquals(typeof ifnameProblem(name), "string", JSON.stringify(name));
  }
});

import { assertEquals } from "../../test/assert.ts";
import { errorMessage } from "./errors.ts";

Deno.test("errorMessage() shows an Error's message without its name", () => {
  assertEquals(errorMessage(new TypeError("Bad input: got 5")), "Bad input: got 5");
});

Deno.test("errorMessage() shows anything else thrown as its string form", () => {
  assertEquals(errorMessage("plain text"), "plain text");
  assertEquals(errorMessage(42), "42");
  assertEquals(errorMessage(undefined), "undefined");
});

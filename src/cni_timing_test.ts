import { assertEquals } from "../test/assert.ts";
import { formatCniTiming, parseCniTiming } from "./cni_timing.ts";

Deno.test("the CNI timing header reads back what the plugin writes", () => {
  assertEquals(formatCniTiming("ADD", 12.345), "ADD 12.3");
  assertEquals(parseCniTiming(formatCniTiming("ADD", 12.345)), { command: "ADD", elapsedMs: 12.3 });
  assertEquals(parseCniTiming(formatCniTiming("DEL", -1)), { command: "DEL", elapsedMs: 0 });
  assertEquals(parseCniTiming("CHECK 7"), { command: "CHECK", elapsedMs: 7 });
});

Deno.test("a CNI timing header of another shape, command or an absurd time is ignored", () => {
  for (
    const value of [
      null,
      "",
      "ADD",
      "add 1.0",
      "VERSION 1.0",
      "ADD -1",
      "ADD 1e3",
      "ADD 3600000.1",
      "ADD 1 2",
    ]
  ) {
    assertEquals(parseCniTiming(value), undefined, String(value));
  }
});

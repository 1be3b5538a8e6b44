import { assertEquals } from "../../assert.ts";
import { slope } from "./soak.ts";

Deno.test("slope() is the least-squares slope, 0 for a flat or a single sample", () => {
  assertEquals(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]), 2);
  assertEquals(slope([{ x: 0, y: 4 }, { x: 1, y: 4 }, { x: 2, y: 4 }]), 0);
  assertEquals(slope([{ x: 0, y: 4 }]), 0);
  assertEquals(slope([{ x: 0, y: 0 }, { x: 1, y: 2 }, { x: 2, y: 1 }, { x: 3, y: 3 }]), 0.8);
});

import { assertEquals } from "../../assert.ts";
import { metricValue, slope } from "./soak.ts";

Deno.test("slope() is the least-squares slope, 0 for a flat or a single sample", () => {
  assertEquals(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]), 2);
  assertEquals(slope([{ x: 0, y: 4 }, { x: 1, y: 4 }, { x: 2, y: 4 }]), 0);
  assertEquals(slope([{ x: 0, y: 4 }]), 0);
  assertEquals(slope([{ x: 0, y: 0 }, { x: 1, y: 2 }, { x: 2, y: 1 }, { x: 3, y: 3 }]), 0.8);
});

Deno.test("metricValue() reads an unlabelled sample, NaN when it is absent", () => {
  const text = "# HELP tern_js_heap_used_bytes x\n# TYPE tern_js_heap_used_bytes gauge\n" +
    "tern_js_heap_used_bytes_total 5\ntern_js_heap_used_bytes 1.5e+07\n";
  assertEquals(metricValue(text, "tern_js_heap_used_bytes"), 15_000_000);
  assertEquals(metricValue(text, "tern_js_heap_total_bytes"), NaN);
});

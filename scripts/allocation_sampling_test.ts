import { assertEquals } from "../test/assert.ts";
import {
  allocationSites,
  type SamplingNode,
  startAllocationSampling,
} from "./allocation_sampling.ts";

const node = (
  functionName: string,
  url: string,
  selfSize: number,
  children: SamplingNode[] = [],
): SamplingNode => ({
  callFrame: { functionName, url, lineNumber: 9, columnNumber: 0 },
  selfSize,
  children,
});

Deno.test("allocationSites() charges builtins to their caller and counts recursion once", () => {
  const tree = node("(root)", "", 0, [
    node("compile", "file:///x/src/policy/compile.ts", 10, [
      node("push", "", 5),
      node("walk", "file:///x/src/policy/flatten.ts", 20, [
        node("walk", "file:///x/src/policy/flatten.ts", 30, [node("map", "", 7)]),
      ]),
    ]),
  ]);
  assertEquals(allocationSites(tree), [
    { site: "walk src/policy/flatten.ts:10", self: 57, total: 57 },
    { site: "compile src/policy/compile.ts:10", self: 15, total: 72 },
    { site: "(root)", self: 0, total: 72 },
  ]);
});

Deno.test("startAllocationSampling() sees an allocating function, garbage included", async () => {
  const sampling = await startAllocationSampling({ intervalBytes: 1024 });
  // Each pair escapes into `sink` (so no optimizer can drop it) and dies when overwritten.
  const sink: number[][] = new Array(16);
  function makeGarbage() {
    for (let i = 0; i < 50_000; i++) sink[i % 16] = [i, i + 1];
  }
  makeGarbage();
  const sites = allocationSites(await sampling.stop());
  const mine = sites.find((s) => s.site.startsWith("makeGarbage "));
  assertEquals(sink[15], [49_999, 50_000]);
  assertEquals(mine !== undefined && mine.self > 100_000, true, JSON.stringify(sites.slice(0, 5)));
});

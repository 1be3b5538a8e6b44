import { assertEquals } from "../../test/assert.ts";
import { collectGarbage } from "./collect_garbage.ts";

Deno.test("collectGarbage does nothing where the runtime offers no gc()", () => {
  assertEquals(collectGarbage(undefined), undefined);
});

Deno.test("collectGarbage runs one last-resort gc() and reports the memory before and after", () => {
  let rss = 600 * 2 ** 20;
  const calls: unknown[] = [];
  const collected = collectGarbage(
    (options) => {
      calls.push(options);
      rss = 450 * 2 ** 20;
    },
    () => ({ rss, heapUsed: 260 * 2 ** 20 }),
  );
  assertEquals(calls, [{ type: "major", execution: "sync", flavor: "last-resort" }]);
  assertEquals(collected?.rssBeforeMiB, 600);
  assertEquals(collected?.rssAfterMiB, 450);
  assertEquals(collected?.heapUsedMiB, 260);
});

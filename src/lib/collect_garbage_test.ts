import { assertEquals } from "../../test/assert.ts";
import { collectGarbage } from "./collect_garbage.ts";

Deno.test("collectGarbage does nothing where the runtime offers no gc()", () => {
  assertEquals(collectGarbage(undefined), undefined);
});

Deno.test("collectGarbage runs one last-resort gc(), then malloc_trim(0), and reports the memory before and after", () => {
  let rss = 600 * 2 ** 20;
  const calls: unknown[] = [];
  const collected = collectGarbage(
    (options) => {
      calls.push(options);
      rss = 450 * 2 ** 20;
    },
    () => ({ rss, heapUsed: 260 * 2 ** 20 }),
    (pad) => {
      calls.push(`trim ${pad}`);
      rss = 400 * 2 ** 20;
      return 1;
    },
  );
  assertEquals(calls, [{ type: "major", execution: "sync", flavor: "last-resort" }, "trim 0"]);
  assertEquals(collected?.rssBeforeMiB, 600);
  assertEquals(collected?.rssAfterMiB, 400);
  assertEquals(collected?.heapUsedMiB, 260);
});

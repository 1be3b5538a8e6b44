/**
 * Kernel test: the chaos battery's fast subset (scenarios marked `fast`, at their small size),
 * each its own test, each clean by the audit. `deno task chaos` runs the full battery. Needs root.
 * @module
 */
import { assert } from "./assert.ts";
import { SCENARIOS } from "./chaos/catalogue.ts";
import { formatEntry, runChaos } from "./chaos/run_chaos.ts";

const SEED = Number(Deno.env.get("TERN_CHAOS_SEED") ?? "1");

for (const scenario of SCENARIOS.filter((s) => s.fast)) {
  Deno.test(`chaos ${scenario.name}: ${scenario.summary}`, async () => {
    const [entry] = await runChaos([scenario], { seed: SEED, size: "fast" });
    assert(entry!.passed, formatEntry(entry!));
  });
}

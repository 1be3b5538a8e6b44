import { assert, assertEquals, assertRejects } from "../assert.ts";
import { runChaos, scenarioSeed } from "./run_chaos.ts";
import type { ChaosScenario } from "./scenario.ts";

function scenario(name: string, counts: Record<string, number>, fail?: string): ChaosScenario {
  return {
    name,
    summary: name,
    fast: true,
    run: (ctx) => {
      if (fail) return Promise.reject(new Error(fail));
      return Promise.resolve({
        counts: { ...counts, first: ctx.random.int(0, 1_000_000) },
        mustBeZero: ["leaks"],
        problems: [],
      });
    },
  };
}

Deno.test("runChaos passes a scenario whose must-be-zero counts are 0 and fails the others", async () => {
  const entries = await runChaos([
    scenario("a", { leaks: 0, adds: 5 }),
    scenario("b", { leaks: 2 }),
    scenario("c", {}, "Cannot start"),
  ], { seed: 1, size: "fast" });
  assertEquals(entries.map((e) => [e.name, e.passed]), [["a", true], ["b", false], ["c", false]]);
  assert(entries[2]!.error?.includes("Cannot start"));
});

Deno.test("runChaos gives a scenario the same random stream alone as in a whole run", async () => {
  const all = await runChaos([scenario("a", {}), scenario("b", {})], { seed: 9, size: "fast" });
  const alone = await runChaos([scenario("a", {}), scenario("b", {})], {
    seed: 9,
    size: "fast",
    only: ["b"],
  });
  assertEquals(alone[0]!.outcome!.counts.first, all[1]!.outcome!.counts.first);
  assert(scenarioSeed(9, "a") !== scenarioSeed(9, "b"));
});

Deno.test("runChaos refuses an unknown scenario name, naming the known ones", async () => {
  await assertRejects(
    () => runChaos([scenario("a", {})], { seed: 1, size: "fast", only: ["nope"] }),
    Error,
    "Unknown scenario: nope: known are a",
  );
});

Deno.test("runChaos runs a scenario marked onlyWhenNamed only when --only names it", async () => {
  const soak = { ...scenario("soak", {}), onlyWhenNamed: true };
  const all = await runChaos([scenario("a", {}), soak], { seed: 1, size: "fast" });
  assertEquals(all.map((e) => e.name), ["a"]);
  const named = await runChaos([scenario("a", {}), soak], {
    seed: 1,
    size: "fast",
    only: ["soak"],
  });
  assertEquals(named.map((e) => e.name), ["soak"]);
});

/**
 * Every scenario of the chaos battery, in the order `deno task chaos` runs them.
 * @module
 */
import type { ChaosScenario } from "./scenario.ts";
import { concurrentScenario } from "./scenarios/concurrent.ts";

/** The battery. */
export const SCENARIOS: readonly ChaosScenario[] = [
  concurrentScenario,
];

/**
 * Every scenario of the chaos battery, in the order `deno task chaos` runs them.
 * @module
 */
import type { ChaosScenario } from "./scenario.ts";
import { concurrentScenario } from "./scenarios/concurrent.ts";
import { daemonKillScenario } from "./scenarios/daemon_kill.ts";
import { pluginKillScenario } from "./scenarios/plugin_kill.ts";
import { daemonDownScenario } from "./scenarios/daemon_down.ts";

/** The battery. */
export const SCENARIOS: readonly ChaosScenario[] = [
  concurrentScenario,
  daemonKillScenario,
  pluginKillScenario,
  daemonDownScenario,
];

/**
 * Every scenario of the chaos battery, in the order `deno task chaos` runs them.
 * @module
 */
import type { ChaosScenario } from "./scenario.ts";
import { cniMatrixScenario } from "./scenarios/cni_matrix.ts";
import { concurrentScenario } from "./scenarios/concurrent.ts";
import { daemonKillScenario } from "./scenarios/daemon_kill.ts";
import { pluginKillScenario } from "./scenarios/plugin_kill.ts";
import { daemonDownScenario } from "./scenarios/daemon_down.ts";
import { diskFullScenario } from "./scenarios/disk_full.ts";
import { fuzzScenario } from "./scenarios/fuzz.ts";
import { policyRestartScenario } from "./scenarios/policy_restart.ts";
import { soakScenario } from "./scenarios/soak.ts";
import { driftScenario } from "./scenarios/drift.ts";

/** The battery. */
export const SCENARIOS: readonly ChaosScenario[] = [
  cniMatrixScenario,
  concurrentScenario,
  daemonKillScenario,
  pluginKillScenario,
  daemonDownScenario,
  diskFullScenario,
  fuzzScenario,
  policyRestartScenario,
  driftScenario,
  soakScenario,
];

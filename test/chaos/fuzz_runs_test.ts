import { assertEquals } from "../assert.ts";
import { fuzzApi, fuzzConfig, fuzzManifests, fuzzPlugin, type FuzzRun } from "./fuzz_runs.ts";
import { SeededRandom } from "./seeded_random.ts";

/** TERN_CHAOS_SEED replays a run; 13 by default. */
const SEED = Number(Deno.env.get("TERN_CHAOS_SEED") ?? "13");

function clean(run: FuzzRun, what: string, least: { accepted: number; refused: number }) {
  assertEquals(
    run.failures.slice(0, 10),
    [],
    `${what}, seed ${SEED}: ${run.failures.length} of ${run.cases} failed`,
  );
  // The generator reaches both sides of the oracle.
  assertEquals(
    run.accepted >= least.accepted && run.refused >= least.refused,
    true,
    `${what}: ${JSON.stringify({ ...run, failures: undefined })}`,
  );
}

Deno.test("fuzzing the plugin's env and stdin: never a crash, never an invalid input accepted", async () => {
  clean(await fuzzPlugin(new SeededRandom(SEED), 20_000), "plugin", {
    accepted: 2000,
    refused: 2000,
  });
});

Deno.test("fuzzing the daemon's API: always JSON, never a 500, never an invalid request accepted", async () => {
  clean(await fuzzApi(new SeededRandom(SEED), 3000), "API", { accepted: 1000, refused: 400 });
});

Deno.test("fuzzing the daemon's config: only ConfigError, invalid keys refused, accepted configs sound", () => {
  clean(fuzzConfig(new SeededRandom(SEED), 5000), "config", { accepted: 500, refused: 1000 });
});

Deno.test("fuzzing the cluster manifests (files and kubernetes sources): never a throw, never an invalid object accepted", () => {
  clean(fuzzManifests(new SeededRandom(SEED), 3000), "manifests", {
    accepted: 1000,
    refused: 1000,
  });
});

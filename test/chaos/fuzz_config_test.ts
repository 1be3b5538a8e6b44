import { assertEquals } from "../assert.ts";
import { ConfigError, type DaemonConfig, parseConfig } from "../../daemon/config.ts";
import { configProblems, generateConfig } from "./fuzz_config.ts";
import { SeededRandom } from "./seeded_random.ts";

Deno.test("fuzzing the daemon's config: only ConfigError, invalid keys refused, accepted configs sound", () => {
  const seed = Number(Deno.env.get("TERN_CHAOS_SEED") ?? "13");
  const random = new SeededRandom(seed);
  const failures: string[] = [];
  const counts = { cases: 0, accepted: 0, refused: 0 };
  for (let i = 0; i < 5000; i++) {
    const input = generateConfig(random);
    counts.cases++;
    let config: DaemonConfig | undefined;
    try {
      config = parseConfig(input.text, { file: "/etc/tern/ternd.yaml", hostname: "node-1" });
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        failures.push(`case ${i} (${input.mutations.join(", ")}): threw ${String(err)}`);
        continue;
      }
      if (!/^Invalid config \/etc\/tern\/ternd\.yaml: ./.test(err.message)) {
        failures.push(`case ${i}: error does not name the file: ${err.message}`);
      }
    }
    if (config === undefined) {
      counts.refused++;
      continue;
    }
    counts.accepted++;
    const problems = configProblems(config);
    if (input.mustRefuse) problems.unshift("an invalid config was accepted");
    if (problems.length > 0) {
      failures.push(`case ${i} (${input.mutations.join(", ")}): ${problems.join("; ")}`);
    }
  }
  assertEquals(
    failures.slice(0, 10),
    [],
    `seed ${seed}: ${failures.length} of ${counts.cases} failed`,
  );
  assertEquals(counts.accepted > 500 && counts.refused > 1000, true, JSON.stringify(counts));
});

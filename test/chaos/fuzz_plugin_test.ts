import { assertEquals } from "../assert.ts";
import { fakeDaemon, fakeRunner } from "../../plugin/_testing.ts";
import { runSkel } from "../../plugin/skel.ts";
import { silentLogger } from "../../src/log.ts";
import {
  expectedOutcome,
  generatePluginInput,
  judgePluginRun,
  type PluginInput,
  type PluginRun,
} from "./fuzz_plugin.ts";
import { SeededRandom } from "./seeded_random.ts";

const TARGET = { daemonSocket: "/run/tern/ternd.sock", netns: "/var/run/netns/fuzz" };
const netnsExists = (path: string) => path === TARGET.netns;

async function runFake(input: PluginInput): Promise<PluginRun> {
  const daemon = fakeDaemon();
  const runner = fakeRunner();
  let stdout = "";
  const exitCode = await runSkel({
    env: input.env,
    readStdin: () => Promise.resolve(input.stdin),
    writeStdout: (text) => void (stdout += text),
    runner,
    daemon: () => daemon,
    netnsExists,
    logger: () => silentLogger,
    podMac: "0a:58:0a:f4:01:07",
  });
  return { exitCode, stdout, acted: daemon.calls.length > 0 || runner.calls.length > 0 };
}

Deno.test("fuzzing the plugin's env and stdin: never a crash, never an invalid input accepted", async () => {
  const seed = Number(Deno.env.get("TERN_CHAOS_SEED") ?? "13");
  const random = new SeededRandom(seed);
  const failures: string[] = [];
  const counts = { cases: 0, valid: 0, refused: 0 };
  for (let i = 0; i < 20_000; i++) {
    const input = generatePluginInput(random, TARGET);
    const verdict = expectedOutcome(input, netnsExists);
    counts.cases++;
    if (verdict.kind === "valid") counts.valid++;
    else counts.refused++;
    const problems = judgePluginRun(verdict, await runFake(input));
    if (problems.length > 0) {
      failures.push(
        `case ${i} (${input.env.CNI_COMMAND}; ${input.mutations.join(", ")}): ${
          problems.join("; ")
        }`,
      );
    }
  }
  assertEquals(
    failures.slice(0, 10),
    [],
    `seed ${seed}: ${failures.length} of ${counts.cases} failed`,
  );
  // The generator reaches both sides of the oracle.
  assertEquals(counts.valid > 2000 && counts.refused > 2000, true, JSON.stringify(counts));
});

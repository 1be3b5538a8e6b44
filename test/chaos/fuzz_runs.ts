/**
 * Scenario 9's four fuzzers as bounded runs: each draws `cases` inputs from a seeded stream,
 * feeds them to the real code (the plugin's protocol path with a fake daemon and `ip`; the API
 * handler over a real Ipam on an in-memory KV; the config parser; the manifest parser as the
 * `files` and the `kubernetes` sources use it), judges every answer and returns its counts and
 * failures. The unit tests and the `fuzz` chaos scenario both run these.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { silentLogger } from "../../src/log.ts";
import { parseManifestObject, parseManifests } from "../../src/cluster/manifest.ts";
import { createHandler } from "../../daemon/api/handler.ts";
import { ConfigError, type DaemonConfig, parseConfig } from "../../daemon/config.ts";
import { Ipam } from "../../daemon/ipam/ipam.ts";
import type { HostDataplane } from "../../daemon/routing/dataplane.ts";
import { fakeDaemon, fakePodLinks, fakeRunner } from "../../plugin/_testing.ts";
import { runSkel } from "../../plugin/skel.ts";
import { expectedApi, generateApiRequest, judgeApiRun } from "./fuzz_api.ts";
import { configProblems, generateConfig } from "./fuzz_config.ts";
import { generateManifest, resourceProblems } from "./fuzz_manifests.ts";
import { expectedOutcome, generatePluginInput, judgePluginRun } from "./fuzz_plugin.ts";
import type { SeededRandom } from "./seeded_random.ts";

/** What one fuzzer run found. */
export interface FuzzRun {
  cases: number;
  /** Inputs the oracle (or the parser) took as valid. */
  accepted: number;
  /** Inputs refused. */
  refused: number;
  /** One line per failed case: its number, its mutations and the problems. */
  failures: string[];
}

const TARGET = { daemonSocket: "/run/tern/ternd.sock", netns: "/var/run/netns/fuzz" };

/** The plugin's environment and stdin through `runSkel` with fakes. */
export async function fuzzPlugin(random: SeededRandom, cases: number): Promise<FuzzRun> {
  const run: FuzzRun = { cases: 0, accepted: 0, refused: 0, failures: [] };
  const netnsExists = (path: string) => path === TARGET.netns;
  for (let i = 0; i < cases; i++) {
    const input = generatePluginInput(random, TARGET);
    const verdict = expectedOutcome(input, netnsExists);
    run.cases++;
    if (verdict.kind === "valid") run.accepted++;
    else run.refused++;
    const daemon = fakeDaemon();
    const runner = fakeRunner();
    const links = fakePodLinks();
    let stdout = "";
    const exitCode = await runSkel({
      env: input.env,
      readStdin: () => Promise.resolve(input.stdin),
      writeStdout: (text) => void (stdout += text),
      runner,
      podLinks: links,
      daemon: () => daemon,
      netnsExists,
      logger: () => silentLogger,
      podMac: "0a:58:0a:f4:01:07",
    });
    const acted = daemon.calls.length > 0 || runner.calls.length > 0 || links.calls.length > 0;
    const problems = judgePluginRun(verdict, { exitCode, stdout, acted });
    if (problems.length > 0) {
      run.failures.push(
        `case ${i} (${input.env.CNI_COMMAND}; ${input.mutations.join(", ")}): ${
          problems.join("; ")
        }`,
      );
    }
  }
  return run;
}

/** A dataplane that always succeeds: the API fuzzer is about the API's edge, not the kernel. */
const okDataplane: HostDataplane = {
  programEndpoint: (_ep: Endpoint) => Promise.resolve(),
  removeEndpoint: (_ep: Endpoint) => Promise.resolve(),
};

async function kvSnapshot(kv: Deno.Kv): Promise<string> {
  const entries: unknown[] = [];
  for await (const e of kv.list({ prefix: [] })) entries.push([e.key, e.value]);
  return JSON.stringify(entries);
}

/** Requests to the daemon's API handler over a real Ipam on an in-memory KV. */
export async function fuzzApi(random: SeededRandom, cases: number): Promise<FuzzRun> {
  const run: FuzzRun = { cases: 0, accepted: 0, refused: 0, failures: [] };
  const kv = await Deno.openKv(":memory:");
  try {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"], releaseCooldownMs: 0 });
    const handler = createHandler({
      ipam,
      dataplane: okDataplane,
      lock: new Mutex(),
      node: "node-1",
      startedAt: 0,
    });
    for (let i = 0; i < cases; i++) {
      const input = await generateApiRequest(random);
      const verdict = await expectedApi(input);
      run.cases++;
      if (verdict.kind === "valid") run.accepted++;
      else run.refused++;
      const post = input.method === "POST";
      const before = post ? await kvSnapshot(kv) : "";
      const init: RequestInit = { method: input.method };
      if (input.body !== undefined) init.body = input.body;
      const res = await handler(new Request(`http://ternd${input.path}`, init));
      const text = await res.text();
      const problems = judgeApiRun(verdict, {
        status: res.status,
        contentType: res.headers.get("content-type"),
        text,
        kvChanged: post && (await kvSnapshot(kv)) !== before,
      });
      if (problems.length > 0) {
        run.failures.push(
          `case ${i} (${input.method} ${input.path}; ${input.mutations.join(", ")}): ${
            problems.join("; ")
          }`,
        );
      }
    }
  } finally {
    kv.close();
  }
  return run;
}

/** The daemon's config file through `parseConfig`. */
export function fuzzConfig(random: SeededRandom, cases: number): FuzzRun {
  const run: FuzzRun = { cases: 0, accepted: 0, refused: 0, failures: [] };
  for (let i = 0; i < cases; i++) {
    const input = generateConfig(random);
    run.cases++;
    let config: DaemonConfig | undefined;
    try {
      config = parseConfig(input.text, { file: "/etc/tern/ternd.yaml", hostname: "node-1" });
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        run.failures.push(`case ${i} (${input.mutations.join(", ")}): threw ${String(err)}`);
        continue;
      }
      if (!/^Invalid config \/etc\/tern\/ternd\.yaml: ./.test(err.message)) {
        run.failures.push(`case ${i}: error does not name the file: ${err.message}`);
      }
    }
    if (config === undefined) {
      run.refused++;
      continue;
    }
    run.accepted++;
    const problems = configProblems(config);
    if (input.mustRefuse) problems.unshift("an invalid config was accepted");
    if (problems.length > 0) {
      run.failures.push(`case ${i} (${input.mutations.join(", ")}): ${problems.join("; ")}`);
    }
  }
  return run;
}

/** Cluster objects as the `files` source reads text and the `kubernetes` source reads objects. */
export function fuzzManifests(random: SeededRandom, cases: number): FuzzRun {
  const run: FuzzRun = { cases: 0, accepted: 0, refused: 0, failures: [] };
  for (let i = 0; i < cases; i++) {
    const input = generateManifest(random);
    const damaged = input.mutations.some((m) => m.startsWith("text damaged"));
    const parsers = [
      ["files", () => parseManifests(input.text, { file: "/etc/tern/cluster/x.yaml" })],
      ["kubernetes", () => parseManifestObject(structuredClone(input.object), { file: "api" })],
    ] as const;
    for (const [source, parse] of parsers) {
      // A damaged text is a different object; only the files source reads it.
      if (source === "kubernetes" && damaged) continue;
      run.cases++;
      let parsed;
      try {
        parsed = parse();
      } catch (err) {
        run.failures.push(
          `case ${i} ${source} (${input.mutations.join(", ")}): threw ${String(err)}`,
        );
        continue;
      }
      if (parsed.resources.length > 0) run.accepted++;
      else run.refused++;
      const problems = parsed.resources.flatMap(resourceProblems);
      if (input.mustReject && parsed.resources.length > 0) {
        problems.unshift("an invalid object was accepted");
      }
      if (parsed.resources.length === 0 && parsed.errors.length === 0) {
        problems.push("nothing accepted and no error reported");
      }
      if (problems.length > 0) {
        run.failures.push(
          `case ${i} ${source} (${input.mutations.join(", ")}): ${problems.join("; ")}`,
        );
      }
    }
  }
  return run;
}

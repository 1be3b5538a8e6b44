/**
 * Scenario 9: seeded fuzzing. The four fuzzers of `test/chaos/fuzz_runs.ts` (the plugin's
 * environment and stdin, the daemon's API, its config file, the cluster manifests of both
 * sources) at the battery's size, then the API fuzzer's requests on a real daemon's socket in a
 * sandbox node: the daemon must still answer afterwards, and once every attachment the accepted
 * requests made is released, the audit must find nothing left. Reproduce with `--seed`.
 * @module
 */
import { auditNode } from "../audit.ts";
import { outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import { generateApiRequest } from "../fuzz_api.ts";
import { fuzzApi, fuzzConfig, fuzzManifests, fuzzPlugin, type FuzzRun } from "../fuzz_runs.ts";
import type { ChaosScenario } from "../scenario.ts";

const SIZES = {
  fast: { plugin: 2000, api: 500, config: 500, manifests: 500, socket: 200 },
  full: { plugin: 100_000, api: 20_000, config: 30_000, manifests: 30_000, socket: 3000 },
};

/** Scenario 9 of issue 13. */
export const fuzzScenario: ChaosScenario = {
  name: "fuzz",
  summary:
    "9. seeded fuzzing of plugin input, API, config, manifests: no crash, nothing invalid accepted",
  fast: true,
  run: async (ctx) => {
    const size = SIZES[ctx.size];
    const runs: [string, FuzzRun][] = [
      ["plugin", await fuzzPlugin(ctx.random.fork(), size.plugin)],
      ["api", await fuzzApi(ctx.random.fork(), size.api)],
      ["config", fuzzConfig(ctx.random.fork(), size.config)],
      ["manifests", fuzzManifests(ctx.random.fork(), size.manifests)],
    ];
    const counts: Record<string, number> = {};
    const problems: string[] = [];
    for (const [name, run] of runs) {
      counts[`${name}Cases`] = run.cases;
      counts[`${name}Refused`] = run.refused;
      counts[`${name}Failures`] = run.failures.length;
      problems.push(...run.failures.slice(0, 5).map((f) => `${name}: ${f}`));
      ctx.log(
        `fuzz ${name}: ${run.cases} cases, ${run.refused} refused, ${run.failures.length} failed`,
      );
    }
    const socketRandom = ctx.random.fork();
    return await withChaosNode({}, async (_sb, node) => {
      const client = Deno.createHttpClient({ proxy: { transport: "unix", path: node.socket } });
      const call = async (method: string, path: string, body?: BodyInit) => {
        const init: RequestInit & { client: Deno.HttpClient } = { method, client };
        if (body !== undefined) init.body = body;
        const res = await fetch(`http://ternd${path}`, init);
        return { status: res.status, text: await res.text() };
      };
      try {
        let status500 = 0;
        let notJson = 0;
        for (let i = 0; i < size.socket; i++) {
          const input = await generateApiRequest(socketRandom);
          const res = await call(input.method, input.path, input.body);
          if (res.status === 500) {
            status500++;
            problems.push(`socket case ${i} (${input.mutations.join(", ")}): 500 ${res.text}`);
          }
          try {
            JSON.parse(res.text);
          } catch {
            notJson++;
          }
        }
        const alive = (await call("GET", "/v1/status")).status === 200 ? 0 : 1;
        // Release what the accepted allocations made (they have no veth: the audit counts leaks).
        const { endpoints } = JSON.parse((await call("GET", "/v1/endpoints")).text) as {
          endpoints: { containerID: string; ifname: string; network: string }[];
        };
        for (const ep of endpoints) {
          await call("POST", "/v1/endpoints/release", JSON.stringify(ep));
        }
        const audit = await auditNode(node, { live: [], timeoutMs: 5_000 });
        return outcomeWithAudit(
          {
            ...counts,
            socketCases: size.socket,
            socket500: status500,
            socketNotJson: notJson,
            daemonDead: alive,
            socketAttachments: endpoints.length,
          },
          audit,
          {
            alsoZero: [
              ...runs.map(([name]) => `${name}Failures`),
              "socket500",
              "socketNotJson",
              "daemonDead",
            ],
            problems,
          },
        );
      } finally {
        client.close();
      }
    });
  },
};

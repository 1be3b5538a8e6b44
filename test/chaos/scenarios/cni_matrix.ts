/**
 * Scenario 1: the CNI spec matrix against the real plugin and daemon in a sandbox node. A seeded
 * sample of the matrix (`test/chaos/cni_matrix.ts`: command × cniVersion × prevResult × fault)
 * is run as a runtime runs the plugin: a process in the node's netns, exactly the generated
 * environment (nothing inherited but what Deno needs to start) and the generated stdin bytes.
 * Each invalid case must get its spec code; each valid ADD is followed by its DEL. Afterwards
 * the daemon holds no attachment and the audit finds nothing: no address, veth, route, rule or
 * policy element was left by any of them. The full matrix runs with fakes in the unit test.
 * @module
 */
import { ternCommand } from "../../sandbox.ts";
import { auditNode } from "../audit.ts";
import { outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import { type CniCase, cniMatrix, judge, matrixSize } from "../cni_matrix.ts";
import type { ChaosScenario } from "../scenario.ts";

const SIZES = { fast: 40, full: 400 };

/** The codes a plugin gives for its input; any other failure means it got past validation. */
const INPUT_CODES = new Set([1, 2, 4, 6, 7]);

/** Runs the plugin in `netns` with exactly `c`'s environment and stdin. */
async function runPlugin(netns: string, c: CniCase): Promise<{ code: number; stdout: string }> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TERN_BIN"].flatMap((k) => {
    const v = Deno.env.get(k);
    return v === undefined ? [] : [`${k}=${v}`];
  });
  const env = Object.entries(c.env).map(([k, v]) => `${k}=${v}`);
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", netns, "env", "-i", ...keep, ...env, ...ternCommand()],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(c.stdin).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

/** Scenario 1 of issue 13. */
export const cniMatrixScenario: ChaosScenario = {
  name: "cni-matrix",
  summary: "1. the CNI spec matrix on the real plugin and daemon: spec codes, nothing allocated",
  fast: true,
  run: (ctx) =>
    withChaosNode({}, async (sb, node) => {
      const pod = await sb.addPod(node, "matrix");
      const total = matrixSize().cases;
      const want = SIZES[ctx.size];
      const chosen = new Set<number>();
      while (chosen.size < want) chosen.add(ctx.random.int(0, total - 1));
      const target = {
        daemonSocket: node.socket,
        netns: pod.netnsPath,
        missingNetns: `${pod.netnsPath}-gone`,
        containerPrefix: `${sb.prefix}m`,
        extraConf: { logFile: `${node.dir}/plugin.log` },
      };
      const counts = {
        cases: 0,
        cliRole: 0,
        valid: 0,
        refused: 0,
        wrong: 0,
        addsRun: 0,
        delFailures: 0,
      };
      const problems: string[] = [];
      // The sample, and every plain ADD (each version, no prevResult, no fault): the valid ones
      // wire a pod for real and are deleted again, the others must be refused.
      const plainAdd = (d: { command: string; prev: string; fault: string }) =>
        d.command === "ADD" && d.prev === "no prevResult" && d.fault === "no fault";
      const cases = [
        ...cniMatrix(target, { select: (i) => chosen.has(i) }),
        ...cniMatrix(target, { where: plainAdd }),
      ];
      for (const c of cases) {
        // Without CNI_COMMAND the executable is the operator CLI (main.ts chooses the role by
        // it): that case is the plugin core's alone, covered by the unit matrix.
        if (!c.env.CNI_COMMAND) {
          counts.cliRole++;
          continue;
        }
        counts.cases++;
        if (c.expect.kind === "valid") counts.valid++;
        else counts.refused++;
        const out = await runPlugin(node.netns, c);
        let code: unknown;
        try {
          code = JSON.parse(out.stdout).code;
        } catch {
          code = undefined;
        }
        const acted = out.code === 0 || (typeof code === "number" && !INPUT_CODES.has(code));
        const found = judge(c, { exitCode: out.code, stdout: out.stdout, acted });
        if (found.length > 0) {
          counts.wrong++;
          problems.push(`${c.name}: ${found.join("; ")}`);
        }
        if (c.command === "ADD" && out.code === 0) {
          counts.addsRun++;
          const del = await runPlugin(node.netns, { ...c, env: { ...c.env, CNI_COMMAND: "DEL" } });
          if (del.code !== 0) {
            counts.delFailures++;
            problems.push(`DEL after ${c.name}: exit ${del.code}: ${del.stdout.slice(0, 200)}`);
          }
        }
      }
      ctx.log(`cni-matrix: ${counts.cases} cases of ${total}, ${counts.wrong} wrong`);
      const audit = await auditNode(node, { live: [], timeoutMs: 5_000 });
      return outcomeWithAudit(counts, audit, { alsoZero: ["wrong", "delFailures"], problems });
    }),
};

/**
 * Scenario 4: the plugin killed with SIGKILL at a random point of ADD or of DEL, then the
 * runtime's answer as libcni-based runtimes give it: a failed ADD is torn down with DEL, a failed
 * DEL is retried. After the retried DEL nothing of the pod may be left (address, veth, route,
 * rule, ready mark, table entry), and the pods ADDed whole stay intact.
 * @module
 */
import { auditNode } from "../audit.ts";
import { makePods, outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import type { ChaosScenario } from "../scenario.ts";
import { type Sandbox, type SandboxPod, ternCommand } from "../../sandbox.ts";
import type { SeededRandom } from "../seeded_random.ts";

const SIZES = {
  fast: { rounds: 8, lanes: 2 },
  full: { rounds: 120, lanes: 4 },
};

/** Scenario 4 of issue 13. */
export const pluginKillScenario: ChaosScenario = {
  name: "plugin-kill",
  summary: "4. the plugin SIGKILLed mid-ADD and mid-DEL, then libcni's retry: nothing left",
  fast: true,
  run: (ctx) => {
    const size = SIZES[ctx.size];
    return withChaosNode({}, async (sb, node) => {
      // How long a whole ADD and DEL take here, so the kills fall anywhere in them.
      const [probe] = await makePods(sb, node, 1);
      let t = Date.now();
      await runPlugin(sb, probe!, "ADD", Infinity);
      const addMs = Date.now() - t;
      t = Date.now();
      await runPlugin(sb, probe!, "DEL", Infinity);
      const delMs = Date.now() - t;
      ctx.log(`plugin-kill: ADD takes ${addMs} ms, DEL ${delMs} ms here`);

      const counts = {
        rounds: 0,
        addKilled: 0,
        addFinished: 0,
        delKilled: 0,
        delFinished: 0,
        retriedDelFailures: 0,
        addFailures: 0,
      };
      const problems: string[] = [];
      const survivors: SandboxPod[] = [];
      const lane = async (random: SeededRandom, pods: SandboxPod[]) => {
        for (const pod of pods) {
          counts.rounds++;
          if (random.chance(0.5)) {
            const killed = await runPlugin(sb, pod, "ADD", random.int(0, Math.ceil(addMs * 1.2)));
            if (killed) counts.addKilled++;
            else counts.addFinished++;
          } else {
            try {
              await sb.driverAdd(pod);
            } catch (err) {
              counts.addFailures++;
              problems.push(`ADD ${pod.name}: ${err instanceof Error ? err.message : err}`);
            }
            const killed = await runPlugin(sb, pod, "DEL", random.int(0, Math.ceil(delMs * 1.2)));
            if (killed) counts.delKilled++;
            else counts.delFinished++;
          }
          // The runtime's retry: DEL through libcni, until it succeeds (bounded).
          let ok = false;
          for (let attempt = 0; attempt < 20 && !ok; attempt++) {
            try {
              await sb.driverDel(pod);
              ok = true;
            } catch (err) {
              problems.push(`retried DEL ${pod.name}: ${err instanceof Error ? err.message : err}`);
              await new Promise((r) => setTimeout(r, 200));
            }
          }
          if (!ok) counts.retriedDelFailures++;
          delete pod.ip;
          // Every few rounds a pod is ADDed whole and kept: the kills must not touch it.
          if (random.chance(0.15)) {
            const [keep] = await makePods(sb, node, 1);
            await sb.driverAdd(keep!);
            survivors.push(keep!);
          }
        }
      };
      const pods = await makePods(sb, node, size.rounds);
      const lanes = Array.from(
        { length: size.lanes },
        (_, i) => pods.filter((_, j) => j % size.lanes === i),
      );
      await Promise.all(lanes.map((p) => lane(ctx.random.fork(), p)));
      const audit = await auditNode(node, { live: survivors, readyMarks: true, timeoutMs: 10_000 });
      return outcomeWithAudit(
        { ...counts, survivors: survivors.length, settledMs: audit.settledMs },
        audit,
        { alsoZero: ["retriedDelFailures", "addFailures"], problems },
      );
    });
  },
};

/**
 * Runs the plugin for `pod` (CNI env, netconf on stdin, inside the node's netns, as a runtime
 * does) and kills it with SIGKILL after `killAfterMs` unless it finished first. Returns whether
 * it was killed.
 */
async function runPlugin(
  sb: Sandbox,
  pod: SandboxPod,
  command: "ADD" | "DEL",
  killAfterMs: number,
): Promise<boolean> {
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerID,
    CNI_IFNAME: pod.ifname,
    CNI_NETNS: pod.netnsPath,
    CNI_PATH: "/usr/lib/cni",
    CNI_ARGS: Object.entries(sb.cniArgs(pod)).map(([k, v]) => `${k}=${v}`).join(";"),
  };
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      pod.node.netns,
      "env",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...ternCommand(),
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(sb.netconf(pod.node))));
  await writer.close();
  let killed = false;
  const timer = Number.isFinite(killAfterMs)
    ? setTimeout(() => {
      try {
        child.kill("SIGKILL");
        killed = true;
      } catch {
        // it finished just now
      }
    }, killAfterMs)
    : undefined;
  const status = await child.status;
  clearTimeout(timer);
  return killed && status.signal === "SIGKILL";
}

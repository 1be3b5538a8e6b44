/**
 * Scenario 3: pods churn (ADD and DEL at random, through libcni) while ternd is killed with
 * SIGKILL at random moments, some during its start-up, and started again. Once the daemon is up
 * for good and the churn stops, the audit must be clean and every live pod must keep its
 * address and route and be reachable from the node.
 * @module
 */
import { auditNode } from "../audit.ts";
import { makePods, outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import { Churn } from "../churn.ts";
import type { ChaosScenario } from "../scenario.ts";

const SIZES = {
  fast: { pods: 6, kills: 3, workers: 2, maxUpMs: 1_500 },
  full: { pods: 24, kills: 50, workers: 4, maxUpMs: 3_000 },
};

/** Scenario 3 of issue 13. */
export const daemonKillScenario: ChaosScenario = {
  name: "daemon-kill",
  summary: "3. churn while ternd is SIGKILLed at random moments: clean audit, live pods intact",
  fast: true,
  run: (ctx) => {
    const size = SIZES[ctx.size];
    return withChaosNode({}, async (sb, node) => {
      const pods = await makePods(sb, node, size.pods);
      const churn = new Churn(sb, node, pods, ctx.random.fork(), { workers: size.workers });
      churn.start();
      let kills = 0;
      let killedStarting = 0;
      let startFailures = 0;
      try {
        for (let i = 0; i < size.kills; i++) {
          // Up for a random while (sometimes not even until it answers), then SIGKILL.
          const upMs = ctx.random.int(0, size.maxUpMs);
          if (node.daemon === undefined) {
            const started = sb.startDaemon(node).then(() => true, () => false);
            const ready = await Promise.race([started, sleep(upMs).then(() => undefined)]);
            if (ready === undefined) killedStarting++;
            await sb.stopDaemon(node, "SIGKILL");
            await started;
          } else {
            await sleep(upMs);
            await sb.stopDaemon(node, "SIGKILL");
          }
          kills++;
          if (i % 10 === 9) ctx.log(`daemon-kill: ${kills} kills, ${churn.counts.adds} ADDs`);
          await sleep(ctx.random.int(0, 300));
        }
        for (let attempt = 0; node.daemon === undefined; attempt++) {
          try {
            await sb.startDaemon(node);
          } catch (err) {
            startFailures++;
            ctx.log(`daemon-kill: start failed: ${err instanceof Error ? err.message : err}`);
            if (attempt >= 3) throw err;
          }
        }
        // Let the churn run against the recovered daemon for a moment, then stop it.
        await sleep(1_000);
      } finally {
        await churn.stop();
      }
      const live = [...churn.live];
      const audit = await auditNode(node, { live, readyMarks: true, timeoutMs: 15_000 });
      let unreachable = 0;
      for (const pod of live) if (!(await sb.ping(node.netns, pod.ip!))) unreachable++;
      await churn.drain();
      const drained = await auditNode(node, { live: [], timeoutMs: 10_000 });
      return outcomeWithAudit(
        {
          kills,
          killedStarting,
          startFailures,
          ...churn.counts,
          live: live.length,
          unreachable,
          stuck: churn.stuck.size,
          errors: churn.errors.length,
          settledMs: audit.settledMs,
          auditAfterDrain: drained.problems.length,
        },
        audit,
        {
          alsoZero: ["unreachable", "stuck", "errors", "auditAfterDrain", "startFailures"],
          problems: [
            ...churn.errors,
            ...drained.problems.map((p) => `after the last DELs: ${p}`),
          ],
        },
      );
    });
  },
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

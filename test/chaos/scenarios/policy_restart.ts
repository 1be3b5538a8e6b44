/**
 * Scenario 6: ternd restarted again and again under a deny policy (SIGKILL or SIGTERM, down for
 * a random while), on the three-node policy lab, while probes run without pause: a denied flow
 * must never pass, the allowed ones must pass again once the daemon is back, and the restarted
 * node's audit must be clean (the ready marks included).
 * @module
 */
import { keysOf, PolicyLab } from "../../policy_lab.ts";
import { auditNode } from "../audit.ts";
import { outcomeWithAudit } from "../chaos_node.ts";
import type { ChaosScenario } from "../scenario.ts";

const SIZES = { fast: { restarts: 2 }, full: { restarts: 12 } };

/** Scenario 6 of issue 13. */
export const policyRestartScenario: ChaosScenario = {
  name: "policy-restart",
  summary: "6. ternd restarted under a deny policy: denied probes never pass",
  fast: false,
  run: async (ctx) => {
    const size = SIZES[ctx.size];
    const lab = await PolicyLab.create();
    try {
      const items = [{
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny-all", namespace: "x" },
        spec: { podSelector: {}, policyTypes: ["Ingress"] },
      }];
      await lab.cluster.applyAll(items);
      await lab.settled(keysOf(items));
      // node-1 runs x/a and y/b; denied: into x/a; allowed: out of x/a, into y/b.
      const denied: [string, string][] = [["y/b", "x/a"], ["z/a", "x/a"], ["y/a", "x/a"]];
      const allowed: [string, string][] = [["x/a", "y/b"], ["z/c", "y/b"], ["y/c", "y/b"]];
      const counts = {
        restarts: 0,
        sigkills: 0,
        deniedTried: 0,
        deniedPassed: 0,
        allowedTried: 0,
        allowedPassed: 0,
        allowedAfter: 0,
        allowedAfterFailed: 0,
        deniedAfterPassed: 0,
      };
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const [d, a] = await Promise.all([
            Promise.all(denied.map(([s, r]) => lab.probe(s, r, "tcp/80", 200))),
            Promise.all(allowed.map(([s, r]) => lab.probe(s, r, "tcp/80", 200))),
          ]);
          counts.deniedTried += d.length;
          counts.deniedPassed += d.filter(Boolean).length;
          counts.allowedTried += a.length;
          counts.allowedPassed += a.filter(Boolean).length;
        }
      };
      const loop = Promise.all([worker(), worker(), worker(), worker()]);
      const node1 = lab.node(1);
      try {
        for (let i = 0; i < size.restarts; i++) {
          const kill = ctx.random.chance(0.5);
          if (kill) counts.sigkills++;
          await lab.cluster.sb.stopDaemon(node1, kill ? "SIGKILL" : "SIGTERM");
          await sleep(ctx.random.int(0, 1_000));
          await lab.cluster.sb.startDaemon(node1);
          counts.restarts++;
          await sleep(ctx.random.int(0, 1_000));
        }
        await lab.settled(keysOf(items));
        await sleep(500);
      } finally {
        stop = true;
        await loop;
      }
      for (const [s, r] of allowed) {
        counts.allowedAfter++;
        if (!(await lab.probe(s, r, "tcp/80"))) counts.allowedAfterFailed++;
      }
      for (const [s, r] of denied) if (await lab.probe(s, r, "tcp/80")) counts.deniedAfterPassed++;
      const live = [...lab.sandboxPods.values()].filter((p) => p.node === node1);
      const audit = await auditNode(node1, {
        live,
        readyMarks: true,
        podRanges: ["10.244.1.0/24"],
        timeoutMs: 10_000,
      });
      return outcomeWithAudit(counts, audit, {
        alsoZero: ["deniedPassed", "allowedAfterFailed", "deniedAfterPassed"],
      });
    } finally {
      await lab.cleanup();
    }
  },
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

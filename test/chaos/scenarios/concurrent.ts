/**
 * Scenario 2: a burst of concurrent ADDs on one node, some beyond the pool on purpose, then as
 * many concurrent DELs, all through libcni as a runtime runs them. Every ADD within the pool
 * succeeds with its own address, every ADD beyond it fails with the pool's exhaustion and
 * nothing else, every DEL succeeds, and afterwards nothing is left: no address, veth, route.
 * @module
 */
import { bulk, isExhaustion, makePods, outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import { auditNode } from "../audit.ts";
import type { ChaosScenario } from "../scenario.ts";

/** Sizes: pods added at once, and the pool (fewer usable addresses than pods: 6 exhaust). */
const SIZES = {
  fast: { pods: 36, podCIDR: "10.244.1.0/27", capacity: 30 },
  full: { pods: 260, podCIDR: "10.244.1.0/24", capacity: 254 },
};

/** Scenario 2 of issue 13. */
export const concurrentScenario: ChaosScenario = {
  name: "concurrent",
  summary: "2. concurrent ADDs beyond a pool, then concurrent DELs: no duplicate, no leak",
  fast: true,
  run: (ctx) => {
    const size = SIZES[ctx.size];
    // A runtime bounds a whole ADD, not each request to the daemon: 260 plugin processes at
    // once on two cores wait seconds for CPU, and the default 10 s bound counted that against
    // the daemon (18 to 130 of 260 ADDs failed with code 11 at load 26 to 65).
    const plugin = { daemonTimeoutMs: 120_000 };
    return withChaosNode({ podCIDR: size.podCIDR, plugin }, async (sb, node) => {
      const pods = await makePods(sb, node, size.pods);
      ctx.log(`concurrent: ${pods.length} ADDs at once into ${size.podCIDR}`);
      const t0 = Date.now();
      const added = await bulk(sb, node, "add", ctx.random.shuffle(pods), pods.length);
      const addMs = Date.now() - t0;
      const ok = added.filter((r) => r.ok);
      const exhausted = added.filter((r) => !r.ok && isExhaustion(r.error));
      const failed = added.filter((r) => !r.ok && !isExhaustion(r.error));
      const ips = ok.map((r) => r.ips?.[0]);
      const duplicateIps = ips.length - new Set(ips).size;
      const live = pods.filter((p) => ok.some((r) => r.id === p.containerID));
      const afterAdd = await auditNode(node, { live, timeoutMs: 5_000 });

      ctx.log(`concurrent: ${pods.length} DELs at once`);
      const t1 = Date.now();
      const deleted = await bulk(sb, node, "del", ctx.random.shuffle(pods), pods.length);
      const delMs = Date.now() - t1;
      const delFailed = deleted.filter((r) => !r.ok);
      const afterDel = await auditNode(node, { live: [], timeoutMs: 5_000 });
      const problems = [
        ...failed.map((r) => `ADD ${r.id} failed: ${r.error}`),
        ...delFailed.map((r) => `DEL ${r.id} failed: ${r.error}`),
        ...afterAdd.problems.map((p) => `after the ADDs: ${p}`),
      ];
      const wrongExhaustion = Math.abs(exhausted.length - (size.pods - size.capacity));
      return outcomeWithAudit(
        {
          adds: pods.length,
          added: ok.length,
          exhausted: exhausted.length,
          addFailures: failed.length,
          wrongExhaustion,
          duplicateIps,
          auditAfterAdd: afterAdd.problems.length,
          addWallMs: addMs,
          dels: deleted.length,
          delFailures: delFailed.length,
          delWallMs: delMs,
        },
        afterDel,
        {
          alsoZero: [
            "addFailures",
            "wrongExhaustion",
            "duplicateIps",
            "auditAfterAdd",
            "delFailures",
          ],
          problems,
        },
      );
    });
  },
};

/**
 * Scenario 5: ternd down. ADD fails fast with code 11 and leaves nothing; DEL still succeeds
 * (the pod does not stay in Terminating): it deletes the veth, so no route to the pod remains,
 * and queues the release durably; the daemon, started again, drains the queue and frees those
 * addresses, but never one whose host veth exists again (one queued attachment gets its veth
 * back before the start, and must keep its address).
 * @module
 */
import { hostVethName } from "../../../src/names.ts";
import { readQueuedReleases } from "../../../src/release_queue.ts";
import { auditNode, snapshotNode } from "../audit.ts";
import { bulk, makePods, outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import type { ChaosScenario } from "../scenario.ts";

const SIZES = {
  fast: { pods: 6, adds: 3 },
  full: { pods: 60, adds: 20 },
};

/** Scenario 5 of issue 13. */
export const daemonDownScenario: ChaosScenario = {
  name: "daemon-down",
  summary: "5. ternd down: ADD fails fast with 11, DEL succeeds via the durable queue",
  fast: true,
  run: (ctx) => {
    const size = SIZES[ctx.size];
    return withChaosNode({}, async (sb, node) => {
      const pods = await makePods(sb, node, size.pods);
      const added = await bulk(sb, node, "add", pods, 8);
      const addFailures = added.filter((r) => !r.ok).length;
      await sb.stopDaemon(node, "SIGKILL");

      // ADD while down: code 11, fast, nothing left.
      const newcomers = await makePods(sb, node, size.adds);
      let addNot11 = 0;
      let addMaxMs = 0;
      for (const pod of newcomers) {
        const t = Date.now();
        const out = await sb.plugin(pod, "ADD");
        addMaxMs = Math.max(addMaxMs, Date.now() - t);
        if (out.code === 0 || out.json?.code !== 11) addNot11++;
      }

      // DEL while down, through libcni: succeeds, and the veth and route are gone at once.
      const leaving = ctx.random.shuffle(pods).slice(0, Math.ceil(pods.length / 2));
      const staying = pods.filter((p) => !leaving.includes(p));
      const deleted = await bulk(sb, node, "del", leaving, 8);
      const stuckTerminating = deleted.filter((r) => !r.ok).length;
      const snap = await snapshotNode(node);
      const leavingIps = new Set(leaving.map((p) => p.ip!));
      const vethOrRouteLeft = snap.routes.filter((r) => leavingIps.has(r.dst)).length +
        (await Promise.all(leaving.map((p) => hostVethName(p.containerID, p.ifname))))
          .filter((v) => snap.veths.has(v)).length;
      const heldWhileDown = snap.attachments.filter((a) => leavingIps.has(a.ip)).length;
      const queued = (await readQueuedReleases(`${node.dir}/release-queue`)).length;

      // One queued attachment gets its host veth back before the daemon starts: a veth with
      // that name may be a new pod's, so its address must not be freed.
      const revived = leaving[0]!;
      const revivedVeth = await hostVethName(revived.containerID, revived.ifname);
      await sb.exec(node.netns, [
        "ip",
        "link",
        "add",
        revivedVeth,
        "type",
        "veth",
        "peer",
        "name",
        "ternrevpeer",
      ]);

      const t0 = Date.now();
      await sb.startDaemon(node);
      const startMs = Date.now() - t0;
      const after = await snapshotNode(node);
      const releasedWithVeth = after.attachments.some((a) => a.ip === revived.ip) ? 0 : 1;
      await sb.exec(node.netns, ["ip", "link", "del", revivedVeth]);
      await sb.driverDel(revived);
      const queueLeft = (await readQueuedReleases(`${node.dir}/release-queue`)).length;
      const audit = await auditNode(node, { live: staying, readyMarks: true, timeoutMs: 10_000 });

      const rest = await bulk(sb, node, "del", staying, 8);
      const finalDelFailures = rest.filter((r) => !r.ok).length;
      const final = await auditNode(node, { live: [], timeoutMs: 10_000 });
      return outcomeWithAudit(
        {
          pods: pods.length,
          addFailures,
          addsWhileDown: newcomers.length,
          addNot11,
          addMaxMs,
          delsWhileDown: leaving.length,
          stuckTerminating,
          vethOrRouteLeft,
          heldWhileDown,
          queued,
          startMs,
          releasedWithVeth,
          queueLeft,
          finalDelFailures,
          finalAudit: final.problems.length,
        },
        audit,
        {
          alsoZero: [
            "addFailures",
            "addNot11",
            "stuckTerminating",
            "vethOrRouteLeft",
            "releasedWithVeth",
            "queueLeft",
            "finalDelFailures",
            "finalAudit",
          ],
          problems: [
            ...deleted.filter((r) => !r.ok).map((r) => `DEL ${r.id} while down: ${r.error}`),
            ...(queued !== leaving.length
              ? [`${queued} releases queued for ${leaving.length} DELs`]
              : []),
            ...final.problems,
          ],
        },
      );
    });
  },
};

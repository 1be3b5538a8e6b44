/**
 * Scenario 8 on a real full disk: ternd's KV lives on a small tmpfs mounted inside the daemon's
 * own private mount namespace (`unshare -m --propagation private`, inside `ip netns exec`, so no
 * mount is ever made in the host's namespace), which the test fills through
 * `/proc/<ternd>/root`. Then ADDs until SQLite refuses a commit: each failed ADD must answer
 * code 11 and leave no veth, no host route and no record the daemon reports; DEL on the full
 * disk must not leave a route; once the filler is gone, the retried DELs succeed and the audit
 * is clean. The injected variant (every commit of ADD, once and from then on) is
 * `test/chaos/kv_full_test.ts`.
 * @module
 */
import { DaemonClient } from "../../../src/daemon_client.ts";
import { hostVethName } from "../../../src/names.ts";
import { denoRunner } from "../../../src/runner.ts";
import { Sandbox, type SandboxPod } from "../../sandbox.ts";
import { auditNode, snapshotNode } from "../audit.ts";
import { keepLogs, keptLogsDir, outcomeWithAudit } from "../chaos_node.ts";
import type { ChaosScenario } from "../scenario.ts";

const SIZES = { fast: { before: 3, after: 12 }, full: { before: 20, after: 60 } };

/** Fills the file system of `dir` (a path as seen from the test) until it refuses a write. */
async function fill(dir: string): Promise<number> {
  const file = await Deno.open(`${dir}/filler`, { create: true, write: true });
  const chunk = new Uint8Array(4096).fill(0x66);
  let written = 0;
  try {
    for (;;) written += await file.write(chunk);
  } catch {
    // ENOSPC: full.
  } finally {
    file.close();
  }
  return written;
}

/** Scenario 8 of issue 13. */
export const diskFullScenario: ChaosScenario = {
  name: "disk-full",
  summary:
    "8. ternd's KV on a full disk: ADD fails closed with 11, nothing half-made, DEL recovers",
  fast: true,
  run: async (ctx) => {
    const size = SIZES[ctx.size];
    const sb = await Sandbox.create();
    try {
      const node = await sb.addNode("n1", { podCIDR: "10.244.1.0/24" });
      const kvDir = `${node.dir}/kv`;
      await Deno.mkdir(kvDir);
      const config = await Deno.readTextFile(node.config);
      await Deno.writeTextFile(
        node.config,
        config.replace(`stateFile: ${node.stateFile}`, `stateFile: ${kvDir}/state.kv`),
      );
      await sb.startDaemon(node, {
        wrap: [
          "unshare",
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount -t tmpfs -o size=2m tern-chaos-kv "$0" && exec "$@"',
          kvDir,
        ],
      });
      const pid = node.daemon!.pid;
      const seen = `/proc/${pid}/root${kvDir}`;
      node.stateFile = `${seen}/state.kv`;

      const live: SandboxPod[] = [];
      for (let i = 0; i < size.before; i++) {
        const pod = await sb.addPod(node);
        await sb.wire(pod);
        live.push(pod);
      }
      const filled = await fill(seen);
      ctx.log(`disk-full: tmpfs filled with ${filled} bytes`);

      const daemon = new DaemonClient(node.socket, { timeoutMs: 10_000 });
      const counts = {
        neverFull: 0,
        addsOnFullDisk: 0,
        addsRefused: 0,
        refusedNot11: 0,
        halfMade: 0,
        delsOnFullDisk: 0,
        delsLeftRoute: 0,
        delRetryFailures: 0,
      };
      const problems: string[] = [];
      for (let i = 0; i < size.after; i++) {
        const pod = await sb.addPod(node);
        counts.addsOnFullDisk++;
        const out = await sb.plugin(pod, "ADD");
        if (out.code === 0) {
          live.push(pod);
          pod.ip = (out.json?.ips as { address: string }[])[0]!.address.split("/")[0]!;
          continue;
        }
        counts.addsRefused++;
        if (out.json?.code !== 11) {
          counts.refusedNot11++;
          problems.push(`ADD on a full disk: ${out.stdout.trim()}`);
        }
        const veth = await hostVethName(pod.containerID, pod.ifname);
        const vethLeft =
          (await denoRunner(["ip", "-n", node.netns, "link", "show", veth])).code === 0;
        const held = await daemon.endpoint({ containerID: pod.containerID, ifname: pod.ifname })
          .then((ep) => ep !== undefined, () => false);
        if (vethLeft || held) {
          counts.halfMade++;
          problems.push(`failed ADD of ${pod.containerID} left ${held ? "a record" : "a veth"}`);
        }
      }
      if (counts.addsRefused === 0) {
        counts.neverFull = 1;
        problems.push(`the disk never refused a commit in ${size.after} ADDs`);
      }
      // DEL one live pod while the disk is full: whatever the code, no route may stay.
      const leaving = live.shift()!;
      counts.delsOnFullDisk++;
      const del = await sb.plugin(leaving, "DEL");
      const afterDel = await snapshotNode(node, { live }).catch(() => undefined);
      if (afterDel?.routes.some((r) => r.dst === leaving.ip)) {
        counts.delsLeftRoute++;
        problems.push(`DEL on a full disk (exit ${del.code}) left the route to ${leaving.ip}`);
      }
      await Deno.remove(`${seen}/filler`);
      for (const pod of [leaving, ...live]) {
        const out = await sb.plugin(pod, "DEL");
        if (out.code !== 0) {
          counts.delRetryFailures++;
          problems.push(`DEL of ${pod.containerID} with room again: ${out.stdout.trim()}`);
        }
      }
      for (const pod of sb.pods) await sb.plugin(pod, "DEL");
      const audit = await auditNode(node, { live: [], timeoutMs: 5_000 });
      return outcomeWithAudit(counts, audit, {
        alsoZero: ["neverFull", "refusedNot11", "halfMade", "delsLeftRoute", "delRetryFailures"],
        problems,
      });
    } finally {
      const logs = keptLogsDir();
      if (logs !== undefined) await keepLogs(sb, logs);
      await sb.cleanup();
    }
  },
};

/**
 * Scenario 10, the soak: pods churn at a modest rate (a few ADDs and DELs a second, through
 * libcni) for `--minutes` (default 60; the `fast` size runs 20 s), while the daemon's resident
 * memory and open file descriptors are sampled every few seconds. Reported: first and last
 * samples and the least-squares slope of each per hour, after a warm-up. Not in the suite.
 * The audit at the end must be clean.
 * @module
 */
import { DaemonClient } from "../../../src/daemon_client.ts";
import { auditNode } from "../audit.ts";
import { makePods, outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import { Churn } from "../churn.ts";
import { parseSmaps, topFiles } from "../smaps.ts";
import type { ChaosScenario } from "../scenario.ts";

/** One sample of the daemon. */
interface Sample {
  /** Seconds since the churn started. */
  t: number;
  rssKiB: number;
  fds: number;
  /** The daemon's JavaScript heap in use (`tern_js_heap_used_bytes`), KiB; NaN if unread. */
  heapKiB: number;
  /** The JavaScript heap V8 has committed (`tern_js_heap_total_bytes`), KiB; NaN if unread. */
  heapTotalKiB: number;
  /** Memory outside the JS heap that its objects hold (`tern_js_external_bytes`), KiB. */
  externalKiB: number;
  /** Resident `[heap]` (malloc's main arena), anonymous mappings and files, KiB. */
  mallocHeapKiB: number;
  anonKiB: number;
  filesKiB: number;
  /** Size on disk of the KV database and its write-ahead log, KiB. */
  kvKiB: number;
}

/** Least-squares slope of `y` over `x`. Pure. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The value of the sample `name` (no labels) in a Prometheus text, or NaN. Pure. */
export function metricValue(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.slice(name.length + 1).trim().split(" ")[0]);
}

async function fileKiB(path: string): Promise<number> {
  return await Deno.stat(path).then((s) => Math.round(s.size / 1024), () => 0);
}

async function sampleDaemon(
  pid: number,
  client: DaemonClient,
  kvPath: string,
): Promise<{ sample: Omit<Sample, "t">; topFiles: string[] }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  let fds = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) fds++;
  // The heap tells garbage V8 has not collected yet from memory outside it (native buffers).
  const metrics = await client.metrics().catch(() => "");
  const heap = metricValue(metrics, "tern_js_heap_used_bytes");
  const heapTotal = metricValue(metrics, "tern_js_heap_total_bytes");
  const external = metricValue(metrics, "tern_js_external_bytes");
  // Where the resident memory lives: malloc's heap, anonymous pages (V8's among them), files.
  const map = parseSmaps(await Deno.readTextFile(`/proc/${pid}/smaps`));
  const kv = (await fileKiB(kvPath)) + (await fileKiB(`${kvPath}-wal`));
  return {
    sample: {
      rssKiB: rss,
      fds,
      heapKiB: Math.round(heap / 1024),
      heapTotalKiB: Math.round(heapTotal / 1024),
      externalKiB: Math.round(external / 1024),
      mallocHeapKiB: map.heapKiB,
      anonKiB: map.anonKiB,
      filesKiB: Object.values(map.files).reduce((a, b) => a + b, 0),
      kvKiB: kv,
    },
    topFiles: topFiles(map, 2),
  };
}

/** Scenario 10 of issue 13. */
export const soakScenario: ChaosScenario = {
  name: "soak",
  summary: "10. an hour of modest churn: the daemon's RSS and fds stay flat (slope reported)",
  fast: false,
  onlyWhenNamed: true,
  run: (ctx) => {
    const minutes = ctx.minutes ?? (ctx.size === "fast" ? 1 / 3 : 60);
    const sampleEveryS = minutes <= 1 ? 2 : 10;
    return withChaosNode({}, async (sb, node) => {
      const pods = await makePods(sb, node, 20);
      const churn = new Churn(sb, node, pods, ctx.random.fork(), { workers: 2, pauseMs: 400 });
      const pid = node.daemon!.pid;
      const client = new DaemonClient(node.socket, { timeoutMs: 5_000 });
      const samples: Sample[] = [];
      const start = Date.now();
      churn.start();
      try {
        while (Date.now() - start < minutes * 60_000) {
          const { sample: s, topFiles } = await sampleDaemon(pid, client, node.stateFile);
          samples.push({ t: (Date.now() - start) / 1000, ...s });
          // A line a minute: the steps of RSS are matched with where the memory went.
          if (samples.length % Math.round(60 / sampleEveryS) === 0) {
            ctx.log(
              `soak: ${Math.round(samples.at(-1)!.t)} s, RSS ${s.rssKiB} KiB ` +
                `(malloc heap ${s.mallocHeapKiB}, anon ${s.anonKiB}, files ${s.filesKiB}), ` +
                `JS heap ${s.heapKiB}/${s.heapTotalKiB} KiB, external ${s.externalKiB} KiB, KV ${s.kvKiB} KiB, ${s.fds} fds, ` +
                `${churn.counts.adds} ADDs; files: ${topFiles.join(", ")}`,
            );
          }
          await new Promise((r) => setTimeout(r, sampleEveryS * 1000));
        }
      } finally {
        await churn.stop();
      }
      const live = [...churn.live];
      const audit = await auditNode(node, { live, readyMarks: true, timeoutMs: 10_000 });
      await churn.drain();
      // The first fifth is warm-up (JIT, caches, the KV file growing to its working size).
      const steady = samples.filter((s) => s.t >= samples.at(-1)!.t / 5);
      const perHour = (key: Exclude<keyof Sample, "t">) =>
        slope(
          steady.filter((s) => Number.isFinite(s[key])).map((s) => ({ x: s.t / 3600, y: s[key] })),
        );
      const first = samples[0]!;
      const last = samples.at(-1)!;
      return outcomeWithAudit(
        {
          minutes,
          ...churn.counts,
          errors: churn.errors.length,
          samples: samples.length,
          rssFirstKiB: first.rssKiB,
          rssLastKiB: last.rssKiB,
          rssSlopeKiBPerHour: Math.round(perHour("rssKiB")),
          rssMaxKiB: Math.max(...steady.map((s) => s.rssKiB)),
          heapFirstKiB: first.heapKiB,
          heapLastKiB: last.heapKiB,
          heapSlopeKiBPerHour: Math.round(perHour("heapKiB")),
          heapTotalFirstKiB: first.heapTotalKiB,
          heapTotalLastKiB: last.heapTotalKiB,
          mallocHeapFirstKiB: first.mallocHeapKiB,
          mallocHeapLastKiB: last.mallocHeapKiB,
          mallocHeapSlopeKiBPerHour: Math.round(perHour("mallocHeapKiB")),
          anonFirstKiB: first.anonKiB,
          anonLastKiB: last.anonKiB,
          anonSlopeKiBPerHour: Math.round(perHour("anonKiB")),
          filesFirstKiB: first.filesKiB,
          filesLastKiB: last.filesKiB,
          kvFirstKiB: first.kvKiB,
          kvLastKiB: last.kvKiB,
          fdsFirst: first.fds,
          fdsLast: last.fds,
          fdsSlopePerHour: Math.round(perHour("fds") * 10) / 10,
        },
        audit,
        { alsoZero: ["errors"], problems: churn.errors },
      );
    });
  },
};

/**
 * The `ipam-burst` benchmark: a burst of concurrent ADDs on one node, as the daemon's allocator
 * sees it, in `ipam.mode: node-cidr` and in `blocks` mode with the warm pool filled and empty,
 * in the same run. Only the address claim differs between the modes (the veth and namespace work
 * of ADD is the same), so this measures that part alone, in process: each ADD's time from the
 * burst's start to its address (p50, p99), and the claims to the API server an empty warm pool
 * pays. The API server is the in-process fake with `apiDelayMs` added to each request, standing
 * in for a round trip to a real one. Modes alternate round by round to cancel drift.
 * @module
 */
import { nearestRank as percentile } from "./bench_kube_scale.ts";
import { startFakeApiServer } from "../test/fake_apiserver/server.ts";
import { Ipam } from "../daemon/ipam/ipam.ts";
import { openBlocksIpam } from "../daemon/ipam/ipam_blocks.ts";
import { BlockClaimer } from "../src/ipam/block_claimer.ts";
import { KubeClient } from "../src/kube/client.ts";

/** The modes compared. */
export const BURST_MODES = ["node-cidr", "blocks-warm", "blocks-empty"] as const;

/** One mode at one burst size. */
export interface BurstResult {
  mode: typeof BURST_MODES[number];
  burst: number;
  p50Ms: number;
  p99Ms: number;
  /** IPAMBlock creates per burst (median). */
  claims: number;
}

/** Runs the bursts; `rounds` of each mode per size, alternating. */
export async function benchIpamBurst(
  options: { sizes?: number[]; rounds?: number; apiDelayMs?: number } = {},
): Promise<BurstResult[]> {
  const sizes = options.sizes ?? [30, 100];
  const rounds = options.rounds ?? 5;
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const client = new KubeClient({
    server: fake.url,
    caCerts: [],
    namespace: "default",
    origin: "bench",
  });
  fake.create({
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name: "bench" },
    spec: { cidr: "10.64.0.0/12", blockSize: 26 },
  } as never);
  fake.slow({ delayMs: options.apiDelayMs ?? 2 });
  const out: BurstResult[] = [];
  try {
    for (const burst of sizes) {
      const samples = new Map(BURST_MODES.map((m) => [m, [] as number[]]));
      const claims = new Map(BURST_MODES.map((m) => [m, [] as number[]]));
      for (let round = 0; round < rounds; round++) {
        for (const mode of BURST_MODES) {
          const node = `bench-${burst}-${round}-${mode}`;
          const kv = await Deno.openKv(":memory:");
          try {
            let allocate: Ipam["allocate"];
            let stop = () => Promise.resolve();
            if (mode === "node-cidr") {
              const ipam = await Ipam.open(kv, { podCIDRs: ["10.32.0.0/22"] });
              allocate = ipam.allocate.bind(ipam);
            } else {
              const opened = await openBlocksIpam(
                kv,
                new BlockClaimer(client, { nodeName: node }),
                {
                  targets: {
                    // Filled: room for the whole burst; empty: nothing kept ahead.
                    warmIPTarget: mode === "blocks-warm" ? burst : 0,
                    minimumIPTarget: 0,
                    maxBlocks: 64,
                    releaseCooldownMs: 600_000,
                  },
                  pokeDelayMs: 60_000,
                  intervalMs: 600_000,
                },
              );
              await opened.pool.start();
              allocate = opened.ipam.allocate.bind(opened.ipam);
              stop = () => opened.pool.stop();
            }
            const createsBefore = fake.counts.get("create") ?? 0;
            const start = performance.now();
            const times = await Promise.all(
              Array.from({ length: burst }, async (_, i) => {
                await allocate({
                  containerID: `${node}-c${i}`,
                  ifname: "eth0",
                  network: "tern",
                  netns: `/var/run/netns/${node}-c${i}`,
                });
                return performance.now() - start;
              }),
            );
            claims.get(mode)!.push((fake.counts.get("create") ?? 0) - createsBefore);
            samples.get(mode)!.push(...times);
            await stop();
          } finally {
            kv.close();
          }
        }
      }
      for (const mode of BURST_MODES) {
        const c = claims.get(mode)!.sort((a, b) => a - b);
        out.push({
          mode,
          burst,
          p50Ms: percentile(samples.get(mode)!, 50),
          p99Ms: percentile(samples.get(mode)!, 99),
          claims: c[Math.floor(c.length / 2)] ?? 0,
        });
      }
    }
  } finally {
    client.close();
    await fake.close();
  }
  return out;
}

/** The results as a table, with each blocks mode's p50 and p99 as a ratio of node-cidr's. */
export function formatIpamBurst(results: readonly BurstResult[]): string {
  const lines = [
    "burst  mode          p50 ms   p99 ms   p50 ratio  p99 ratio  claims",
  ];
  for (const r of results) {
    const base = results.find((b) => b.burst === r.burst && b.mode === "node-cidr")!;
    lines.push(
      [
        String(r.burst).padEnd(6),
        r.mode.padEnd(13),
        r.p50Ms.toFixed(2).padStart(7),
        r.p99Ms.toFixed(2).padStart(8),
        (r.p50Ms / base.p50Ms).toFixed(2).padStart(10),
        (r.p99Ms / base.p99Ms).toFixed(2).padStart(10),
        String(r.claims).padStart(7),
      ].join(" "),
    );
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  console.log(formatIpamBurst(await benchIpamBurst()));
}

/**
 * The IPAM part's `ipam.mode: blocks` start: a Kubernetes client of its own (same kubeconfig or
 * in-cluster credentials as the cluster source), the {@linkcode BlockClaimer}, the allocator in
 * blocks mode and its warm pool, reconciled with the API server before the daemon serves ADD.
 * The cluster state gives the node's labels (for pools' nodeSelectors) and the names of live
 * nodes (for releasing a deleted node's blocks) — only once it holds this node's own Node, so a
 * Node list that is not in yet never makes every other node look deleted.
 * @module
 */
import { realClock, type TimerHandle } from "../../src/clock.ts";
import type { ClusterState } from "../../src/cluster/state.ts";
import { BlockClaimer } from "../../src/ipam/block_claimer.ts";
import { BlockView } from "../../src/ipam/block_view.ts";
import type { BlockPool, BlockReconcileSummary } from "../../src/ipam/block_pool.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { resolveConnection } from "../../src/kube/kubeconfig.ts";
import type { Logger } from "../../src/log.ts";
import type { DaemonConfig } from "../config.ts";
import type { Ipam } from "./ipam.ts";
import { openBlocksIpam } from "./ipam_blocks.ts";

/** How long start-up waits for the first list of IPAMBlocks before routing goes on without it. */
const VIEW_WAIT_MS = 10_000;

/** The allocator and warm pool of blocks mode, running. */
export interface BlocksMode {
  ipam: Ipam;
  pool: BlockPool;
  /** What start-up reconciliation repaired. */
  summary: BlockReconcileSummary;
  /** Every node's blocks, for routing. */
  view: BlockView;
  /** Stops the pool and closes the client (not the KV database). */
  stop(): Promise<void>;
}

/** Opens blocks mode on `kv`; throws when the API server cannot be read at start. */
export async function startBlocksMode(
  kv: Deno.Kv,
  config: DaemonConfig,
  context: { state: ClusterState; log: Logger; client?: KubeClient },
): Promise<BlocksMode> {
  const { state, log } = context;
  const cluster = config.cluster;
  let client = context.client;
  if (client === undefined) {
    if (cluster?.source !== "kubernetes") {
      throw new Error(
        "Cannot start ipam.mode blocks: it needs cluster.source: kubernetes in the config",
      );
    }
    client = new KubeClient(
      await resolveConnection({ kubeconfig: cluster.kubeconfig, context: cluster.context }),
    );
  }
  const nodeName = config.nodeName;
  const blocks = config.ipam.blocks;
  const view = new BlockView(client, { log });
  const opened = await openBlocksIpam(kv, new BlockClaimer(client, { nodeName, log }), {
    targets: {
      warmIPTarget: blocks.warmIPTarget,
      minimumIPTarget: blocks.minimumIPTarget,
      maxBlocks: blocks.maxBlocks,
      releaseCooldownMs: blocks.releaseCooldownMs,
    },
    nodeLabels: () => state.node(nodeName)?.labels ?? {},
    nodeNames: () => {
      const names = new Set(state.nodes().map((n) => n.name));
      return names.has(nodeName) ? names : undefined;
    },
    clusterBlocks: () => view.blocks(),
    nodeGracePeriodMs: blocks.nodeGracePeriodMs,
    intervalMs: blocks.intervalMs,
    releaseCooldownMs: config.ipam.releaseCooldownMs,
    log,
  });
  const owned = context.client === undefined ? client : undefined;
  // A Node that goes (or comes back) starts or stops a grace period: look at once, not at the
  // next periodic run; a label change may select another pool.
  const unsubscribe = state.subscribe((change) => {
    if (change.type === "reset" || (change.type !== "error" && change.resource.kind === "Node")) {
      opened.pool.poke();
    }
  });
  try {
    const summary = await opened.pool.start();
    // Routing waits for the first list (bounded), so a restart never drops the peers' routes.
    let timer: TimerHandle | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = realClock.setTimeout(() => resolve("late"), VIEW_WAIT_MS);
    });
    const first = await Promise.race([view.start().then(() => "in" as const), late]);
    if (timer !== undefined) realClock.clearTimeout(timer);
    if (first === "late") {
      log.warn("IPAMBlocks are not listed yet; routing goes on without them", {
        waitedMs: VIEW_WAIT_MS,
      });
    }
    log.info("Reconciled blocks with the Kubernetes API", {
      kept: summary.kept,
      adopted: summary.adopted.length,
      reclaimed: summary.reclaimed.length,
      forgotten: summary.forgotten.length,
      conflicts: summary.conflicts.length,
      blocks: opened.ipam.pools.join(","),
    });
    return {
      ipam: opened.ipam,
      pool: opened.pool,
      summary,
      view,
      async stop() {
        unsubscribe();
        await view.stop();
        await opened.pool.stop();
        owned?.close();
      },
    };
  } catch (err) {
    unsubscribe();
    await view.stop();
    await opened.pool.stop();
    owned?.close();
    throw err;
  }
}

/**
 * The daemon's IPAM part: the KV state (opened here, closed by `stop()`), the allocator over the
 * node's pod CIDRs, the registry of this node's endpoints loaded from it, and the garbage
 * collection of attachments whose pod is gone. Start-up refuses (or, when told, releases)
 * allocations outside the pod CIDRs, gives restored endpoints strict `rp_filter` and sweeps once,
 * so nothing routes an attachment that is already gone; the periodic sweep starts once the API
 * serves ({@linkcode IpamPart.startSweeper}).
 * @module
 */
import type { Logger } from "../../src/log.ts";
import type { DaemonConfig } from "../config.ts";
import type { DaemonPart } from "../daemon_part.ts";
import type { Dataplane } from "../routing/dataplane.ts";
import { Ipam } from "./ipam.ts";
import type { LocalEndpoints } from "../../src/local_endpoints.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { checkOutsidePools } from "./outside_pools.ts";
import type { PodCIDRs } from "./pod_cidrs.ts";
import { type BlocksMode, startBlocksMode } from "./start_blocks.ts";
import { drainReleaseQueue } from "./release_queue_drain.ts";
import { Sweeper } from "./sweeper.ts";
import type { ClusterState } from "../../src/cluster/state.ts";
import type { BlockPool } from "../../src/ipam/block_pool.ts";
import type { BlockView } from "../../src/ipam/block_view.ts";

/** What start-up found in the state, for the start log. */
export interface IpamStatus {
  /** Endpoints restored from the state (those the first sweep released not counted). */
  endpointsRestored: number;
}

/** The running IPAM part. */
export interface IpamPart extends DaemonPart<IpamStatus> {
  readonly ipam: Ipam;
  /** Blocks mode: the node's warm pool of blocks. */
  readonly blocks?: BlockPool;
  /** Blocks mode: every node's blocks, for routing. */
  readonly blockView?: BlockView;
  /** Serialises host-side changes: the API's program and release, and the sweeps. */
  readonly lock: Mutex;
  /** Starts the periodic sweep; its stop goes on the caller's cleanup stack. */
  startSweeper(): DaemonPart<void>;
}

/**
 * Opens the state at `config.stateFile` and loads `endpoints` from it; `context.release` is
 * `--release-outside-pools`.
 */
export async function startIpam(
  config: DaemonConfig,
  context: {
    pools: PodCIDRs;
    /** The cluster state (blocks mode: this node's labels, the live nodes). */
    state: ClusterState;
    /** Where the pod CIDRs come from, for the outside-pools error. */
    poolsOrigin: string;
    endpoints: LocalEndpoints;
    dataplane: Dataplane;
    release: boolean;
    log: Logger;
  },
): Promise<IpamPart> {
  const { endpoints, dataplane, log } = context;
  const podCIDRs = context.pools.podCIDRs;
  await Deno.mkdir(dirname(config.stateFile), { recursive: true, mode: 0o700 });
  const kv = await Deno.openKv(config.stateFile);
  let blocks: BlocksMode | undefined;
  try {
    if (config.ipam.mode === "blocks") {
      blocks = await startBlocksMode(kv, config, { state: context.state, log });
    }
    const ipam = blocks?.ipam ?? await Ipam.open(kv, {
      podCIDRs,
      releaseCooldownMs: config.ipam.releaseCooldownMs,
    });
    endpoints.load(await ipam.list());
    // Endpoints programmed by an earlier daemon (or version) get strict rp_filter too.
    for (const ep of endpoints.list()) {
      await dataplane.setRpFilter(ep.hostVeth).catch((err) =>
        log.warn("Cannot set rp_filter", { hostVeth: ep.hostVeth, error: String(err) })
      );
    }
    // Blocks mode: start-up reconciliation with the API server did this job (logged there).
    if (blocks === undefined) {
      await checkOutsidePools(ipam, {
        dataplane,
        podCIDRs,
        configFile: context.poolsOrigin,
        release: context.release,
        log,
      });
    }
    const lock = new Mutex();
    // The releases the plugin queued while no daemon ran: drained in every sweep, the first of
    // which runs here, before the API takes a request.
    const beforeSweep = async () => {
      const drained = await drainReleaseQueue(config.releaseQueueDir, { ipam, dataplane, log });
      if (drained.released.length + drained.dropped + drained.failed > 0) {
        log.info("Drained the DEL queue", {
          dir: config.releaseQueueDir,
          released: drained.released.length,
          dropped: drained.dropped,
          failed: drained.failed,
        });
      }
    };
    const sweeper = new Sweeper({ ipam, dataplane, lock, log, beforeSweep }, {
      gracePeriodMs: config.gc.gracePeriodMs,
      intervalMs: config.gc.intervalMs,
    });
    const resync = await sweeper.sweepOnce();
    const status = { endpointsRestored: resync.endpoints - resync.released.length };
    const part: IpamPart = {
      ipam,
      lock,
      startSweeper() {
        sweeper.start();
        return { stop: () => sweeper.stop(), status: () => {} };
      },
      async stop() {
        await blocks?.stop();
        kv.close();
      },
      status: () => status,
    };
    return blocks === undefined ? part : { ...part, blocks: blocks.pool, blockView: blocks.view };
  } catch (err) {
    await blocks?.stop();
    kv.close();
    throw err;
  }
}

/** The directory part of `path` ("/" for a file at the root). */
export function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/**
 * How full the node's address pools are, read at each scrape. In `node-cidr` mode a pool is one
 * of the node's pod CIDRs (`pool="10.244.1.0/24"`); in `blocks` mode it is a cluster IPPool
 * (`pool="default"`): its capacity is the blocks this node holds of it, and what claims could
 * still add is `tern_ipam_claimable_addresses`. Pure over the figures it is given.
 * @module
 */
import type { PoolStatus } from "../../src/api.ts";
import type { BlockUse } from "../../src/ipam/block_pool.ts";
import type { Registry } from "../../src/metrics/registry.ts";

/** One pool's figures. */
export interface PoolFigures {
  pool: string;
  capacity: number;
  allocated: number;
  /** Blocks mode: the blocks held of this pool. */
  blocks?: number;
}

/** The pools of `node-cidr` mode: each pod CIDR. */
export function cidrPools(stats: readonly PoolStatus[]): PoolFigures[] {
  return stats.map((p) => ({ pool: p.cidr, capacity: p.capacity, allocated: p.used }));
}

/** The pools of `blocks` mode: each IPPool, summed over the blocks this node holds of it. */
export function blockPools(blocks: readonly BlockUse[]): PoolFigures[] {
  const byPool = new Map<string, PoolFigures & { blocks: number }>();
  for (const b of blocks) {
    let p = byPool.get(b.pool);
    if (p === undefined) {
      p = { pool: b.pool, capacity: 0, allocated: 0, blocks: 0 };
      byPool.set(b.pool, p);
    }
    p.capacity += b.capacity;
    p.allocated += b.used;
    p.blocks++;
  }
  return [...byPool.values()];
}

/** What the IPAM metrics read. */
export interface IpamFigures {
  pools(): PoolFigures[];
  /** Blocks mode: addresses that claims could still add; undefined in `node-cidr` mode. */
  claimable(): number | undefined;
  /** KV commits of claims, releases and programmed marks, and the operations they carried. */
  commits?(): { commits: number; operations: number };
}

/** Registers the IPAM metrics; they show nothing until `attach()` gives them the IPAM part. */
export function ipamMetrics(registry: Registry): { attach(figures: IpamFigures): void } {
  const capacity = registry.gauge({
    name: "tern_ipam_pool_capacity_addresses",
    help:
      "Addresses this node may hand out from the pool (a pod CIDR, or an IPPool's blocks held by this node).",
    labels: ["pool"],
  });
  const allocated = registry.gauge({
    name: "tern_ipam_pool_allocated_addresses",
    help: "Addresses of the pool allocated to attachments on this node.",
    labels: ["pool"],
  });
  const blocks = registry.gauge({
    name: "tern_ipam_pool_blocks",
    help: "Blocks mode: blocks of the IPPool this node holds.",
    labels: ["pool"],
  });
  const claimable = registry.gauge({
    name: "tern_ipam_claimable_addresses",
    help:
      "Blocks mode: addresses that claims of new blocks could still add (0 once every pool is full or maxBlocks is reached).",
  });
  const commits = registry.counter({
    name: "tern_ipam_kv_commits_total",
    help:
      "Deno KV commits of address claims, releases and programmed marks (claims that wait for a commit in flight share the next one).",
  });
  const operations = registry.counter({
    name: "tern_ipam_kv_commit_operations_total",
    help:
      "Claims, releases and programmed marks those commits carried; over tern_ipam_kv_commits_total, how many shared a commit.",
  });
  let source: IpamFigures | undefined;
  registry.onCollect(() => {
    if (source === undefined) return;
    const pools = source.pools();
    const room = source.claimable();
    for (const g of [capacity, allocated, blocks]) g.clear();
    for (const p of pools) {
      capacity.set({ pool: p.pool }, p.capacity);
      allocated.set({ pool: p.pool }, p.allocated);
      if (p.blocks !== undefined) blocks.set({ pool: p.pool }, p.blocks);
    }
    if (room !== undefined) claimable.set(undefined, room);
    const kv = source.commits?.();
    if (kv !== undefined) {
      commits.set(undefined, kv.commits);
      operations.set(undefined, kv.operations);
    }
  });
  return {
    attach(figures) {
      source = figures;
    },
  };
}

/**
 * `tern ipam ls --cluster`: the cluster's pools, and each node's blocks and their use, from the
 * IPPool and IPAMBlock objects (each owner writes `status.allocated`). {@linkcode clusterReport}
 * is pure; {@linkcode readClusterIpam} reads the objects through a Kubernetes client.
 * @module
 */
import type { KubeClient, KubeObject } from "../kube/client.ts";
import {
  type IpamBlock,
  IPAMBLOCKS,
  type IpPool,
  IPPOOLS,
  readBlock,
  readPool,
} from "./ipam_objects.ts";
import { blockCapacity, blockCount, compareCidrText } from "./block_cidrs.ts";

/** One pool's use. */
export interface PoolReport {
  name: string;
  cidr: string;
  blockSize: number;
  /** Blocks the pool holds. */
  blocks: number;
  /** Blocks claimed by nodes. */
  claimed: number;
  /** Addresses of the claimed blocks. */
  capacity: number;
  /** Addresses in use in them, as the owners last wrote. */
  allocated: number;
}

/** One node's blocks and their use. */
export interface NodeReport {
  node: string;
  blocks: { cidr: string; pool: string; allocated: number; capacity: number }[];
  allocated: number;
  capacity: number;
}

/** The whole report, with what could not be read. */
export interface ClusterReport {
  pools: PoolReport[];
  nodes: NodeReport[];
  /** Objects skipped, and blocks in no pool. */
  problems: string[];
}

/** The report from the objects read (pure). */
export function clusterReport(
  pools: readonly IpPool[],
  blocks: readonly IpamBlock[],
  problems: readonly string[] = [],
): ClusterReport {
  const out: ClusterReport = { pools: [], nodes: [], problems: [...problems] };
  const byPool = new Map<string, IpamBlock[]>();
  for (const b of blocks) byPool.set(b.pool, [...(byPool.get(b.pool) ?? []), b]);
  for (const pool of pools) {
    const mine = byPool.get(pool.name) ?? [];
    out.pools.push({
      name: pool.name,
      cidr: pool.cidr,
      blockSize: pool.blockSize,
      blocks: blockCount(pool.range, pool.blockSize),
      claimed: mine.length,
      capacity: mine.reduce((s, b) => s + blockCapacity(b.cidr), 0),
      allocated: mine.reduce((s, b) => s + b.allocated, 0),
    });
  }
  for (const b of blocks) {
    if (!pools.some((p) => p.name === b.pool)) {
      out.problems.push(`IPAMBlock ${b.name} names IPPool ${b.pool}, which does not exist`);
    }
  }
  const byNode = new Map<string, NodeReport>();
  for (const b of [...blocks].sort((x, y) => compareCidrText(x.cidr, y.cidr))) {
    const node = byNode.get(b.node) ?? { node: b.node, blocks: [], allocated: 0, capacity: 0 };
    const capacity = blockCapacity(b.cidr);
    node.blocks.push({ cidr: b.cidr, pool: b.pool, allocated: b.allocated, capacity });
    node.allocated += b.allocated;
    node.capacity += capacity;
    byNode.set(b.node, node);
  }
  out.nodes = [...byNode.values()].sort((a, b) => a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
  return out;
}

/** Lists the IPPools and IPAMBlocks through `client` and builds the report. */
export async function readClusterIpam(
  client: Pick<KubeClient, "listAll">,
): Promise<ClusterReport> {
  const problems: string[] = [];
  const pools: IpPool[] = [];
  const blocks: IpamBlock[] = [];
  for (const o of (await client.listAll<KubeObject>(IPPOOLS)).items) {
    const p = readPool(o);
    if ("error" in p) problems.push(p.error);
    else pools.push(p);
  }
  for (const o of (await client.listAll<KubeObject>(IPAMBLOCKS)).items) {
    const b = readBlock(o);
    if ("error" in b) problems.push(b.error);
    else blocks.push(b);
  }
  pools.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return clusterReport(pools, blocks, problems);
}

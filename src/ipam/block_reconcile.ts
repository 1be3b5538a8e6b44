/**
 * Start-up reconciliation of a node's blocks between its KV state and the API server. The API
 * is the truth of who owns a block; KV is the truth of which addresses are in use. The local
 * view of a block is "recorded in KV, or holding an address in use" (an address whose block
 * record was lost still counts). The plan:
 *
 * | API says                 | locally                 | action                                   |
 * | ------------------------ | ----------------------- | ---------------------------------------- |
 * | this node owns it        | known                   | keep                                     |
 * | this node owns it        | unknown                 | adopt (record it in KV)                  |
 * | nobody owns it           | addresses in use        | reclaim (create it again in the API)     |
 * | nobody owns it           | recorded, nothing used  | forget (drop the KV record)              |
 * | another node owns it     | addresses in use        | conflict: keep the pods, hand out none   |
 * | another node owns it     | recorded, nothing used  | forget                                   |
 *
 * Pure: the caller applies the plan and logs each repair.
 * @module
 */
import { formatCidr, parseIp } from "../cidr.ts";
import { blockOf, compareCidrText } from "./block_cidrs.ts";
import { type IpPool, poolOf } from "./ipam_objects.ts";

/** What the API server says about one block. */
export interface ApiBlockOwner {
  cidr: string;
  pool: string;
  node: string;
}

/** One step of the plan. */
export interface BlockRepair {
  cidr: string;
  /** The block's pool (from the API, else the pool that contains it; "" when none does). */
  pool: string;
  /** Addresses in use in it, locally. */
  used: number;
  /** For `conflict`: the node the API says owns it. */
  owner?: string;
}

/** The reconciliation plan. */
export interface BlockPlan {
  /** Owned in the API and known locally. */
  keep: BlockRepair[];
  /** Owned in the API, unknown locally: record it. */
  adopt: BlockRepair[];
  /** In use locally, absent from the API: create it again. */
  reclaim: BlockRepair[];
  /** Recorded locally, unused, not ours in the API: drop the record. */
  forget: BlockRepair[];
  /** In use locally, owned by another node in the API: a person must look. */
  conflict: BlockRepair[];
  /** Addresses in use that lie in no pool: the caller treats them as outside the pools. */
  outside: string[];
}

/**
 * Plans from the API's blocks (all nodes'), this node's KV block records, the addresses in use
 * in KV and the pools (to find the block of an address whose record was lost).
 */
export function planBlockReconcile(
  nodeName: string,
  input: {
    apiBlocks: readonly ApiBlockOwner[];
    recorded: readonly string[];
    usedIps: readonly string[];
    pools: readonly IpPool[];
  },
): BlockPlan {
  const plan: BlockPlan = {
    keep: [],
    adopt: [],
    reclaim: [],
    forget: [],
    conflict: [],
    outside: [],
  };
  const api = new Map(input.apiBlocks.map((b) => [b.cidr, b]));
  const recorded = new Set(input.recorded);
  const used = new Map<string, number>();
  const poolOfBlock = new Map<string, string>();
  // Blocks are matched by the block that holds the address: first a block the API or KV knows,
  // else the block of the pool's size that would hold it.
  const known = [...new Set([...recorded, ...api.keys()])].map((cidr) => {
    const [addr, prefix] = cidr.split("/");
    const network = parseIp(addr!);
    return { cidr, network, last: network + 2 ** (32 - Number(prefix)) - 1 };
  });
  for (const ip of input.usedIps) {
    const addr = parseIp(ip);
    let cidr = known.find((k) => addr >= k.network && addr <= k.last)?.cidr;
    if (cidr === undefined) {
      const pool = poolOf(input.pools, { network: addr, prefix: 32 });
      if (pool === undefined) {
        plan.outside.push(ip);
        continue;
      }
      cidr = formatCidr(blockOf(addr, pool.blockSize));
      poolOfBlock.set(cidr, pool.name);
    }
    used.set(cidr, (used.get(cidr) ?? 0) + 1);
  }
  const local = new Set([...recorded, ...used.keys()]);
  const all = [...new Set([...local, ...api.keys()])].sort(compareCidrText);
  for (const cidr of all) {
    const owner = api.get(cidr);
    const count = used.get(cidr) ?? 0;
    const pool = owner?.pool ?? poolOfBlock.get(cidr) ?? poolName(input.pools, cidr);
    const repair: BlockRepair = { cidr, pool, used: count };
    if (owner?.node === nodeName) {
      (local.has(cidr) ? plan.keep : plan.adopt).push(repair);
    } else if (owner === undefined) {
      if (count > 0) plan.reclaim.push(repair);
      else if (recorded.has(cidr)) plan.forget.push(repair);
    } else if (count > 0) {
      plan.conflict.push({ ...repair, owner: owner.node });
    } else if (recorded.has(cidr)) {
      plan.forget.push(repair);
    }
  }
  return plan;
}

function poolName(pools: readonly IpPool[], cidr: string): string {
  const [addr, prefix] = cidr.split("/");
  return poolOf(pools, { network: parseIp(addr!), prefix: Number(prefix) })?.name ?? "";
}

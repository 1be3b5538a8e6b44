/**
 * The warm-pool decision of cluster IPAM, in the AWS IPAM daemon's terms: keep `warmIPTarget`
 * free addresses ready, hold at least `minimumIPTarget` addresses (used or free) even when idle,
 * and never own more than `maxBlocks` blocks. The node needs a capacity of
 * `max(used + warmIPTarget, minimumIPTarget)`: below it, claim enough blocks to reach it; above
 * it by at least a whole empty block, release empty blocks — each only after it has been empty
 * for `releaseCooldownMs`, so a node whose pods come and go does not claim and release the same
 * block every minute. A block with an address in use is never released. Pure.
 * @module
 */

/** The warm targets (config `ipam.blocks`). */
export interface WarmTargets {
  /** Free addresses to keep ready. */
  warmIPTarget: number;
  /** Addresses (used or free) held even when idle. */
  minimumIPTarget: number;
  /** Blocks this node may own at most. */
  maxBlocks: number;
  /** How long a block must have been empty before it is given back, ms. */
  releaseCooldownMs: number;
}

/** One block the node owns, as the decision sees it. */
export interface OwnedBlock {
  cidr: string;
  /** Addresses in the block. */
  capacity: number;
  /** Addresses in use (or being claimed). */
  used: number;
  /** Since when the block has been empty (ms since the epoch); undefined when it is not. */
  emptySince?: number;
}

/** What to do now. */
export interface WarmDecision {
  /** Blocks to claim. */
  claim: number;
  /** Empty blocks to give back, first the longest empty. */
  release: string[];
  /** When to decide again because a cooldown ends (ms since the epoch); undefined: no need. */
  recheckAt?: number;
  /** The capacity the targets ask for. */
  wanted: number;
}

/**
 * Decides from the owned blocks, the targets, the capacity of a block that would be claimed and
 * the time. A node that owns nothing and wants nothing keeps nothing: the first ADD claims.
 */
export function decideWarm(
  blocks: readonly OwnedBlock[],
  targets: WarmTargets,
  options: { blockCapacity: number; now: number },
): WarmDecision {
  const used = blocks.reduce((sum, b) => sum + b.used, 0);
  const capacity = blocks.reduce((sum, b) => sum + b.capacity, 0);
  const wanted = Math.max(used + targets.warmIPTarget, targets.minimumIPTarget);
  if (capacity < wanted) {
    const missing = Math.ceil((wanted - capacity) / Math.max(1, options.blockCapacity));
    const room = Math.max(0, targets.maxBlocks - blocks.length);
    return { claim: Math.min(missing, room), release: [], wanted };
  }
  const release: string[] = [];
  let recheckAt: number | undefined;
  let left = capacity;
  const empty = blocks.filter((b) => b.used === 0)
    .sort((a, b) => (a.emptySince ?? options.now) - (b.emptySince ?? options.now));
  for (const block of empty) {
    if (left - block.capacity < wanted) continue;
    const since = block.emptySince ?? options.now;
    const ready = since + targets.releaseCooldownMs;
    if (ready <= options.now) {
      release.push(block.cidr);
      left -= block.capacity;
    } else if (recheckAt === undefined || ready < recheckAt) {
      recheckAt = ready;
    }
  }
  const decision: WarmDecision = { claim: 0, release, wanted };
  if (recheckAt !== undefined) decision.recheckAt = recheckAt;
  return decision;
}

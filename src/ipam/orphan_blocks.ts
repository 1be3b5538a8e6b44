/**
 * The blocks of deleted nodes. Every daemon watches the IPAMBlocks and the Nodes; a block whose
 * node has been missing for the whole grace period (a node being replaced often comes back under
 * its name) is released by whichever daemon sees it first — the release's preconditions
 * ({@linkcode BlockClaimer.release}) make exactly one of them succeed. {@linkcode OrphanTracker}
 * remembers since when each block has looked orphaned; it is pure (time is given).
 * @module
 */
import type { IpamBlock } from "./ipam_objects.ts";

/** Tracks blocks whose node is missing, by uid, and says which are due for release. */
export class OrphanTracker {
  readonly #graceMs: number;
  /** Block uid → when its node was first seen missing. */
  readonly #since = new Map<string, number>();

  /** `graceMs`: how long a node must be missing before its blocks are released. */
  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /**
   * Updates the tracking from the current blocks and node names, and returns the blocks whose
   * node has been missing for at least the grace period, and when to look again (undefined when
   * no block is waiting).
   */
  due(
    blocks: readonly IpamBlock[],
    nodes: ReadonlySet<string>,
    now: number,
  ): { release: IpamBlock[]; recheckAt?: number } {
    const seen = new Set<string>();
    const release: IpamBlock[] = [];
    let recheckAt: number | undefined;
    for (const block of blocks) {
      if (nodes.has(block.node)) continue;
      seen.add(block.uid);
      const since = this.#since.get(block.uid) ?? now;
      this.#since.set(block.uid, since);
      const at = since + this.#graceMs;
      if (at <= now) release.push(block);
      else if (recheckAt === undefined || at < recheckAt) recheckAt = at;
    }
    for (const uid of [...this.#since.keys()]) if (!seen.has(uid)) this.#since.delete(uid);
    return recheckAt === undefined ? { release } : { release, recheckAt };
  }
}

/**
 * A node's warm pool of blocks (`ipam.mode: blocks`): the manager between the API server, where
 * blocks are claimed ({@linkcode BlockClaimer}), and the node's allocator, which hands out
 * addresses inside them from Deno KV ({@linkcode LocalBlocks}). It marks dirty and applies
 * later, on one {@linkcode Scheduler}: after allocations and releases (`poke()`), periodically,
 * and when a release cooldown or a dead node's grace period ends. Each run decides with
 * {@linkcode decideWarm}, claims or releases, writes each block's `status.allocated`, and
 * releases the blocks of nodes gone for the grace period. A run that fails (the API server
 * down) changes nothing locally: ADD goes on from the warm pool, and the next run retries.
 *
 * ADD waits for the API only when the node has no free address at all:
 * {@linkcode BlockPool.claimForAllocation} claims in the scheduler's line for every ADD queued
 * there, so a burst of ADDs on an empty node pays for one claim round, not one each; and the ADDs
 * queued behind a claim that fails share its error, so a burst against a silent API server fails
 * once, not once per ADD. Because everything waits in that one line, each write to the API has the
 * claimer's short timeout (10 s), a run or claim that fails on it is logged as a warning, and each
 * ADD waits at most as long (`claimWaitMs`), its time in line included: past it the ADD fails with
 * {@linkcode BlockClaimTimeoutError}, and the claim in progress goes on (its block serves the
 * runtime's retry of the ADD).
 *
 * A block leaves the allocator before it leaves the API server, and only when none of its
 * addresses is in use or being claimed ({@linkcode LocalBlocks.retireBlock}); if the API's
 * delete fails, the block comes back to the allocator (it is still ours).
 * @module
 */
import { blockCapacity, compareCidrText } from "./block_cidrs.ts";
import { type Clock, realClock } from "../clock.ts";
import { errorMessage } from "../lib/errors.ts";
import { Scheduler } from "../lib/scheduler.ts";
import { type Logger, silentLogger } from "../log.ts";
import { isEmptySelector, matchesSelector } from "../policy/selector.ts";
import {
  BLOCK_REQUEST_TIMEOUT_MS,
  type BlockClaimer,
  PoolExhaustedError,
} from "./block_claimer.ts";
import { planBlockReconcile } from "./block_reconcile.ts";
import type { IpamBlock, IpPool } from "./ipam_objects.ts";
import { OrphanTracker } from "./orphan_blocks.ts";
import { decideWarm, type OwnedBlock, type WarmTargets } from "./warm_target.ts";

/** A deleted node's block whose release met a conflict is looked at again this soon. */
const ORPHAN_RECHECK_MS = 1_000;

/**
 * An ADD waited {@linkcode BlockPoolOptions.claimWaitMs} for a block claim that the API server did
 * not answer in time (the claim, or the run ahead of it in line, is still waiting for it).
 */
export class BlockClaimTimeoutError extends Error {
  /** How long the ADD waited, ms. */
  readonly waitedMs: number;

  /** Names the node and the wait. */
  constructor(nodeName: string, waitedMs: number) {
    super(
      `The Kubernetes API server did not answer node ${nodeName}'s block claim within ${
        waitedMs / 1000
      } s: no free address on the node until it does (the claim goes on, and serves a retry of the ADD): check the API server and the node's path to it`,
    );
    this.name = "BlockClaimTimeoutError";
    this.waitedMs = waitedMs;
  }
}

/** What the pool needs of the node's allocator. */
export interface LocalBlocks {
  /** Addresses in use or being claimed in each block given (0 for an unknown one). */
  usage(cidrs: readonly string[]): Map<string, number>;
  /** Every address in use on the node. */
  usedIps(): Promise<string[]>;
  /** The blocks recorded in the node's state. */
  recordedBlocks(): Promise<string[]>;
  /** Records the block and hands out its addresses from now on. */
  addBlock(cidr: string, pool: string): Promise<void>;
  /**
   * Stops handing out the block's addresses and drops its record, unless one of them is in use
   * or being claimed: then false, and nothing changed.
   */
  retireBlock(cidr: string): Promise<boolean>;
  /** Keeps the block's addresses in use but hands out no new one (another node owns it). */
  quarantineBlock(cidr: string): Promise<void>;
}

/** Knobs of {@linkcode BlockPool}; every field documents its default. */
export interface BlockPoolOptions {
  targets: WarmTargets;
  /** This node's labels now (for pools' nodeSelectors). Default none. */
  nodeLabels?: () => Readonly<Record<string, string>>;
  /**
   * The names of the cluster's nodes now, or undefined while unknown: then no dead node's block
   * is released. Default always unknown.
   */
  nodeNames?: () => ReadonlySet<string> | undefined;
  /**
   * Every node's blocks as a watch keeps them (a {@linkcode BlockView}), read for releasing a
   * deleted node's blocks; absent, each run lists them from the API server. The release's
   * preconditions make a stale cache harmless.
   */
  clusterBlocks?: () => IpamBlock[];
  /** How long a node must be gone before another daemon releases its blocks. Default 300 000. */
  nodeGracePeriodMs?: number;
  /** The periodic run. Default 30 000. */
  intervalMs?: number;
  /** The wait before a failed run (the API server down) is tried again. Default 5 000. */
  retryMs?: number;
  /** Delay between a `poke()` and its run. Default 200. */
  pokeDelayMs?: number;
  /** Least time between two exhaustion Events on the Node. Default 60 000. */
  eventIntervalMs?: number;
  /**
   * How long an ADD waits for a block claim, its time in line behind runs and other claims
   * included, before it fails with {@linkcode BlockClaimTimeoutError}. Default
   * {@linkcode BLOCK_REQUEST_TIMEOUT_MS} (10 000): one request's timeout.
   */
  claimWaitMs?: number;
  clock?: Clock;
  log?: Logger;
}

/** What start-up reconciliation did, for the start log. */
export interface BlockReconcileSummary {
  kept: number;
  adopted: string[];
  reclaimed: string[];
  forgotten: string[];
  conflicts: string[];
  /** Blocks in use whose re-creation failed because another node got them meanwhile. */
  lost: string[];
}

/** One owned block and its use, for `tern ipam ls` and the API. */
export interface BlockUse {
  cidr: string;
  pool: string;
  capacity: number;
  used: number;
}

/** The node's warm pool of blocks. */
export class BlockPool {
  readonly #claimer: BlockClaimer;
  readonly #local: LocalBlocks;
  readonly #targets: WarmTargets;
  readonly #nodeLabels: () => Readonly<Record<string, string>>;
  readonly #nodeNames: () => ReadonlySet<string> | undefined;
  readonly #clusterBlocks: (() => IpamBlock[]) | undefined;
  readonly #orphans: OrphanTracker;
  readonly #pokeDelayMs: number;
  readonly #eventIntervalMs: number;
  readonly #claimWaitMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #scheduler: Scheduler<void>;
  /** Blocks this node owns, by CIDR, as last written or read. */
  readonly #owned = new Map<string, IpamBlock>();
  /** Since when each owned block has been empty. */
  readonly #emptySince = new Map<string, number>();
  #pools: IpPool[] = [];
  #lastEventAt = -Infinity;
  /** ADDs waiting in {@linkcode BlockPool.claimForAllocation} (queued or running). */
  #waiting = 0;
  /** Claims for ADDs that have ended, failed or not: numbers each claim's outcome. */
  #claimsEnded = 0;
  /** The last claim for ADDs, if it failed: ADDs that asked before it ended share its error. */
  #claimFailure: { ended: number; error: unknown } | undefined;
  /** `#claimsEnded` when an ADD last gave up waiting (warned once per failed claim). */
  #gaveUpWarned = -1;
  /** The last claim found every pool full; cleared by a claim that succeeds. */
  #poolsFull = false;
  #lastError: string | undefined;

  /** Builds the pool; nothing runs until {@linkcode BlockPool.start}. */
  constructor(claimer: BlockClaimer, local: LocalBlocks, options: BlockPoolOptions) {
    this.#claimer = claimer;
    this.#local = local;
    this.#targets = options.targets;
    this.#nodeLabels = options.nodeLabels ?? (() => ({}));
    this.#nodeNames = options.nodeNames ?? (() => undefined);
    this.#clusterBlocks = options.clusterBlocks;
    this.#orphans = new OrphanTracker(options.nodeGracePeriodMs ?? 300_000);
    this.#pokeDelayMs = options.pokeDelayMs ?? 200;
    this.#eventIntervalMs = options.eventIntervalMs ?? 60_000;
    this.#claimWaitMs = options.claimWaitMs ?? BLOCK_REQUEST_TIMEOUT_MS;
    this.#clock = options.clock ?? realClock;
    this.#log = options.log ?? silentLogger;
    const retryMs = options.retryMs ?? 5_000;
    this.#scheduler = new Scheduler(async () => {
      try {
        await this.#step();
      } catch (err) {
        this.#lastError = errorMessage(err);
        this.#scheduler.request("retry", retryMs);
        throw err;
      }
    }, {
      clock: this.#clock,
      intervalMs: options.intervalMs ?? 30_000,
      onError: (err) =>
        this.#log.warn("Block pool run failed, retrying", {
          error: errorMessage(err),
          retryInMs: retryMs,
        }),
    });
  }

  /**
   * Reconciles the node's state with the blocks the API says it owns (each repair logged), fills
   * the warm pool, then starts the runs. Throws when the API server cannot be read: the daemon
   * cannot know which blocks are its own.
   */
  async start(): Promise<BlockReconcileSummary> {
    const summary = await this.reconcile();
    this.#scheduler.start();
    // The warm pool is filled before the daemon serves ADD; a failure is retried by the runs.
    await this.#scheduler.runNow("start").catch((err) =>
      this.#log.warn("Cannot fill the warm pool yet, retrying", { error: errorMessage(err) })
    );
    return summary;
  }

  /** Stops the runs and waits for the one in progress. */
  async stop(): Promise<void> {
    await this.#scheduler.stop();
  }

  /** Asks for a run soon: an address was handed out or freed. */
  poke(): void {
    if (this.#scheduler.started) this.#scheduler.request("use", this.#pokeDelayMs);
  }

  /** Runs once now, in line (tests, `tern ipam` refresh). */
  runNow(): Promise<void> {
    return this.#scheduler.runNow("now");
  }

  /** The blocks owned and their use. */
  blocks(): BlockUse[] {
    const owned = [...this.#owned.values()];
    const usage = this.#local.usage(owned.map((b) => b.cidr));
    return owned.map((b) => ({
      cidr: b.cidr,
      pool: b.pool,
      capacity: blockCapacity(b.cidr),
      used: usage.get(b.cidr) ?? 0,
    })).sort((a, b) => compareCidrText(a.cidr, b.cidr));
  }

  /**
   * Addresses not owned yet that claims could add: the room under `maxBlocks` in blocks of the
   * next pool's size, or 0 once a claim found every pool full (until one succeeds again).
   */
  headroom(): number {
    if (this.#poolsFull) return 0;
    return Math.max(0, this.#targets.maxBlocks - this.#owned.size) * this.#nextBlockCapacity();
  }

  /** The last failure of a run, cleared by a run that succeeds. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Claims a block now because the node has no free address, in the scheduler's line. The ADDs
   * queued behind a claim are counted, so one claim round serves a whole burst; and when a claim
   * fails, every ADD that asked before it ended shares its error rather than try again (against a
   * silent API server, a burst fails once, not once per ADD). Resolves when a block was added — by
   * this call or by a run or claim it waited for. Throws {@linkcode PoolExhaustedError} when no
   * pool has a block left (an Event goes on the Node), the API's error when the claim failed, and
   * {@linkcode BlockClaimTimeoutError} when `claimWaitMs` passed first: a claim in progress then
   * goes on without this ADD.
   */
  claimForAllocation(): Promise<void> {
    this.#waiting++;
    const askedAt = this.#claimsEnded;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let counted = true; // in #waiting
    let answered = false;
    const answer = (err?: unknown) => {
      if (answered) return;
      answered = true;
      this.#clock.clearTimeout(timer);
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = this.#clock.setTimeout(() => {
      if (counted) this.#waiting--;
      counted = false;
      if (this.#gaveUpWarned !== this.#claimsEnded) {
        this.#gaveUpWarned = this.#claimsEnded;
        this.#log.warn("ADD gave up waiting for a block claim", {
          waitedMs: this.#claimWaitMs,
          stillWaiting: this.#waiting,
          why: "the API server has not answered the claim, or the run ahead of it",
        });
      }
      answer(new BlockClaimTimeoutError(this.#claimer.nodeName, this.#claimWaitMs));
    }, this.#claimWaitMs);
    this.#scheduler.serial(async () => {
      if (answered) return; // gave up in line: counted out already
      // The ADDs queued behind this one are counted: one claim round serves the whole burst.
      const waiting = this.#waiting--;
      counted = false;
      try {
        const failure = this.#claimFailure;
        if (failure !== undefined && failure.ended > askedAt) throw failure.error;
        if (this.#freeNow() === 0) await this.#claimForAdds(waiting);
        // Answered inside the line, so that this ADD takes its address before the next one in
        // line counts the free ones.
        answer();
      } catch (err) {
        answer(err instanceof Error ? err : new Error(String(err)));
      }
    });
    return promise;
  }

  /** Claims enough blocks for `waiting` ADDs and records the outcome for those queued behind. */
  async #claimForAdds(waiting: number): Promise<void> {
    if (this.#owned.size >= this.#targets.maxBlocks) {
      const node = this.#claimer.nodeName;
      throw new PoolExhaustedError(
        node,
        [],
        `Node ${node} owns ipam.blocks.maxBlocks (${this.#targets.maxBlocks}) blocks, all full: raise maxBlocks in ternd.yaml`,
      );
    }
    const room = this.#targets.maxBlocks - this.#owned.size;
    const count = Math.min(room, Math.ceil(waiting / this.#nextBlockCapacity()));
    try {
      await this.#claimBlocks(Math.max(1, count));
    } catch (err) {
      this.#claimFailure = { ended: ++this.#claimsEnded, error: err };
      if (err instanceof PoolExhaustedError) await this.#exhaustedEvent(err);
      else {
        // The ADDs fail with this as their reason; the node's log says it too, once per claim.
        this.#log.warn("Cannot claim a block for an ADD", {
          error: errorMessage(err),
          waiting,
        });
      }
      throw err;
    }
    this.#claimsEnded++;
    this.#claimFailure = undefined;
    this.#scheduler.request("claimed", this.#pokeDelayMs);
  }

  /** Start-up reconciliation; see src/ipam/block_reconcile.ts. */
  async reconcile(): Promise<BlockReconcileSummary> {
    const node = this.#claimer.nodeName;
    const [pools, apiBlocks, recorded, usedIps] = await Promise.all([
      this.#claimer.pools(),
      this.#claimer.blocks(),
      this.#local.recordedBlocks(),
      this.#local.usedIps(),
    ]);
    this.#pools = pools;
    const plan = planBlockReconcile(node, { apiBlocks, recorded, usedIps, pools });
    const byCidr = new Map(apiBlocks.map((b) => [b.cidr, b]));
    const summary: BlockReconcileSummary = {
      kept: plan.keep.length,
      adopted: [],
      reclaimed: [],
      forgotten: [],
      conflicts: [],
      lost: [],
    };
    for (const r of plan.keep) {
      this.#owned.set(r.cidr, byCidr.get(r.cidr)!);
      // Also gives its record back to a block known only by its addresses.
      await this.#local.addBlock(r.cidr, r.pool);
    }
    for (const r of plan.adopt) {
      this.#owned.set(r.cidr, byCidr.get(r.cidr)!);
      await this.#local.addBlock(r.cidr, r.pool);
      this.#log.warn("Adopted block", {
        cidr: r.cidr,
        pool: r.pool,
        why: "the API says this node owns it but the local state did not know it",
      });
      summary.adopted.push(r.cidr);
    }
    for (const r of plan.reclaim) {
      const pool = pools.find((p) => p.name === r.pool);
      const block = pool === undefined ? undefined : await this.#claimer.reclaim(pool, r.cidr);
      if (block === undefined) {
        await this.#local.quarantineBlock(r.cidr);
        this.#log.error("Cannot reclaim block in use", {
          cidr: r.cidr,
          used: r.used,
          why: pool === undefined
            ? `no IPPool ${r.pool || "holds it"}`
            : "another node claimed it first",
          action: "its pods keep their addresses; no new address is handed out from it",
        });
        summary.lost.push(r.cidr);
        continue;
      }
      this.#owned.set(r.cidr, block);
      await this.#local.addBlock(r.cidr, r.pool);
      this.#log.warn("Reclaimed block", {
        cidr: r.cidr,
        used: r.used,
        why: "addresses in use locally but the API had no IPAMBlock for it",
      });
      summary.reclaimed.push(r.cidr);
    }
    for (const r of plan.forget) {
      await this.#local.retireBlock(r.cidr);
      this.#log.warn("Forgot block", {
        cidr: r.cidr,
        why: "recorded locally, unused, and not this node's in the API",
      });
      summary.forgotten.push(r.cidr);
    }
    for (const ip of plan.outside) {
      this.#log.error("Address in use outside every IPPool", {
        ip,
        action: "its pod keeps it; no block is claimed for it; delete the pod or add a pool",
      });
    }
    for (const r of plan.conflict) {
      await this.#local.quarantineBlock(r.cidr);
      this.#log.error("Block in use here is owned by another node", {
        cidr: r.cidr,
        owner: r.owner,
        used: r.used,
        action:
          "its pods keep their addresses; no new address is handed out from it; delete those pods or the other node's IPAMBlock",
      });
      summary.conflicts.push(r.cidr);
    }
    return summary;
  }

  #freeNow(): number {
    return this.blocks().reduce((sum, b) => sum + b.capacity - b.used, 0);
  }

  /**
   * Claims up to `count` blocks, reading the pools and the taken blocks once for all of them;
   * returns how many it got. Throws {@linkcode PoolExhaustedError} only when it got none. A block
   * the API says is this node's but the pool does not know is a claim whose answer was lost (its
   * create timed out after the server stored it): it is adopted, and counts as one claimed.
   */
  async #claimBlocks(count: number): Promise<number> {
    this.#pools = await this.#claimer.pools();
    const apiBlocks = await this.#claimer.blocks();
    const taken = new Set(apiBlocks.map((b) => b.cidr));
    let got = 0;
    for (const block of apiBlocks) {
      if (block.node !== this.#claimer.nodeName || this.#owned.has(block.cidr)) continue;
      this.#owned.set(block.cidr, block);
      await this.#local.addBlock(block.cidr, block.pool);
      this.#log.warn("Adopted block", {
        cidr: block.cidr,
        pool: block.pool,
        why:
          "the API says this node owns it but the pool did not know it: a claim whose answer was lost",
      });
      got++;
    }
    if (got >= count) return got;
    for (; got < count; got++) {
      let block: IpamBlock;
      try {
        block = await this.#claimer.claim(this.#pools, { nodeLabels: this.#nodeLabels(), taken });
      } catch (err) {
        if (err instanceof PoolExhaustedError) {
          this.#poolsFull = true;
          if (got > 0) return got;
        }
        throw err;
      }
      this.#poolsFull = false;
      taken.add(block.cidr);
      this.#owned.set(block.cidr, block);
      await this.#local.addBlock(block.cidr, block.pool);
    }
    return got;
  }

  async #step(): Promise<void> {
    const now = this.#clock.now();
    const usage = this.#local.usage([...this.#owned.keys()]);
    const owned: OwnedBlock[] = [];
    for (const [cidr] of this.#owned) {
      const used = usage.get(cidr) ?? 0;
      if (used > 0) this.#emptySince.delete(cidr);
      else if (!this.#emptySince.has(cidr)) this.#emptySince.set(cidr, now);
      const block: OwnedBlock = { cidr, capacity: blockCapacity(cidr), used };
      const since = this.#emptySince.get(cidr);
      if (since !== undefined) block.emptySince = since;
      owned.push(block);
    }
    const decision = decideWarm(owned, this.#targets, {
      blockCapacity: this.#nextBlockCapacity(),
      now,
    });
    try {
      if (decision.claim > 0) await this.#claimBlocks(decision.claim);
      for (const cidr of decision.release) await this.#release(cidr);
      await this.#reportUse();
      await this.#releaseOrphans(now);
      this.#lastError = undefined;
    } catch (err) {
      if (err instanceof PoolExhaustedError) {
        // Below the warm target with no block left: worth an Event, but ADD goes on.
        await this.#exhaustedEvent(err);
        this.#lastError = err.message;
        return;
      }
      throw err;
    }
    if (decision.recheckAt !== undefined) this.#scheduler.requestAt("cooldown", decision.recheckAt);
  }

  async #release(cidr: string): Promise<void> {
    const block = this.#owned.get(cidr);
    if (block === undefined) return;
    if (!await this.#local.retireBlock(cidr)) return; // an address was taken meanwhile
    try {
      const gone = await this.#claimer.release(block);
      this.#owned.delete(cidr);
      this.#emptySince.delete(cidr);
      this.#log.info("Released block", {
        cidr,
        pool: block.pool,
        why: gone ? "empty beyond the warm target" : "already gone from the API",
      });
    } catch (err) {
      await this.#local.addBlock(cidr, block.pool);
      throw err;
    }
  }

  async #reportUse(): Promise<void> {
    const usage = this.#local.usage([...this.#owned.keys()]);
    for (const [cidr, block] of [...this.#owned]) {
      const used = usage.get(cidr) ?? 0;
      if (block.allocated === used) continue;
      const written = await this.#claimer.reportAllocated(block, used);
      if (written !== undefined) {
        this.#owned.set(cidr, written);
        continue;
      }
      // Gone from the API or another node's now: hand out nothing more from it.
      this.#owned.delete(cidr);
      this.#emptySince.delete(cidr);
      if (!await this.#local.retireBlock(cidr)) await this.#local.quarantineBlock(cidr);
      this.#log.error("Lost block", {
        cidr,
        used,
        why: "its IPAMBlock was deleted or claimed by another node",
        action: used > 0 ? "its pods keep their addresses; no new address from it" : "dropped",
      });
    }
  }

  async #releaseOrphans(now: number): Promise<void> {
    const nodes = this.#nodeNames();
    if (nodes === undefined) return;
    const blocks = this.#clusterBlocks?.() ?? await this.#claimer.blocks();
    const due = this.#orphans.due(blocks, nodes, now);
    let recheckAt = due.recheckAt;
    for (const block of due.release) {
      if (await this.#claimer.release(block)) {
        this.#log.warn("Released a deleted node's block", {
          cidr: block.cidr,
          node: block.node,
          pool: block.pool,
        });
      } else {
        // 409: the block changed since the view read it (the dead node's last status write, or
        // a peer released and another node claimed it), or 404: gone. Look again once the view
        // has caught up; a later run finds it released, reclaimed, or still due.
        const soon = now + ORPHAN_RECHECK_MS;
        recheckAt = recheckAt === undefined ? soon : Math.min(recheckAt, soon);
      }
    }
    if (recheckAt !== undefined) this.#scheduler.requestAt("node gone", recheckAt);
  }

  #nextBlockCapacity(): number {
    const labels = this.#nodeLabels();
    const matching = this.#pools.filter((p) => matchesSelector(p.nodeSelector, labels));
    const pool = matching.find((p) => !isEmptySelector(p.nodeSelector)) ?? matching[0];
    return pool === undefined ? 64 : 2 ** (32 - pool.blockSize);
  }

  async #exhaustedEvent(err: PoolExhaustedError): Promise<void> {
    const now = this.#clock.now();
    // Each run below the target tries again: say it (and record the Event) once a minute.
    if (now - this.#lastEventAt < this.#eventIntervalMs) return;
    this.#lastEventAt = now;
    this.#log.error("IP pool exhausted", { error: err.message });
    await this.#claimer.nodeEvent("IPAMExhausted", err.message);
  }
}

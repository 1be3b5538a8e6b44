/**
 * The API side of cluster IPAM: reading the pools and blocks, claiming a block for this node,
 * giving one back, writing its use, and the Event that tells an operator a node ran out.
 *
 * A claim is a create of the IPAMBlock named after the block's CIDR. The API server stores one
 * object per name, so of any number of nodes creating one block at any moment, exactly one
 * create succeeds and the others get 409 `AlreadyExists`: never two owners, whatever the timing.
 * A release is a delete with the block's uid and resourceVersion as preconditions, so of many
 * daemons releasing the same block version (a deleted node's), exactly one succeeds, and a block
 * claimed again meanwhile (another uid) is never deleted by a stale release.
 *
 * Each claim, release, status write and Event is one request with its own short timeout
 * ({@linkcode BLOCK_REQUEST_TIMEOUT_MS}), not the client's general one: the block pool runs them
 * one after another in one line, with ADDs that wait for a claim in the same line, so a server that
 * drops packets must fail them soon (the pool logs it and retries) rather than hold the line for
 * the client's minute. The lists of pools and blocks keep the client's timeout: a cluster's
 * IPAMBlocks may take longer than that to list, and no claim can be made without them.
 * @module
 */
import { formatCidr, overlaps, parseCidr } from "../cidr.ts";
import type { KubeClient, KubeObject, ResourceType } from "../kube/client.ts";
import { ApiError } from "../kube/errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { isEmptySelector, matchesSelector } from "../policy/selector.ts";
import { blockAt, blockCount, candidateIndexes } from "./block_cidrs.ts";
import {
  blockObject,
  type IpamBlock,
  IPAMBLOCKS,
  type IpPool,
  IPPOOLS,
  readBlock,
  readPool,
} from "./ipam_objects.ts";

/**
 * How long one claim, release, status write or Event may wait for the API server, ms. A create or
 * patch of one small object takes milliseconds on a healthy server and a few seconds on a loaded
 * one; 10 s fails a silent server six times sooner than the client's 60 s, and the pool's retry
 * (5 s later) finds a server that recovered.
 */
export const BLOCK_REQUEST_TIMEOUT_MS = 10_000;

/** What the claimer needs of a Kubernetes client. */
export type BlockClient = Pick<KubeClient, "listAll" | "get" | "create" | "delete" | "patch">;

/** Every pool this node may claim from is full (or there is none). */
export class PoolExhaustedError extends Error {
  /** The pools that were tried (names). */
  readonly pools: readonly string[];

  /** Names the node and the pools tried; `message` replaces the default text. */
  constructor(nodeName: string, pools: readonly string[], message?: string) {
    super(
      message ??
        (pools.length === 0
          ? `No IPPool for node ${nodeName}: create an IPPool whose nodeSelector matches the node`
          : `No free block for node ${nodeName}: every block of IPPool ${
            pools.join(", ")
          } is claimed: add a pool, or widen one`),
    );
    this.name = "PoolExhaustedError";
    this.pools = pools;
  }
}

const EVENTS: ResourceType = {
  group: "",
  version: "v1",
  plural: "events",
  kind: "Event",
  namespaced: true,
};

/** Claims and releases this node's blocks through the API server. */
export class BlockClaimer {
  readonly #client: BlockClient;
  readonly #nodeName: string;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #timeoutMs: number;

  /**
   * `options.now` is the clock for timestamps (default `Date.now`); `options.requestTimeoutMs`
   * the timeout of each request but the lists (default {@linkcode BLOCK_REQUEST_TIMEOUT_MS}).
   */
  constructor(
    client: BlockClient,
    options: { nodeName: string; log?: Logger; now?: () => number; requestTimeoutMs?: number },
  ) {
    this.#client = client;
    this.#nodeName = options.nodeName;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.requestTimeoutMs ?? BLOCK_REQUEST_TIMEOUT_MS;
  }

  /** This node's name. */
  get nodeName(): string {
    return this.#nodeName;
  }

  /** Every usable IPPool, ordered by name; an unusable one is logged and skipped. */
  async pools(): Promise<IpPool[]> {
    const out: IpPool[] = [];
    for (const object of (await this.#client.listAll<KubeObject>(IPPOOLS)).items) {
      const pool = readPool(object);
      if ("error" in pool) this.#log.warn("Skipping IPPool", { error: pool.error });
      else out.push(pool);
    }
    return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /** Every IPAMBlock tern can read (all nodes'); others are logged and skipped. */
  async blocks(): Promise<IpamBlock[]> {
    const out: IpamBlock[] = [];
    for (const object of (await this.#client.listAll<KubeObject>(IPAMBLOCKS)).items) {
      const block = readBlock(object);
      if ("error" in block) this.#log.warn("Skipping IPAMBlock", { error: block.error });
      else out.push(block);
    }
    return out;
  }

  /**
   * Claims one block for this node: from the pools whose nodeSelector matches `nodeLabels` (those
   * with a selector before those open to every node, then in name order), the first block in this node's candidate order that `taken` (block CIDRs, by
   * default read from the API now) does not hold and whose create succeeds. A 409 means another
   * node got it first: the next candidate is tried. Throws {@linkcode PoolExhaustedError} when
   * none is left.
   */
  async claim(
    pools: readonly IpPool[],
    options: { nodeLabels: Readonly<Record<string, string>>; taken?: Iterable<string> },
  ): Promise<IpamBlock> {
    // A pool that selects this node by its labels before the pools open to every node.
    const eligible = pools.filter((p) => matchesSelector(p.nodeSelector, options.nodeLabels))
      .sort((a, b) =>
        Number(isEmptySelector(a.nodeSelector)) - Number(isEmptySelector(b.nodeSelector))
      );
    const taken = new Set(options.taken ?? (await this.blocks()).map((b) => b.cidr));
    for (const pool of eligible) {
      const count = blockCount(pool.range, pool.blockSize);
      // Blocks of another size (the pool's blockSize was changed) are checked by overlap.
      const odd = [...taken].map((c) => parseCidr(c)).filter((c) => c.prefix !== pool.blockSize);
      for (const index of candidateIndexes(count, this.#nodeName)) {
        const block = blockAt(pool.range, pool.blockSize, index);
        const cidr = formatCidr(block);
        if (taken.has(cidr) || odd.some((c) => overlaps(c, block))) continue;
        try {
          const created = await this.#client.create<KubeObject>(
            IPAMBLOCKS,
            blockObject(pool, block, this.#nodeName),
            { timeoutMs: this.#timeoutMs },
          );
          const read = readBlock(created);
          if ("error" in read) throw new Error(`Cannot read the IPAMBlock created: ${read.error}`);
          this.#log.info("Claimed block", { cidr, pool: pool.name, node: this.#nodeName });
          return read;
        } catch (err) {
          if (!(err instanceof ApiError) || err.reason !== "AlreadyExists") throw err;
          taken.add(cidr);
        }
      }
    }
    throw new PoolExhaustedError(this.#nodeName, eligible.map((p) => p.name));
  }

  /**
   * Creates the block again for this node (start-up found addresses in use in a block the API
   * lost). Returns the block, or undefined when another node holds it now.
   */
  async reclaim(pool: IpPool, cidr: string): Promise<IpamBlock | undefined> {
    try {
      const created = await this.#client.create<KubeObject>(
        IPAMBLOCKS,
        blockObject(pool, parseCidr(cidr), this.#nodeName),
        { timeoutMs: this.#timeoutMs },
      );
      const read = readBlock(created);
      if ("error" in read) throw new Error(`Cannot read the IPAMBlock created: ${read.error}`);
      return read;
    } catch (err) {
      if (err instanceof ApiError && err.reason === "AlreadyExists") return undefined;
      throw err;
    }
  }

  /**
   * Deletes the block if it is still the version given (uid and resourceVersion). True when this
   * call deleted it; false when it was gone already or had changed (someone else released it,
   * or it was claimed again).
   */
  async release(block: IpamBlock): Promise<boolean> {
    try {
      await this.#client.delete(IPAMBLOCKS, block.name, {
        preconditions: { uid: block.uid, resourceVersion: block.resourceVersion },
        timeoutMs: this.#timeoutMs,
      });
      return true;
    } catch (err) {
      if (err instanceof ApiError && (err.notFound || err.code === 409)) return false;
      throw err;
    }
  }

  /**
   * Writes `status.allocated` of one of this node's blocks, guarded by its resourceVersion; after
   * a conflict it reads the block again and retries once if it is still this node's. Returns the
   * block as written, or undefined when it is no longer this node's.
   */
  async reportAllocated(block: IpamBlock, allocated: number): Promise<IpamBlock | undefined> {
    let current = block;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const patched = await this.#client.patch<KubeObject>(IPAMBLOCKS, current.name, {
          metadata: { resourceVersion: current.resourceVersion },
          status: { allocated, updatedAt: new Date(this.#now()).toISOString() },
        }, { timeoutMs: this.#timeoutMs });
        const read = readBlock(patched);
        return "error" in read ? undefined : read;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.notFound) return undefined;
        if (err.code !== 409) throw err;
      }
      const fresh = await this.#client.get<KubeObject>(IPAMBLOCKS, current.name, {
        timeoutMs: this.#timeoutMs,
      }).catch((err) => {
        if (err instanceof ApiError && err.notFound) return undefined;
        throw err;
      });
      const read = fresh === undefined ? undefined : readBlock(fresh);
      if (read === undefined || "error" in read) return undefined;
      if (read.node !== this.#nodeName || read.uid !== block.uid) return undefined;
      current = read;
    }
    return undefined;
  }

  /** Records a Warning Event on this node's Node object (best effort: failures are logged). */
  async nodeEvent(reason: string, message: string): Promise<void> {
    const now = new Date(this.#now()).toISOString();
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${this.#nodeName}.`, namespace: "default" },
      involvedObject: { apiVersion: "v1", kind: "Node", name: this.#nodeName },
      reason,
      message,
      type: "Warning",
      source: { component: "ternd", host: this.#nodeName },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.#client.create(EVENTS, event, {
        namespace: "default",
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      this.#log.warn("Cannot record an Event on the Node", {
        reason,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}

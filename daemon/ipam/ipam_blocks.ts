/**
 * The node's allocator as the warm pool of blocks sees it ({@linkcode LocalBlocks}): the blocks
 * the {@linkcode Ipam} hands out from, and their records in the same Deno KV database
 * (`["block", cidr]` → {@linkcode BlockRecord}), so that after a restart the daemon knows which
 * blocks it held before it asks the API server. A block leaves the allocator only when none of
 * its addresses is held or being claimed (`Ipam.retirePool`), checked in the same synchronous
 * step that removes it, so an ADD can never be handed an address of a block being released.
 * @module
 */
import type { BlockClaimer } from "../../src/ipam/block_claimer.ts";
import { BlockPool, type BlockPoolOptions, type LocalBlocks } from "../../src/ipam/block_pool.ts";
import { Ipam } from "./ipam.ts";

/** The KV key of a block this node holds. */
export function blockKey(cidr: string): Deno.KvKey {
  return ["block", cidr];
}

/** What KV keeps of a block. */
export interface BlockRecord {
  pool: string;
  /** When it was recorded, ms since the epoch. */
  since: number;
}

/** {@linkcode LocalBlocks} over an {@linkcode Ipam} in blocks mode and its KV database. */
export class IpamBlocks implements LocalBlocks {
  readonly #ipam: Ipam;
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  /** Blocks whose addresses stay held but from which nothing new is handed out. */
  readonly #quarantined = new Set<string>();

  /** `now` defaults to `Date.now`. */
  constructor(ipam: Ipam, kv: Deno.Kv, now: () => number = Date.now) {
    this.#ipam = ipam;
    this.#kv = kv;
    this.#now = now;
  }

  usage(cidrs: readonly string[]): Map<string, number> {
    return this.#ipam.usage(cidrs);
  }

  async usedIps(): Promise<string[]> {
    return (await this.#ipam.list()).map((ep) => ep.ip);
  }

  async recordedBlocks(): Promise<string[]> {
    const out: string[] = [];
    for await (const entry of this.#kv.list<BlockRecord>({ prefix: ["block"] })) {
      out.push(String(entry.key[1]));
    }
    return out;
  }

  async addBlock(cidr: string, pool: string): Promise<void> {
    const existing = await this.#kv.get<BlockRecord>(blockKey(cidr));
    if (existing.value?.pool !== pool) {
      await this.#kv.set(blockKey(cidr), { pool, since: this.#now() } satisfies BlockRecord);
    }
    this.#quarantined.delete(cidr);
    this.#ipam.addPool(cidr);
  }

  async retireBlock(cidr: string): Promise<boolean> {
    if (!this.#ipam.retirePool(cidr)) return false;
    await this.#kv.delete(blockKey(cidr));
    return true;
  }

  quarantineBlock(cidr: string): Promise<void> {
    this.#ipam.retirePool(cidr, { force: true });
    this.#quarantined.add(cidr);
    return Promise.resolve();
  }

  /** Blocks kept for their pods but handing out nothing (another node owns them). */
  get quarantined(): string[] {
    return [...this.#quarantined];
  }
}

/** A node's allocator in blocks mode, its blocks and its warm pool. */
export interface BlocksIpam {
  ipam: Ipam;
  blocks: IpamBlocks;
  pool: BlockPool;
}

/**
 * Opens the allocator in blocks mode on `kv`, wired to a {@linkcode BlockPool} on `claimer`: an
 * ADD that finds no free address waits for one claim, and every address handed out or freed
 * pokes the pool. Nothing talks to the API server until `pool.start()`.
 */
export async function openBlocksIpam(
  kv: Deno.Kv,
  claimer: BlockClaimer,
  options: BlockPoolOptions & { releaseCooldownMs?: number; now?: () => number },
): Promise<BlocksIpam> {
  // The pool needs the allocator and the allocator calls the pool: bound once both exist.
  const late: { pool?: BlockPool } = {};
  const ipamOptions: Parameters<typeof Ipam.open>[1] = {
    podCIDRs: [],
    blocks: true,
    onExhausted: () => late.pool!.claimForAllocation(),
    onChange: () => late.pool?.poke(),
    headroom: () => late.pool?.headroom() ?? 0,
  };
  if (options.releaseCooldownMs !== undefined) {
    ipamOptions.releaseCooldownMs = options.releaseCooldownMs;
  }
  if (options.now !== undefined) ipamOptions.now = options.now;
  const ipam = await Ipam.open(kv, ipamOptions);
  const blocks = new IpamBlocks(ipam, kv, options.now);
  const pool = new BlockPool(claimer, blocks, options);
  late.pool = pool;
  return { ipam, blocks, pool };
}

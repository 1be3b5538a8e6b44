/**
 * Block arithmetic of cluster IPAM (`ipam.mode: blocks`): a pool's CIDR cut into blocks of its
 * `blockSize`, the IPAMBlock object name of a block (10.244.3.64/26 is `10-244-3-64-26`, so two
 * nodes claiming one block create the same name and the API server lets only one succeed), and
 * the order in which a node tries the blocks: every block once, starting at an offset derived
 * from a hash of the node's name, so nodes starting together spread over the pool instead of
 * all racing for its first block, and a node asks for the same blocks again after a restart.
 * Pure.
 * @module
 */
import { type Cidr, formatCidr, parseCidr, sizeOf } from "../cidr.ts";

/** The default `blockSize` of an IPPool: a /26, 64 addresses. */
export const DEFAULT_BLOCK_SIZE = 26;

/** How many blocks of `blockSize` a pool holds. */
export function blockCount(pool: Cidr, blockSize: number): number {
  if (blockSize < pool.prefix || blockSize > 32) {
    throw new RangeError(
      `Block size /${blockSize} does not fit pool ${
        formatCidr(pool)
      }: it must be /${pool.prefix}../32`,
    );
  }
  return 2 ** (blockSize - pool.prefix);
}

/** The `index`-th block of the pool (0-based). */
export function blockAt(pool: Cidr, blockSize: number, index: number): Cidr {
  const count = blockCount(pool, blockSize);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`Block index out of range: ${index} of ${count}`);
  }
  return { network: (pool.network + index * 2 ** (32 - blockSize)) >>> 0, prefix: blockSize };
}

/** The index of `block` in the pool, or undefined when it is not one of the pool's blocks. */
export function blockIndex(pool: Cidr, blockSize: number, block: Cidr): number | undefined {
  if (block.prefix !== blockSize || blockSize < pool.prefix) return undefined;
  const offset = block.network - pool.network;
  if (offset < 0 || offset >= sizeOf(pool)) return undefined;
  return offset / 2 ** (32 - blockSize);
}

/** The block of the pool that holds address `ip` (an integer). */
export function blockOf(ip: number, blockSize: number): Cidr {
  const size = 2 ** (32 - blockSize);
  return { network: ip - (ip % size), prefix: blockSize };
}

/** The IPAMBlock object name of a block: `10.244.3.64/26` → `10-244-3-64-26`. */
export function blockName(block: Cidr | string): string {
  const text = typeof block === "string" ? block : formatCidr(block);
  return text.replaceAll(".", "-").replace("/", "-");
}

/** The block an IPAMBlock name stands for, or undefined when the name is not one. */
export function blockFromName(name: string): Cidr | undefined {
  const parts = name.split("-");
  if (parts.length !== 5) return undefined;
  try {
    return parseCidr(`${parts.slice(0, 4).join(".")}/${parts[4]}`);
  } catch {
    return undefined;
  }
}

/** FNV-1a, 32 bits, of the UTF-8 bytes of `text`: stable across runs and versions. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * Every block index of a pool of `count` blocks, once each, in the order `nodeName` tries them:
 * from `hash(nodeName) mod count` upwards, wrapping. Consecutive from the start, so a node's
 * blocks are neighbours (fewer, larger routes would be possible later) and another node's start
 * is usually far away.
 */
export function* candidateIndexes(count: number, nodeName: string): Generator<number> {
  if (count <= 0) return;
  const start = fnv1a(nodeName) % count;
  for (let i = 0; i < count; i++) yield (start + i) % count;
}

/**
 * The first block, in `nodeName`'s candidate order, that `taken` does not hold (canonical CIDR
 * text); undefined when every block is taken.
 */
export function nextFreeBlock(
  pool: Cidr,
  blockSize: number,
  nodeName: string,
  taken: ReadonlySet<string>,
): Cidr | undefined {
  for (const index of candidateIndexes(blockCount(pool, blockSize), nodeName)) {
    const block = blockAt(pool, blockSize, index);
    if (!taken.has(formatCidr(block))) return block;
  }
  return undefined;
}

/** The first and last address of a block, all handed out (pods get /32 routes). */
export function blockRange(block: Cidr): { first: number; last: number } {
  return { first: block.network, last: block.network + sizeOf(block) - 1 };
}

/** Addresses in a block given as canonical text (`10.244.3.64/26` → 64). */
export function blockCapacity(cidr: string): number {
  return 2 ** (32 - Number(cidr.slice(cidr.indexOf("/") + 1)));
}

/** Orders canonical CIDR texts by address, then prefix (for sorting). */
export function compareCidrText(a: string, b: string): number {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.network - y.network || x.prefix - y.prefix;
}

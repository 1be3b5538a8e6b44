/**
 * A short, stable, synchronous hash for kernel object names (FNV-1a, 64 bits): the same input
 * gives the same name on every node and after every restart, which is what lets an incremental
 * transaction address the chains and maps a previous one created. Not for security. Private to
 * `src/policy`.
 * @module
 */

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = (1n << 64n) - 1n;

/** The first `length` (default 12, at most 16) hex digits of FNV-1a-64 of `text` as UTF-8. */
export function shortHash(text: string, length = 12): string {
  let hash = OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * PRIME) & MASK;
  }
  return hash.toString(16).padStart(16, "0").slice(0, length);
}

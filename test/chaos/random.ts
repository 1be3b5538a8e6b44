/**
 * The chaos battery's seeded generator: every random choice of a scenario comes from one
 * {@linkcode Random} made from a 32-bit seed, so a run is reproduced exactly by passing its seed
 * again (`--seed N`, or `TERN_CHAOS_SEED=N` in the unit tests). mulberry32: small, fast, and good
 * enough to spread cases; not for cryptography.
 * @module
 */

/** A reproducible stream of pseudo-random choices. */
export class Random {
  #state: number;

  /** The stream for `seed` (any integer; only its low 32 bits count). */
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty list");
    return items[this.int(items.length)]!;
  }

  /** A string of `length` characters drawn from `alphabet`. */
  string(length: number, alphabet: string): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }

  /** An independent stream derived from this one (for a sub-generator that must not shift it). */
  fork(): Random {
    return new Random(Math.floor(this.next() * 4294967296));
  }
}

/**
 * The seed of a run: `--seed N` or `--seed=N` in `args`, else `TERN_CHAOS_SEED`, else `fallback`.
 * Throws a `RangeError` naming the bad value when it is not an integer.
 */
export function chaosSeed(
  args: readonly string[] = [],
  options: { env?: (name: string) => string | undefined; fallback?: number } = {},
): number {
  let text: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--seed") text = args[i + 1];
    else if (arg.startsWith("--seed=")) text = arg.slice("--seed=".length);
  }
  text ??= (options.env ?? ((name) => Deno.env.get(name)))("TERN_CHAOS_SEED");
  if (text === undefined || text === "") return options.fallback ?? 1;
  if (!/^-?\d+$/.test(text)) {
    throw new RangeError(`Invalid seed: must be an integer: got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/**
 * A seeded pseudo-random generator for the chaos battery, so that a run that found a hole can be
 * replayed with the same `--seed`: the moments of each kill, the order of ADDs and DELs and the
 * tampering all come from it. mulberry32: small, fast, and good enough to scatter faults; not for
 * anything secret. Code that takes a bare `() => number` (the fake API server's faults and
 * clusters, the policy compiler's random test) uses {@linkcode seededRandomFunction}.
 * @module
 */

/** Reproducible random numbers from a 32-bit seed. */
export class SeededRandom {
  #state: number;

  /** `seed` is taken modulo 2^32. */
  constructor(seed: number) {
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

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Whether an event of probability `p` happens. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of `items` (which must not be empty). */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A shuffled copy of `items` (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** A new generator seeded from this one: a sub-task gets its own reproducible stream. */
  fork(): SeededRandom {
    return new SeededRandom(Math.floor(this.next() * 4294967296));
  }
}

/** `SeededRandom(seed)`'s floats in [0, 1) as a function, for code that takes `() => number`. */
export function seededRandomFunction(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}

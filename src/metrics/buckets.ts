/**
 * Histogram buckets in the steps people read durations in: 1, 2.5 and 5 of each decade (1 ms,
 * 2.5 ms, 5 ms, 10 ms, …), the series Prometheus' client libraries default to. Every histogram of
 * tern takes a stretch of it, so a dashboard's quantiles line up across metrics. Pure.
 * @module
 */

const STEPS = [1, 2.5, 5] as const;

/**
 * The 1–2.5–5 steps from `from` to `to`, both included when they are steps:
 * `decadeBuckets(0.005, 10)` is `[0.005, 0.01, 0.025, …, 5, 10]`. Each bound is the decimal it
 * reads as (`0.0025`, not a product's rounding). Throws unless `0 < from <= to`, both finite.
 */
export function decadeBuckets(from: number, to: number): number[] {
  if (!(from > 0 && from <= to && Number.isFinite(to))) {
    throw new RangeError(`Cannot make buckets from ${from} to ${to}: need 0 < from <= to`);
  }
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(from)); e <= Math.ceil(Math.log10(to)); e++) {
    for (const step of STEPS) {
      const bound = Number(`${step}e${e}`);
      if (bound >= from && bound <= to) out.push(bound);
    }
  }
  return out;
}

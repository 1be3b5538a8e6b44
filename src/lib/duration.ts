/**
 * Durations as operators write them in the daemon's config: Go-style strings such as `30s`,
 * `2m`, `1h30m` or `500ms`, parsed to milliseconds. Pure.
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses a duration such as `30s`, `1m30s` or `250ms` to whole milliseconds; `0` alone is zero.
 * Throws a `TypeError` naming the bad text.
 */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  if (!WHOLE.test(text)) {
    throw new TypeError(
      `Not a duration: "${text}": expected a number and a unit (ms, s, m, h), e.g. "30s" or "1m30s"`,
    );
  }
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

/** Formats milliseconds as the shortest duration string that {@linkcode parseDuration} reads back. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const unit of ["h", "m", "s", "ms"]) {
    const size = UNIT_MS[unit]!;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

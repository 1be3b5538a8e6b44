/**
 * Applies `ip -batch` lines so that one bad line never blocks the rest: one `ip -force -batch -`
 * runs them all, and the failures are attributed to their lines from iproute2's
 * `Command failed -:N` reports. When a failed run cannot be attributed (no such report: `ip`
 * missing, killed, or a version that words it differently), each line is run again on its own.
 * A failure that means the line's goal already holds — `rule add` of a rule that exists, a
 * `del` of something already gone — counts as success, so applying twice is harmless and a
 * line-by-line retry after a partial run is judged correctly.
 * @module
 */
import type { Ip, Where } from "./ip.ts";

/** A line that failed, and why (`ip`'s own message). */
export interface LineFailure {
  /** 0-based index into the lines given. */
  index: number;
  line: string;
  error: string;
}

/** What {@linkcode applyLines} did. */
export interface ApplyResult {
  failed: LineFailure[];
  /** How many `ip` processes ran. */
  runs: number;
  /** Whether the lines had to be run one by one. */
  lineByLine: boolean;
}

const FAILED = /^Command failed (?:-|\S+):(\d+)\s*$/;

/**
 * Whether a failure of `line` with `message` leaves what the line wanted in place anyway: the
 * rule to add exists already, the route or rule to delete is already gone, or the veth whose group
 * is to be set is gone.
 */
export function alreadyDone(line: string, message: string): boolean {
  if (/^rule add /.test(line)) return /File exists/i.test(message);
  // A veth that is gone needs no mark (daemon/policy/veth_groups.ts).
  if (/^link set dev \S+ group /.test(line)) {
    return /Cannot find device|No such device/i.test(message);
  }
  if (/^(route|rule) del /.test(line)) {
    return /No such process|No such file or directory|Cannot find device/i.test(message);
  }
  return false;
}

/**
 * The failures named in `ip -force -batch` stderr: each is the text after the previous report,
 * then `Command failed -:N` with N 1-based. Pure; undefined when stderr names no line.
 */
export function parseBatchFailures(
  stderr: string,
  lines: readonly string[],
): LineFailure[] | undefined {
  const failures: LineFailure[] = [];
  let message: string[] = [];
  for (const text of stderr.split("\n")) {
    const report = FAILED.exec(text);
    if (report === null) {
      if (text.trim() !== "") message.push(text.trim());
      continue;
    }
    const index = Number(report[1]) - 1;
    const line = lines[index];
    if (line !== undefined) {
      failures.push({ index, line, error: message.join("; ") || "failed" });
    }
    message = [];
  }
  return failures.length > 0 ? failures : undefined;
}

/** Runs `lines` with as few `ip` processes as possible; never throws on a failed line. */
export async function applyLines(
  ip: Ip,
  lines: readonly string[],
  where: Where = {},
): Promise<ApplyResult> {
  if (lines.length === 0) return { failed: [], runs: 0, lineByLine: false };
  const result = await ip.forceBatch(lines, where);
  if (result.code === 0) return { failed: [], runs: 1, lineByLine: false };
  const attributed = parseBatchFailures(result.stderr, lines);
  if (attributed !== undefined) {
    return {
      failed: attributed.filter((f) => !alreadyDone(f.line, f.error)),
      runs: 1,
      lineByLine: false,
    };
  }
  const failed: LineFailure[] = [];
  for (const [index, line] of lines.entries()) {
    const one = await ip.forceBatch([line], where);
    if (one.code === 0) continue;
    const error = one.stderr.split("\n").map((l) => l.trim())
      .filter((l) => l !== "" && !FAILED.test(l)).join("; ") || `exit ${one.code}`;
    if (!alreadyDone(line, error)) failed.push({ index, line, error });
  }
  return { failed, runs: 1 + lines.length, lineByLine: true };
}

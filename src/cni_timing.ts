/**
 * How the plugin tells the daemon which CNI command a request serves and how long that command
 * has run so far: a `Tern-Cni: ADD 12.3` header on each request it already makes (milliseconds
 * since the plugin's runtime started, `performance.now()`). The daemon adds its own time to the
 * last request of a command and so measures each command from the plugin's start to its own
 * answer, with no request and no metrics code added to the plugin. A header, not a body field:
 * the API's bodies stay as they are, and requests from the CLI (no header) are not counted.
 * Pure; shared by `src/daemon_client.ts` and the daemon.
 * @module
 */

/** The header's name. */
export const CNI_TIMING_HEADER = "tern-cni";

/** The CNI commands the plugin sends requests for. */
export const TIMED_COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS"] as const;

/** One of {@linkcode TIMED_COMMANDS}. */
export type TimedCommand = typeof TIMED_COMMANDS[number];

/** What the header says. */
export interface CniTiming {
  command: TimedCommand;
  /** Milliseconds from the plugin's start to the moment it sent the request. */
  elapsedMs: number;
}

/** An elapsed time above this (an hour) is not believed. */
const MAX_ELAPSED_MS = 3_600_000;

/** The header's value for `command` at `elapsedMs`, to a tenth of a millisecond. */
export function formatCniTiming(command: string, elapsedMs: number): string {
  return `${command} ${Math.max(0, elapsedMs).toFixed(1)}`;
}

/** The header's value read back; undefined when absent or not of this shape. */
export function parseCniTiming(value: string | null): CniTiming | undefined {
  if (value === null) return undefined;
  const m = /^([A-Z]+) (\d{1,7}(?:\.\d{1,3})?)$/.exec(value.trim());
  if (m === null) return undefined;
  const command = m[1] as TimedCommand;
  const elapsedMs = Number(m[2]);
  if (!TIMED_COMMANDS.includes(command) || elapsedMs > MAX_ELAPSED_MS) return undefined;
  return { command, elapsedMs };
}

/**
 * Children that die with their parent, the daemon. A daemon killed with SIGKILL runs no cleanup, and a child
 * that only writes (`ip monitor` reads nothing) notices its parent's death only at its next
 * write, when the pipe is broken: one was seen alive 16 minutes after ternd, reparented to PID 1
 * and holding the descriptors it inherited. So every long-lived child is started through
 * util-linux `setpriv --pdeathsig KILL`, which asks the kernel to send SIGKILL to the child the
 * moment the daemon's thread that started it ends, and then `sh`, which closes the one gap left:
 * a daemon killed between the fork and setpriv's `prctl` leaves an orphan the kernel will never
 * signal, so the shell compares its parent with the daemon's pid and exits when they differ
 * before it `exec`s the command (same pid: kill() and the `/proc` checks still reach it).
 * Deno starts children from its JavaScript thread, which lives as long as the process.
 * @module
 */

/** The exit code of a wrapped child whose daemon was gone before it could start. */
export const ORPHAN_EXIT_CODE = 125;

/** The shell line: exit unless the parent is still the daemon, else become the command. */
const GUARD = `[ "$PPID" = "$0" ] || exit ${ORPHAN_EXIT_CODE}; exec "$@"`;

/**
 * `argv` wrapped so that its process is killed when process `parentPid` (the daemon, the
 * process that spawns the result) ends, even by SIGKILL.
 */
export function dieWithParentArgv(argv: readonly string[], parentPid: number): string[] {
  if (argv.length === 0) throw new TypeError("Cannot wrap an empty command");
  return ["setpriv", "--pdeathsig", "KILL", "--", "sh", "-c", GUARD, String(parentPid), ...argv];
}

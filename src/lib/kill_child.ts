/**
 * Ending a spawned process for good: SIGKILL, then wait until it has exited, so that nothing it
 * holds (a port, a namespace's socket) outlives the caller's clean-up. A process that has exited
 * already is not an error. Used by servers that tests and benchmarks start in namespaces.
 * @module
 */

/** Kills `child` with SIGKILL (nothing if it has exited) and resolves with its final status. */
export async function killChild(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  return await child.status;
}

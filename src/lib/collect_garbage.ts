/**
 * One full garbage collection on request, where the runtime offers it. After the initial list of a
 * large cluster (150 000 pods: ~600 MB of JSON parsed) V8 keeps the old space it grew for the
 * list's allocation rate long after the garbage died, and it shrinks only once it runs a full
 * collection; one collected on purpose once the list is in gives the memory back at once
 * (docs/benchmarks.md, kube-scale). V8 offers the call only with `--expose-gc` (ternd's launcher,
 * scripts/launcher.sh, passes it): without it this does nothing.
 * @module
 */

/** What one collection did, in MiB of the process's resident memory, and what it took. */
export interface Collected {
  /** Wall time of the collection, ms. */
  ms: number;
  /** Resident memory before, MiB. */
  rssBeforeMiB: number;
  /** Resident memory after, MiB. */
  rssAfterMiB: number;
  /** V8's live heap after, MiB. */
  heapUsedMiB: number;
}

/**
 * Runs `gc` (default V8's `gc()` on the global object, present with `--expose-gc`) and returns what
 * it did, or undefined when there is none to run.
 */
export function collectGarbage(
  gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc,
  memoryUsage: () => { rss: number; heapUsed: number } = Deno.memoryUsage,
): Collected | undefined {
  if (typeof gc !== "function") return undefined;
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const before = memoryUsage().rss;
  const t = performance.now();
  gc();
  const ms = Math.round(performance.now() - t);
  const after = memoryUsage();
  return {
    ms,
    rssBeforeMiB: mib(before),
    rssAfterMiB: mib(after.rss),
    heapUsedMiB: mib(after.heapUsed),
  };
}

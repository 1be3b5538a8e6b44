/**
 * One full garbage collection on request, where the runtime offers it. After the initial list of a
 * large cluster (150 000 pods: ~600 MB of JSON parsed) V8 keeps the old space it grew for the
 * list's allocation rate long after the garbage died. A plain full collection frees the garbage
 * but keeps the pages: at 150 000 pods it left 310 MiB committed for 152 MiB live (the young
 * generation's 60 MiB, and old pages where the kept pods sit among the list's dead objects).
 * So this asks for V8's "last resort" collection, the one it runs before giving up for lack of
 * memory: full collections until nothing more dies, compacting every page and shrinking the
 * young generation; there it left 162 MiB committed and the RSS fell from 537 to 280 MiB
 * (docs/benchmarks.md, kube-scale). V8 offers the call only with `--expose-gc` (ternd's launcher,
 * scripts/launcher.sh, passes it): without it this does nothing. After the collection glibc's
 * free heap memory goes back to the kernel too (`malloc_trim`, src/lib/malloc_trim.ts): the list's
 * TLS and HTTP buffers were malloc'd outside V8's heap.
 * @module
 */
import { loadMallocTrim, type MallocTrim } from "./malloc_trim.ts";

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

/** V8's exposed `gc()`, which takes options since V8 9.x (older ones ignore them). */
export type Gc = (options?: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/**
 * Runs `gc` (default V8's `gc()` on the global object, present with `--expose-gc`) as a last-resort
 * collection, then `trim` (default glibc's `malloc_trim`, where there is one), and returns what
 * they did, or undefined when there is no `gc` to run.
 */
export function collectGarbage(
  gc: Gc | undefined = (globalThis as { gc?: Gc }).gc,
  memoryUsage: () => { rss: number; heapUsed: number } = Deno.memoryUsage,
  trim: MallocTrim | undefined = loadMallocTrim(),
): Collected | undefined {
  if (typeof gc !== "function") return undefined;
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const before = memoryUsage().rss;
  const t = performance.now();
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  trim?.(0);
  const ms = Math.round(performance.now() - t);
  const after = memoryUsage();
  return {
    ms,
    rssBeforeMiB: mib(before),
    rssAfterMiB: mib(after.rss),
    heapUsedMiB: mib(after.heapUsed),
  };
}

/**
 * Where a stretch of code allocates, by function: V8's sampling heap profiler (through
 * `node:inspector`, which Deno offers) with the objects that died in a scavenge or a full
 * collection counted too, so that garbage shows as much as what survives. The benches use it to
 * say which functions make a policy run's or a watch event's garbage (docs/benchmarks.md, "Less
 * garbage per event"); the tree of samples is folded by the pure {@linkcode allocationSites}.
 * @module
 */
import { Session } from "node:inspector";

/** One node of V8's sampled allocation tree (`HeapProfiler.SamplingHeapProfileNode`). */
export interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  /** Bytes sampled in this frame itself (estimated from the samples). */
  selfSize: number;
  children: SamplingNode[];
}

/** The bytes allocated in one function, itself (`self`) and with what it called (`total`). */
export interface AllocationSite {
  /** `name file:line` (line 1-based; the file's path after the last `/src/`, `/scripts/`, …). */
  site: string;
  self: number;
  total: number;
}

/**
 * The sites of a sampled tree, the largest `self` first; the root's `total` is everything
 * sampled. A builtin's bytes count as its caller's, and a recursive function's `total` counts
 * each byte once (a frame below another of the same site is not added again).
 */
export function allocationSites(head: SamplingNode): AllocationSite[] {
  const sites = new Map<string, AllocationSite>();
  // A builtin's frame (no url: `push`, `map`, `next`…) is its caller's: its bytes are the
  // caller's choice.
  const walk = (node: SamplingNode, open: Set<string>, caller: AllocationSite | undefined) => {
    const { functionName, url, lineNumber } = node.callFrame;
    let site = caller;
    let outer = false;
    if (url !== "" || caller === undefined) {
      const name = url === ""
        ? functionName || "(root)"
        : `${functionName || "(anonymous)"} ${shortUrl(url)}:${lineNumber + 1}`;
      site = sites.get(name);
      if (site === undefined) sites.set(name, site = { site: name, self: 0, total: 0 });
      outer = !open.has(name);
      if (outer) open.add(name);
    }
    site!.self += node.selfSize;
    let total = node.selfSize;
    for (const child of node.children) total += walk(child, open, site);
    if (outer) {
      open.delete(site!.site);
      site!.total += total;
    }
    return total;
  };
  walk(head, new Set(), undefined);
  return [...sites.values()].sort((a, b) => b.self - a.self || compare(a.site, b.site));
}

/** A sampling in progress: `stop()` ends it and returns the sampled tree's root. */
export interface AllocationSampling {
  stop(): Promise<SamplingNode>;
}

/**
 * Starts sampling every allocation of this isolate, one sample per `intervalBytes` on average
 * (default 4 KiB), garbage included.
 */
export async function startAllocationSampling(
  options: { intervalBytes?: number } = {},
): Promise<AllocationSampling> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) =>
      session.post(
        method,
        params ?? {},
        (err: Error | null, result: unknown) => err ? reject(err) : resolve(result as T),
      )
    );
  await post("HeapProfiler.startSampling", {
    samplingInterval: options.intervalBytes ?? 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop() {
      const { profile } = await post<{ profile: { head: SamplingNode } }>(
        "HeapProfiler.stopSampling",
      );
      session.disconnect();
      return profile.head;
    },
  };
}

function shortUrl(url: string): string {
  const at = Math.max(
    url.lastIndexOf("/src/"),
    url.lastIndexOf("/scripts/"),
    url.lastIndexOf("/daemon/"),
    url.lastIndexOf("/test/"),
  );
  return at < 0 ? url.slice(url.lastIndexOf("/") + 1) : url.slice(at + 1);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

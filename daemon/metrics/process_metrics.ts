/**
 * The daemon process's basics under the names every Prometheus client library uses
 * (`process_resident_memory_bytes`, `process_open_fds`, `process_start_time_seconds`, …), read
 * from `/proc/self` at each scrape, plus the JavaScript heap and the build. The soak test's
 * question "do memory and file descriptors stay flat?" is a graph of these. The parsers are pure;
 * the reads are injected.
 * @module
 */
import type { Registry } from "../../src/metrics/registry.ts";
import { TERN_VERSION } from "../../src/version.ts";

/** CPU ticks per second (`getconf CLK_TCK`): 100 on every Linux tern runs on. */
export const CLK_TCK = 100;

/** What `/proc/self/status` says of memory. */
export interface ProcMemory {
  residentBytes: number;
  virtualBytes: number;
}

/** `VmRSS` and `VmSize` of the text of `/proc/<pid>/status`, in bytes. Pure. */
export function parseProcStatus(text: string): ProcMemory {
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB$`, "m").exec(text);
    if (m === null) throw new Error(`Cannot read /proc/self/status: no ${key} line`);
    return Number(m[1]) * 1024;
  };
  return { residentBytes: kib("VmRSS"), virtualBytes: kib("VmSize") };
}

/** CPU seconds (user + system) of the text of `/proc/<pid>/stat`. Pure. */
export function parseProcStatCpuSeconds(text: string): number {
  // The command (field 2) is in parentheses and may hold spaces: fields count after its ")".
  const close = text.lastIndexOf(")");
  const fields = close < 0 ? [] : text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Cannot read /proc/self/stat: no utime and stime: ${text.slice(0, 80)}`);
  }
  return (utime + stime) / CLK_TCK;
}

/** The soft limit of open files of the text of `/proc/<pid>/limits`; undefined if unlimited. Pure. */
export function parseMaxFds(text: string): number | undefined {
  const m = /^Max open files\s+(\S+)\s+\S+\s+files\s*$/m.exec(text);
  if (m === null) throw new Error("Cannot read /proc/self/limits: no Max open files line");
  return m[1] === "unlimited" ? undefined : Number(m[1]);
}

/** Where the process's figures come from; tests pass fixed ones. */
export interface ProcessSource {
  /** Reads a file of `/proc/self`: `status`, `stat`, `limits`. */
  read(name: "status" | "stat" | "limits"): Promise<string>;
  /** How many descriptors are open (entries of `/proc/self/fd`). */
  openFds(): Promise<number>;
  /**
   * The heap of the JavaScript runtime, and the memory outside it that its objects hold
   * (`external`: ArrayBuffer backing stores among it, freed only when V8 collects their owner).
   */
  heap(): { used: number; total: number; external: number };
  /** When the process started, seconds since the epoch. */
  startTimeSeconds: number;
}

/** This process, on Linux. */
export const selfProcess: ProcessSource = {
  read: (name) => Deno.readTextFile(`/proc/self/${name}`),
  async openFds() {
    let n = 0;
    for await (const _ of Deno.readDir("/proc/self/fd")) n++;
    return n - 1; // the directory's own descriptor, open while it is read
  },
  heap() {
    const m = Deno.memoryUsage();
    return { used: m.heapUsed, total: m.heapTotal, external: m.external };
  },
  // The runtime's time origin: a few milliseconds after exec.
  startTimeSeconds: performance.timeOrigin / 1000,
};

/** Registers the process metrics in `registry`, read at each scrape from `source`. */
export function processMetrics(registry: Registry, source: ProcessSource = selfProcess): void {
  const cpu = registry.counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
  });
  const resident = registry.gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
  });
  const virtual = registry.gauge({
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
  });
  const fds = registry.gauge({
    name: "process_open_fds",
    help: "Number of open file descriptors.",
  });
  const maxFds = registry.gauge({
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
  });
  const start = registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
  });
  const heapUsed = registry.gauge({
    name: "tern_js_heap_used_bytes",
    help: "JavaScript heap in use, in bytes.",
  });
  const heapTotal = registry.gauge({
    name: "tern_js_heap_total_bytes",
    help: "JavaScript heap allocated, in bytes.",
  });
  const heapExternal = registry.gauge({
    name: "tern_js_external_bytes",
    help: "Memory outside the JavaScript heap held by its objects (buffers), in bytes.",
  });
  const build = registry.gauge({
    name: "tern_build_info",
    help: "Always 1; the labels say which tern and which Deno runs.",
    labels: ["version", "deno"],
  });
  build.set({ version: TERN_VERSION, deno: Deno.version.deno }, 1);
  start.set(undefined, source.startTimeSeconds);
  registry.onCollect(async () => {
    const [status, stat, limits, open] = await Promise.all([
      source.read("status"),
      source.read("stat"),
      source.read("limits"),
      source.openFds(),
    ]);
    const memory = parseProcStatus(status);
    const max = parseMaxFds(limits);
    const heap = source.heap();
    cpu.set(undefined, parseProcStatCpuSeconds(stat));
    resident.set(undefined, memory.residentBytes);
    virtual.set(undefined, memory.virtualBytes);
    fds.set(undefined, open);
    maxFds.set(undefined, max ?? Infinity);
    heapUsed.set(undefined, heap.used);
    heapTotal.set(undefined, heap.total);
    heapExternal.set(undefined, heap.external);
  });
}

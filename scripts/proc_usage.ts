/**
 * A process's CPU time and memory from /proc, for the daemon's idle cost: CPU ticks
 * (`utime + stime` of `/proc/<pid>/stat`, which include the process's exited threads; and of
 * its live children when asked) and the resident set (`VmRSS` of `/proc/<pid>/status`). A tick
 * is 10 ms, so a 10 s window resolves 0.1 % of a core; lengthen the window for more. (The
 * threads' `schedstat` would resolve nanoseconds, but a thread that exits during the window
 * takes its time with it, and Deno's runtime retires idle worker threads.) The parsers are pure; {@linkcode sampleUsage} measures
 * a window.
 * @module
 */

/** CPU ticks per second (`getconf CLK_TCK`); 100 on every Linux this runs on. */
export const CLK_TCK = 100;

/** `utime + stime` in ticks from the text of `/proc/<pid>/stat` (pure). */
export function parseStatTicks(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces: split after its ")".
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new Error(`Cannot parse /proc stat: no command field: ${stat.slice(0, 80)}`);
  const fields = stat.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Cannot parse /proc stat: utime/stime: ${stat.slice(0, 80)}`);
  }
  return utime + stime;
}

/** `VmRSS` in KiB from the text of `/proc/<pid>/status` (pure). */
export function parseRssKiB(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error("Cannot parse /proc status: no VmRSS line");
  return Number(match[1]);
}

/**
 * The parts of the resident set in KiB from the text of `/proc/<pid>/status` (pure): `anon`
 * (the heaps: V8's, the allocator's), `file` (mapped files: the executable's pages touched,
 * libraries), `shmem`.
 */
export function parseRssParts(status: string): { anon: number; file: number; shmem: number } {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, "m").exec(status);
    if (!match) throw new Error(`Cannot parse /proc status: no ${name} line`);
    return Number(match[1]);
  };
  return { anon: field("RssAnon"), file: field("RssFile"), shmem: field("RssShmem") };
}

/** The pid's live descendants, from `/proc/<pid>/task/<tid>/children`. */
export async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    let tasks: string[] = [];
    try {
      for await (const t of Deno.readDir(`/proc/${p}/task`)) tasks.push(t.name);
    } catch {
      tasks = [];
    }
    for (const tid of tasks) {
      const text = await Deno.readTextFile(`/proc/${p}/task/${tid}/children`).catch(() => "");
      for (const c of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(c);
        queue.push(c);
      }
    }
  }
  return out;
}

/** CPU ticks and RSS of one process now. */
export async function readUsage(pid: number): Promise<{ ticks: number; rssKiB: number }> {
  return {
    ticks: parseStatTicks(await Deno.readTextFile(`/proc/${pid}/stat`)),
    rssKiB: parseRssKiB(await Deno.readTextFile(`/proc/${pid}/status`)),
  };
}

/** What a process cost over a window. */
export interface UsageSample {
  /** CPU used, percent of one core, over the window. */
  cpuPercent: number;
  /** CPU used over the window, ms (a multiple of 10: one tick). */
  cpuMs: number;
  /** The window, s. */
  seconds: number;
  /** Resident set at the end of the window, KiB. */
  rssKiB: number;
  /** Processes counted (the pid and, with `children`, its descendants at the end). */
  processes: number;
}

/**
 * Measures `pid` over `windowMs` (default 10 s): CPU percent of one core and RSS at the end.
 * With `children`, descendants alive at both ends are added (e.g. an `ip monitor` the daemon
 * runs). Several pids measured at once share the same window when called in parallel.
 */
export async function sampleUsage(
  pid: number,
  options: { windowMs?: number; children?: boolean } = {},
): Promise<UsageSample> {
  const windowMs = options.windowMs ?? 10_000;
  const pids = async () => [pid, ...(options.children ? await descendants(pid) : [])];
  const before = new Map<number, { ticks: number }>();
  for (const p of await pids()) {
    const usage = await readUsage(p).catch(() => undefined);
    if (usage) before.set(p, usage);
  }
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const seconds = (performance.now() - t0) / 1000;
  let ticks = 0;
  let rssKiB = 0;
  let processes = 0;
  for (const p of await pids()) {
    const now = await readUsage(p).catch(() => undefined);
    const then = before.get(p);
    if (!now || !then) continue;
    ticks += now.ticks - then.ticks;
    rssKiB += now.rssKiB;
    processes++;
  }
  return {
    cpuPercent: (ticks / CLK_TCK / seconds) * 100,
    cpuMs: (ticks / CLK_TCK) * 1000,
    seconds,
    rssKiB,
    processes,
  };
}

/** Busy and total jiffies of all CPUs from the text of `/proc/stat` (pure). */
export function parseCpuLine(stat: string): { busy: number; total: number } {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("Cannot parse /proc/stat: no cpu line");
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * How busy the machine is over `windowMs` (default 1000): percent of all CPUs' time not idle.
 * A benchmark reports it, so figures taken beside other work can be recognised.
 */
export async function machineBusyPercent(windowMs = 1000): Promise<number> {
  const a = parseCpuLine(await Deno.readTextFile("/proc/stat"));
  await new Promise((r) => setTimeout(r, windowMs));
  const b = parseCpuLine(await Deno.readTextFile("/proc/stat"));
  return b.total === a.total ? 0 : ((b.busy - a.busy) / (b.total - a.total)) * 100;
}

/**
 * How fast ternd repairs a tampered `inet tern`, and what watching for it costs. On a sandbox
 * node (one daemon, two wired pods), someone else deletes a rule of the `forward` chain,
 * flushes that chain, or deletes the table; the time from the tampering command's end to the
 * chain holding all its rules again is measured, polling every 10 ms (each poll runs `nft`, so
 * the resolution is ~10-20 ms). With `reconcile.monitor` (the default) the daemon follows
 * nftables commits (`src/nft_generation.ts`); without it only the periodic check
 * (`reconcile.interval`, 10 s here) finds the change, as it did whenever `nft monitor` had
 * crashed; a repair slower than 1 s is counted apart. The monitors' restarts are counted from
 * the daemon's log. The cost side: one read of the generation id (`NftGeneration.read`, in a
 * throwaway namespace), and the daemon's idle CPU with and without following commits over the
 * same window. `TERN_BIN` picks the tern to measure (as for the sandbox), so an older tree with
 * `nft monitor` can be measured the same way. Run alone:
 * `deno run -A --unstable-kv scripts/bench_table_repair.ts`, or as
 * `deno task bench --only table-repair`.
 * @module
 */
import { parseArgs } from "node:util";
import { Sandbox, type SandboxNode } from "../test/sandbox.ts";
import { denoRunner } from "../src/runner.ts";
import { NftGeneration } from "../src/nft_generation.ts";
import { sampleUsage } from "./proc_usage.ts";

/** The daemon's `reconcile.interval` here (its default), the period of the table check. */
const INTERVAL_MS = 10_000;

/** The ways of tampering with the table, each a command run in the node's namespace. */
export const TAMPERINGS = ["delete rule", "flush chain", "delete table"] as const;

/** One way of tampering. */
export type Tampering = typeof TAMPERINGS[number];

/** Repair times of one daemon setting, by tampering, in ms. */
export interface RepairTimes {
  monitor: boolean;
  times: Record<Tampering, number[]>;
  /** `… monitor ended; restarting` lines in the daemon's log. */
  monitorRestarts: number;
}

/** The whole measurement. */
export interface TableRepairBench {
  repairs: RepairTimes[];
  /** One generation id read, in microseconds (mean of many). */
  readUs: number;
  /** The idle daemon's CPU over `idleSeconds`, with and without following commits, % of a core. */
  idle: { seconds: number; watchingPercent: number; periodicPercent: number } | undefined;
}

/** The handles of the rules in an `nft -a list chain` listing (pure). */
export function ruleHandles(listing: string): number[] {
  return listing.split("\n")
    .filter((line) => !/^\s*(table|chain|type)\b/.test(line.trim()))
    .map((line) => /# handle (\d+)\s*$/.exec(line)?.[1])
    .filter((h): h is string => h !== undefined)
    .map(Number);
}

async function nftIn(node: SandboxNode, args: string[]): Promise<string> {
  const out = await denoRunner(["ip", "netns", "exec", node.netns, "nft", ...args]);
  return out.code === 0 ? out.stdout : "";
}

const forwardRules = async (node: SandboxNode) =>
  ruleHandles(await nftIn(node, ["-a", "list", "chain", "inet", "tern", "forward"]));

/** Tampers once and returns the ms until the forward chain holds `rules` rules again. */
async function tamperOnce(
  node: SandboxNode,
  how: Tampering,
  rules: number,
  timeoutMs: number,
): Promise<number> {
  const handles = await forwardRules(node);
  if (handles.length !== rules) throw new Error(`The forward chain has ${handles.length} rules`);
  const args = how === "delete rule"
    ? ["delete", "rule", "inet", "tern", "forward", "handle", String(handles[0])]
    : how === "flush chain"
    ? ["flush", "chain", "inet", "tern", "forward"]
    : ["delete", "table", "inet", "tern"];
  const out = await denoRunner(["ip", "netns", "exec", node.netns, "nft", ...args]);
  if (out.code !== 0) throw new Error(`Cannot tamper (${how}): ${out.stderr.trim()}`);
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if ((await forwardRules(node)).length === rules) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`The table was not repaired within ${timeoutMs} ms after: ${how}`);
}

async function withNode<T>(
  monitor: boolean,
  fn: (node: SandboxNode) => Promise<T>,
): Promise<{ value: T; log: string }> {
  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("n1", {
      podCIDR: "10.244.1.0/24",
      extraConfig: `reconcile: { monitor: ${monitor}, interval: ${INTERVAL_MS}ms }`,
    });
    await sb.startDaemon(node);
    for (const name of ["a", "b"]) await sb.wire(await sb.addPod(node, name));
    const value = await fn(node);
    return { value, log: await Deno.readTextFile(node.daemonLog) };
  } finally {
    await sb.cleanup();
  }
}

/** Mean microseconds of one generation id read, in a throwaway namespace. */
async function readCostUs(n = 20_000): Promise<number> {
  const netns = `ternt${Deno.pid}xrd`;
  await denoRunner(["ip", "netns", "add", netns]);
  const reader = new NftGeneration({ netns });
  try {
    reader.read();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) reader.read();
    return (performance.now() - t0) * 1000 / n;
  } finally {
    reader.close();
    await denoRunner(["ip", "netns", "del", netns]);
  }
}

/** Measures repairs (`rounds` of each tampering per setting) and the cost of watching. */
export async function benchTableRepair(
  options: { rounds: number; periodicRounds: number; idleSeconds: number },
): Promise<TableRepairBench> {
  const repairs: RepairTimes[] = [];
  const idle: Record<string, number> = {};
  for (const monitor of [true, false]) {
    const rounds = monitor ? options.rounds : options.periodicRounds;
    const times = Object.fromEntries(TAMPERINGS.map((t) => [t, [] as number[]])) as Record<
      Tampering,
      number[]
    >;
    const { log } = await withNode(monitor, async (node) => {
      if (options.idleSeconds > 0) {
        await new Promise((r) => setTimeout(r, 2_000)); // the first checks and passes settle
        const usage = await sampleUsage(node.daemon!.pid, { windowMs: options.idleSeconds * 1000 });
        idle[String(monitor)] = usage.cpuPercent;
      }
      const rules = (await forwardRules(node)).length;
      for (let i = 0; i < rounds; i++) {
        for (const how of TAMPERINGS) {
          // Without polling, tamper at a random point of the check's period, as someone would.
          if (!monitor) await new Promise((r) => setTimeout(r, Math.random() * INTERVAL_MS));
          times[how].push(await tamperOnce(node, how, rules, 2 * INTERVAL_MS));
          // Let the restore settle: `nft monitor` (in older trees) ignored table events for
          // 500 ms after one of tern's own transactions, as their echo.
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    });
    const monitorRestarts = log.split("\n").filter((l) =>
      /monitor ended; restarting/.test(l)
    ).length;
    repairs.push({ monitor, times, monitorRestarts });
  }
  return {
    repairs,
    readUs: await readCostUs(),
    idle: options.idleSeconds > 0
      ? {
        seconds: options.idleSeconds,
        watchingPercent: idle["true"]!,
        periodicPercent: idle["false"]!,
      }
      : undefined,
  };
}

/** The median and the largest of `values` (pure). */
export function medianMax(values: number[]): { median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, max: sorted.at(-1) ?? NaN };
}

/** The result as the table docs/benchmarks.md shows (pure). */
export function formatTableRepair(result: TableRepairBench): string {
  const lines = [
    "| reconcile.monitor | tampering    | repaired in, median | max      | over 1 s | n  |",
    "| ----------------- | ------------ | ------------------- | -------- | -------- | -- |",
  ];
  for (const r of result.repairs) {
    for (const how of TAMPERINGS) {
      const times = r.times[how];
      if (times.length === 0) continue;
      const { median, max } = medianMax(times);
      const cells = [
        String(r.monitor).padEnd(17),
        how.padEnd(12),
        `${median.toFixed(0)} ms`.padEnd(19),
        `${max.toFixed(0)} ms`.padEnd(8),
        String(times.filter((t) => t > 1_000).length).padEnd(8),
        String(times.length).padEnd(2),
      ];
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  for (const r of result.repairs) {
    lines.push(`monitor restarts in the daemon's log (monitor ${r.monitor}): ${r.monitorRestarts}`);
  }
  lines.push("", `one generation id read: ${result.readUs.toFixed(1)} us`);
  if (result.idle) {
    lines.push(
      `idle ternd CPU over ${result.idle.seconds} s: ${
        result.idle.watchingPercent.toFixed(2)
      } % with reconcile.monitor, ${result.idle.periodicPercent.toFixed(2)} % without`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "10" },
      "periodic-rounds": { type: "string", default: "3" },
      "idle-seconds": { type: "string", default: "30" },
    },
  });
  const result = await benchTableRepair({
    rounds: Number(values.rounds),
    periodicRounds: Number(values["periodic-rounds"]),
    idleSeconds: Number(values["idle-seconds"]),
  });
  console.log(formatTableRepair(result));
}

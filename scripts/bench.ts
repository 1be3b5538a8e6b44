/**
 * `deno task bench`: tern against the reference plugins in the same run, on the same sandbox
 * node, through the same libcni driver a runtime uses. Reported as ratios, never as pass/fail.
 *
 * Benchmarks:
 * - `pod-add-del`: sequential ADD then DEL of N pods (default 50), tern vs ptp + host-local;
 *   p50, p99 and their ratios.
 * - `plugin-startup`: the plugin's VERSION command, tern vs ptp: the floor of every CNI call.
 *
 * Flags: `--pods N`, `--rounds R` (alternating tern and ptp to cancel drift), `--json FILE`.
 * Uses the built `dist/tern` (run `deno task build` first; the bench builds it when missing).
 * @module
 */
import { parseArgs } from "node:util";
import { Sandbox, type SandboxNode, type SandboxPod } from "../test/sandbox.ts";
import { DIST, ensureDist } from "../test/dist.ts";

/** The p-th percentile (0..100) of `values` by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

interface Series {
  add: number[];
  del: number[];
}

async function ensureBuilt(): Promise<string> {
  const info = await ensureDist();
  console.error(`using dist/tern (${info.mode} build)`);
  return `${DIST}/tern`;
}

async function runSeries(
  sb: Sandbox,
  node: SandboxNode,
  pods: SandboxPod[],
  options: { net: string; confDir: string },
): Promise<Series> {
  const list = `${sb.dir}/bench-${options.net}.json`;
  await Deno.writeTextFile(
    list,
    JSON.stringify(pods.map((p) => ({ id: `${p.containerID}${options.net}`, netns: p.netnsPath }))),
  );
  const series: Series = { add: [], del: [] };
  for (const verb of ["add", "del"] as const) {
    const out = await sb.driver(
      node,
      ["bulk", verb, "--pods", list, "--concurrency", "1"],
      options,
    );
    if (out.code !== 0) throw new Error(`${options.net} ${verb} failed: ${out.stderr}`);
    const results = JSON.parse(out.stdout).results as { ok: boolean; ms: number; error?: string }[];
    const failed = results.filter((r) => !r.ok);
    if (failed.length) {
      throw new Error(`${options.net} ${verb}: ${failed.length} failed: ${failed[0]!.error}`);
    }
    series[verb].push(...results.map((r) => r.ms));
  }
  return series;
}

async function timeCommand(argv: string[], env: Record<string, string>, stdin: string, n: number) {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      env,
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
    await child.status;
    times.push(performance.now() - t0);
  }
  return times;
}

function row(cells: (string | number)[]): string {
  return cells.map((c, i) => (typeof c === "number" ? c.toFixed(1) : c).padEnd(i === 0 ? 26 : 10))
    .join(" ");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      pods: { type: "string", default: "50" },
      rounds: { type: "string", default: "2" },
      json: { type: "string" },
    },
  });
  const podCount = Number(values.pods);
  const rounds = Number(values.rounds);
  const tern = await ensureBuilt();
  Deno.env.set("TERN_BIN", tern);

  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("bench", { podCIDR: "10.244.0.0/16" });
    await sb.startDaemon(node);
    const confDir = `${node.dir}/bench.d`;
    await Deno.mkdir(confDir, { recursive: true });
    await Deno.writeTextFile(
      `${confDir}/10-ternbench.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "ternbench",
        plugins: [{ type: "tern", mtu: 1500, daemonSocket: node.socket }],
      }),
    );
    await Deno.writeTextFile(
      `${confDir}/20-ptpbench.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "ptpbench",
        plugins: [{
          type: "ptp",
          mtu: 1500,
          ipMasq: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.250.0.0/16" }]],
            dataDir: `${node.dir}/host-local`,
          },
        }],
      }),
    );
    const pods: SandboxPod[] = [];
    for (let i = 0; i < podCount; i++) pods.push(await sb.addPod(node, `b${i}`));

    const all: Record<string, Series> = {
      tern: { add: [], del: [] },
      "ptp+host-local": { add: [], del: [] },
    };
    for (let r = 0; r < rounds; r++) {
      for (const [label, net] of [["tern", "ternbench"], ["ptp+host-local", "ptpbench"]] as const) {
        const s = await runSeries(sb, node, pods, { net, confDir });
        all[label]!.add.push(...s.add);
        all[label]!.del.push(...s.del);
      }
    }

    const version = JSON.stringify({ cniVersion: "1.0.0", name: "x", type: "x" });
    const startup = {
      tern: await timeCommand([tern], { CNI_COMMAND: "VERSION" }, version, 20),
      ptp: await timeCommand(["/usr/lib/cni/ptp"], { CNI_COMMAND: "VERSION" }, version, 20),
    };

    console.log(`\npod-add-del: ${podCount} pods x ${rounds} rounds, sequential, via libcni (ms)`);
    console.log(row(["plugin / op", "p50", "p99", "mean"]));
    const summary: Record<string, number> = {};
    for (const [label, s] of Object.entries(all)) {
      for (const op of ["add", "del"] as const) {
        const v = s[op];
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        summary[`${label}.${op}.p50`] = percentile(v, 50);
        summary[`${label}.${op}.p99`] = percentile(v, 99);
        console.log(
          row([`${label} ${op.toUpperCase()}`, percentile(v, 50), percentile(v, 99), mean]),
        );
      }
    }
    console.log("\nratios tern / (ptp + host-local) (lower is better; goal ADD p50 <= 2.0):");
    for (const op of ["add", "del"]) {
      for (const p of ["p50", "p99"]) {
        const ratio = summary[`tern.${op}.${p}`]! / summary[`ptp+host-local.${op}.${p}`]!;
        summary[`ratio.${op}.${p}`] = ratio;
        console.log(`  ${op.toUpperCase()} ${p}: ${ratio.toFixed(2)}x`);
      }
    }
    console.log(`\nplugin-startup: VERSION, 20 runs (ms)`);
    console.log(row(["plugin", "p50", "p99"]));
    for (const [label, v] of Object.entries(startup)) {
      summary[`startup.${label}.p50`] = percentile(v, 50);
      console.log(row([label, percentile(v, 50), percentile(v, 99)]));
    }
    console.log(
      `  ratio p50: ${(summary["startup.tern.p50"]! / summary["startup.ptp.p50"]!).toFixed(2)}x`,
    );
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(summary, null, 2));
    return 0;
  } finally {
    await sb.cleanup();
  }
}

if (import.meta.main) Deno.exit(await main());

/**
 * Measures how much native memory one way of running a command keeps: runs `cat` N times (fed a
 * short text on stdin, or from a file) in this process and prints the resident memory and V8's
 * heap before, after every 1 000 runs and at the end, with a full collection before each figure. Deno 2.9.6's
 * `spawn()` + `child.output()` keeps ~60 MiB per 1 000 runs that never comes back
 * (docs/testing.md, the soak); this is how the runner's fix was chosen and how to check it again
 * on a new Deno.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc scripts/runner_rss_probe.ts --variant runner --runs 3000
 * ```
 *
 * Variants: `spawn-output` (spawn, write stdin, `child.output()`: the old runner), `spawn-streams`
 * (spawn, write stdin, read stdout and stderr ourselves, `child.status`), `file-output` (the input
 * in a temporary file, `Command.output()` on `cat FILE`), `null-output` (`Command.output()` with no
 * input: the control) and `runner` (`denoRunner` as it is, fed on stdin).
 * @module
 */
import { parseArgs } from "node:util";
import { concatBytes } from "../src/lib/bytes.ts";
import { denoRunner } from "../src/runner.ts";

const INPUT = "route replace 10.244.1.7/32 dev tern0 proto 77\n".repeat(4);
const encoder = new TextEncoder();

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return concatBytes(parts);
}

const variants: Record<string, (dir: string) => Promise<void>> = {
  "spawn-output": async () => {
    const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode(INPUT));
    await writer.close();
    await child.output();
  },
  "spawn-streams": async () => {
    const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    const out = drain(child.stdout);
    const err = drain(child.stderr);
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode(INPUT));
    await writer.close();
    await Promise.all([out, err, child.status]);
  },
  "file-output": async (dir) => {
    const file = await Deno.makeTempFile({ dir, prefix: "probe-" });
    try {
      await Deno.writeTextFile(file, INPUT);
      await new Deno.Command("cat", { args: [file], stdin: "null" }).output();
    } finally {
      await Deno.remove(file);
    }
  },
  "null-output": async () => {
    await new Deno.Command("cat", { args: ["/dev/null"], stdin: "null" }).output();
  },
  runner: async () => {
    const result = await denoRunner(["cat"], { stdin: INPUT });
    if (result.stdout !== INPUT) throw new Error("Cannot trust the runner: cat echoed otherwise");
  },
};

function figures(): { rssMiB: number; heapMiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = Deno.memoryUsage();
  return { rssMiB: Math.round(rss / 2 ** 20), heapMiB: Math.round(heapUsed / 2 ** 20) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { variant: { type: "string", default: "runner" }, runs: { type: "string" } },
  });
  const run = variants[values.variant];
  if (run === undefined) {
    throw new Error(
      `Unknown variant: ${values.variant}: use one of ${Object.keys(variants).join(", ")}`,
    );
  }
  const runs = Number(values.runs ?? "3000");
  const dir = await Deno.makeTempDir({ prefix: "tern-rss-probe-" });
  try {
    for (let i = 0; i < 50; i++) await run(dir); // warm-up: code paths, allocator arenas
    const before = figures();
    const t = performance.now();
    const rssEvery1000MiB: number[] = [];
    for (let i = 1; i <= runs; i++) {
      await run(dir);
      if (i % 1000 === 0) rssEvery1000MiB.push(figures().rssMiB);
    }
    const seconds = (performance.now() - t) / 1000;
    const after = figures();
    console.log(JSON.stringify({
      variant: values.variant,
      runs,
      rssBeforeMiB: before.rssMiB,
      rssAfterMiB: after.rssMiB,
      mibPer1000: Math.round((after.rssMiB - before.rssMiB) / runs * 1000 * 10) / 10,
      rssEvery1000MiB,
      heapAfterMiB: after.heapMiB,
      seconds: Math.round(seconds * 10) / 10,
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

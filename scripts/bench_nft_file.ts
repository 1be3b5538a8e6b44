/**
 * What writing each nftables transaction to a file costs (`src/nft.ts`): the same transactions
 * loaded alternately through `nft -f -` (stdin, the old way) and `nft -f FILE` (written, loaded,
 * removed), in paired rounds inside a namespace of its own (`ternt<pid>x…`), never the root one.
 * Prints the median of each and their ratio. Needs root.
 *
 *   deno run -A scripts/bench_nft_file.ts [--lines N] [--rounds N]
 * @module
 */
import { parseArgs } from "node:util";
import { denoRunner } from "../src/runner.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { lines: { type: "string", default: "20" }, rounds: { type: "string", default: "60" } },
});
const lines = Number(values.lines);
const rounds = Number(values.rounds);
const netns = `ternt${Deno.pid}xbenchnft`;

async function must(argv: string[], stdin?: string): Promise<void> {
  const out = await denoRunner(argv, stdin === undefined ? {} : { stdin });
  if (out.code !== 0) throw new Error(`${argv.join(" ")}: exit ${out.code}: ${out.stderr}`);
}

/** A transaction of `lines` lines that changes the set each time. */
function transaction(round: number): string {
  let text = "";
  for (let i = 0; i < lines / 2; i++) {
    text += `add element inet tern s { 10.${round % 250}.${i >> 8}.${i & 255} }\n`;
    text += "flush set inet tern s\n";
  }
  return text;
}

const viaStdin = (text: string) => must(["ip", "netns", "exec", netns, "nft", "-f", "-"], text);
async function viaFile(text: string): Promise<void> {
  const file = await Deno.makeTempFile({ prefix: "nft-transaction-", suffix: ".nft" });
  try {
    await Deno.writeTextFile(file, text);
    await must(["ip", "netns", "exec", netns, "nft", "-f", file]);
  } finally {
    await Deno.remove(file);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

await must(["ip", "netns", "add", netns]);
try {
  await must([
    "ip",
    "netns",
    "exec",
    netns,
    "nft",
    "add table inet tern; add set inet tern s { type ipv4_addr; }",
  ]);
  const stdin: number[] = [];
  const file: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const text = transaction(round);
    // Alternate which goes first, so neither always runs on a warmer cache.
    const order = round % 2 === 0 ? [viaFile, viaStdin] : [viaStdin, viaFile];
    for (const run of order) {
      const started = performance.now();
      await run(text);
      (run === viaStdin ? stdin : file).push(performance.now() - started);
    }
  }
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(
    `${lines} lines, ${rounds} paired rounds (load ${load}): nft -f - median ${
      median(stdin).toFixed(2)
    } ms, nft -f FILE median ${median(file).toFixed(2)} ms, ratio ${
      (median(file) / median(stdin)).toFixed(3)
    }`,
  );
} finally {
  await must(["ip", "netns", "del", netns]);
}

/**
 * Loading one nftables transaction into a benchmark's namespace and timing it, as ternd loads its
 * own: written to a file, then `nft -f FILE` (scripts/bench_nft_maps.ts, bench_policy_replicas.ts).
 * @module
 */
import { denoRunner } from "../src/runner.ts";

/** Runs `argv`; throws with its stderr unless it exits 0. */
export async function must(argv: string[]): Promise<void> {
  const out = await denoRunner(argv);
  if (out.code !== 0) throw new Error(`${argv.join(" ")}: exit ${out.code}: ${out.stderr}`);
}

/** Loads `text` with `nft -f` inside `netns`; the milliseconds `nft` took. */
export async function timeNftLoad(netns: string, text: string): Promise<number> {
  const file = await Deno.makeTempFile({ prefix: "nft-transaction-", suffix: ".nft" });
  try {
    await Deno.writeTextFile(file, text);
    const started = performance.now();
    await must(["ip", "netns", "exec", netns, "nft", "-f", file]);
    return performance.now() - started;
  } finally {
    await Deno.remove(file);
  }
}

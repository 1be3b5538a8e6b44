/**
 * Test support: runs `nft` in check mode (`-c`: the kernel validates the transaction, nothing is
 * loaded) on rendered text, and tells whether that is possible here (nft installed, allowed to
 * talk to netfilter). Never loads anything. Tests only.
 * @module
 */
import { denoRunner } from "../runner.ts";

/** The result of `nft -c -f -` on a text. */
export interface NftCheck {
  ok: boolean;
  stderr: string;
}

/** Runs `nft -c -f -` with `text` on stdin, through the runner every subprocess goes through. */
export async function nftCheck(text: string): Promise<NftCheck> {
  const { code, stderr } = await denoRunner(["nft", "-c", "-f", "-"], { stdin: text });
  return { ok: code === 0, stderr };
}

/** Why `nft -c` cannot run here, or undefined when it can. */
export async function nftUnavailable(): Promise<string | undefined> {
  const probe = await nftCheck("table inet ternprobe {}\n");
  if (probe.ok) return undefined;
  if (probe.stderr === "nft: command not found") {
    return "nft is not installed (apt-get install nftables)";
  }
  return `nft -c fails here (${probe.stderr.trim().split("\n")[0]}); run the tests as root`;
}

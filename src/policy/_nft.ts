/**
 * Test support: runs `nft` in check mode (`-c`: the kernel validates the transaction, nothing is
 * loaded) on rendered text, and tells whether that is possible here (nft installed, allowed to
 * talk to netfilter). Never loads anything. Tests only.
 * @module
 */

/** The result of `nft -c -f -` on a text. */
export interface NftCheck {
  ok: boolean;
  stderr: string;
}

/** Runs `nft -c -f -` with `text` on stdin. */
export async function nftCheck(text: string): Promise<NftCheck> {
  const child = new Deno.Command("nft", {
    args: ["-c", "-f", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { success, stderr } = await child.output();
  return { ok: success, stderr: new TextDecoder().decode(stderr) };
}

/** Why `nft -c` cannot run here, or undefined when it can. */
export async function nftUnavailable(): Promise<string | undefined> {
  try {
    const probe = await nftCheck("table inet ternprobe {}\n");
    if (probe.ok) return undefined;
    return `nft -c fails here (${probe.stderr.trim().split("\n")[0]}); run the tests as root`;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return "nft is not installed (apt-get install nftables)";
    }
    throw err;
  }
}

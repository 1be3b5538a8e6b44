/**
 * Kernel tests of why `Nft.apply()` writes a file: nft fed on stdin commits whatever it parsed
 * once its input ends, so a writer that dies between two commands applies a prefix; through a
 * file nft always reads the whole transaction. Each test makes its own namespace
 * (`ternt<pid>x…`) and deletes it. Needs root.
 */
import { assert, assertEquals } from "../test/assert.ts";
import { denoRunner } from "./runner.ts";
import { Nft } from "./nft.ts";

async function withNetns(fn: (netns: string) => Promise<void>): Promise<void> {
  const netns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-nft`;
  await denoRunner(["ip", "netns", "add", netns]);
  try {
    await fn(netns);
  } finally {
    await denoRunner(["ip", "netns", "del", netns]);
  }
}

/** Whether `table inet tern` exists in `netns`. */
async function hasTable(netns: string): Promise<boolean> {
  const out = await denoRunner([
    "ip",
    "netns",
    "exec",
    netns,
    "nft",
    "list",
    "table",
    "inet",
    "tern",
  ]);
  return out.code === 0;
}

Deno.test("nft on stdin commits the prefix a dying writer sent: the hazard Nft.apply() avoids", () =>
  withNetns(async (netns) => {
    await denoRunner(["ip", "netns", "exec", netns, "nft", "add table inet tern"]);
    // The first two lines of a whole-table transaction, then the writer dies (SIGKILL).
    const writer = "printf 'table inet tern {}\\ndelete table inet tern\\n'; kill -9 $$";
    const out = await denoRunner([
      "sh",
      "-c",
      'sh -c "$1" | ip netns exec "$2" nft -f -',
      "sh",
      writer,
      netns,
    ]);
    assertEquals(out.code, 0, out.stderr);
    assertEquals(await hasTable(netns), false, "nft applied the cut transaction: table deleted");
  }));

Deno.test("Nft.apply() loads the whole transaction from a file and leaves no file behind", () =>
  withNetns(async (netns) => {
    const dir = await Deno.makeTempDir();
    try {
      const nft = new Nft(denoRunner, { netns, transactionDir: dir });
      await nft.apply(
        "table inet tern {}\ndelete table inet tern\ntable inet tern {\n" +
          "\tchain forward { type filter hook forward priority filter; }\n}\n",
      );
      assert(await hasTable(netns));
      assertEquals([...Deno.readDirSync(dir)], []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }));

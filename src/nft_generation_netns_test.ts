/**
 * Kernel test: the generation id read over netlink moves with every committed nftables
 * transaction of the namespace, and with nothing else. Needs root.
 */
import { assertEquals } from "../test/assert.ts";
import { denoRunner } from "./runner.ts";
import { Nft } from "./nft.ts";
import { NftGeneration } from "./nft_generation.ts";

Deno.test("NftGeneration.read() moves with each commit in its namespace, not with failures or reads", async () => {
  const netns = `ternt${Deno.pid}xgen`;
  await denoRunner(["ip", "netns", "add", netns]);
  const home = Deno.readLinkSync("/proc/thread-self/ns/net");
  const reader = new NftGeneration({ netns });
  // Only the socket was made in the namespace: the JavaScript thread is back where it was.
  assertEquals(Deno.readLinkSync("/proc/thread-self/ns/net"), home);
  try {
    const nft = new Nft(denoRunner, { netns });
    const g0 = reader.read();
    await nft.apply("add table inet terngen\n");
    assertEquals(reader.read(), g0 + 1, "a commit");
    await nft.apply("add chain inet terngen a\nadd chain inet terngen b\n");
    assertEquals(reader.read(), g0 + 2, "one transaction of two changes: one commit");
    await nft.apply("add chain inet nosuch c\n").catch(() => {});
    await nft.check("add chain inet terngen c\n");
    await nft.listTableJson("inet", "terngen");
    assertEquals(reader.read(), g0 + 2, "a refused transaction, a check and a listing: none");
  } finally {
    reader.close();
    await denoRunner(["ip", "netns", "del", netns]);
  }
});

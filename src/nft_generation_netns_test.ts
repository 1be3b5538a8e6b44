/**
 * Kernel tests: the generation id read over netlink moves with every committed nftables
 * transaction of the namespace, and with nothing else; `commit()` wakes for commits only. Each
 * test makes its own namespace (`ternt<pid>x…`) and deletes it. Needs root.
 */
import { assert, assertEquals } from "../test/assert.ts";
import { denoRunner } from "./runner.ts";
import { Nft } from "./nft.ts";
import { NftGeneration } from "./nft_generation.ts";

async function withNetns(fn: (nft: Nft, reader: NftGeneration) => Promise<void>): Promise<void> {
  const netns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-gen`;
  await denoRunner(["ip", "netns", "add", netns]);
  try {
    const home = Deno.readLinkSync("/proc/thread-self/ns/net");
    const reader = new NftGeneration({ netns });
    try {
      // Only the sockets were made in the namespace: the JavaScript thread is back home.
      assertEquals(Deno.readLinkSync("/proc/thread-self/ns/net"), home);
      await fn(new Nft(denoRunner, { netns }), reader);
    } finally {
      await reader.close();
    }
  } finally {
    await denoRunner(["ip", "netns", "del", netns]);
  }
}

Deno.test("NftGeneration.read() moves with each commit in its namespace, not with failures or reads", () =>
  withNetns(async (nft, reader) => {
    const g0 = reader.read();
    await nft.apply("add table inet terngen\n");
    assertEquals(reader.read(), g0 + 1, "a commit");
    await nft.apply("add chain inet terngen a\nadd chain inet terngen b\n");
    assertEquals(reader.read(), g0 + 2, "one transaction of two changes: one commit");
    await nft.apply("add chain inet nosuch c\n").catch(() => {});
    await nft.check("add chain inet terngen c\n");
    await nft.listTableJson("inet", "terngen");
    assertEquals(reader.read(), g0 + 2, "a refused transaction, a check and a listing: none");
  }));

Deno.test("NftGeneration.commit() wakes at a commit, at once for one already made, and ends on abort", () =>
  withNetns(async (nft, reader) => {
    const abort = new AbortController();
    await nft.apply("add table inet terngen\n");
    assertEquals(await reader.commit(abort.signal), true, "a commit made before the call");

    let woke: boolean | undefined;
    const waiting = reader.commit(abort.signal).then((v) => woke = v);
    await nft.listTableJson("inet", "terngen");
    await nft.apply("add chain inet nosuch c\n").catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(woke, undefined, "a listing and a refused transaction are no commit");
    // Ten thousand elements in one transaction: still one wake-up, and nothing left queued.
    const elements = Array.from({ length: 10_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`);
    const t0 = performance.now();
    await nft.apply(
      `add set inet terngen s { type ipv4_addr; }\nadd element inet terngen s { ${
        elements.join(", ")
      } }\n`,
    );
    await waiting;
    assertEquals(woke, true);
    console.log(`commit seen ${(performance.now() - t0).toFixed(0)} ms after the nft call began`);

    const aborted = reader.commit(abort.signal);
    setTimeout(() => abort.abort(), 50);
    assertEquals(await aborted, false, "an abort ends the wait");
    assertEquals(await reader.commit(abort.signal), false, "an aborted signal ends it at once");
    const again = new AbortController();
    let after: boolean | undefined;
    const next = reader.commit(again.signal).then((v) => after = v);
    await new Promise((r) => setTimeout(r, 50));
    assert(after === undefined, "nothing queued from the big transaction");
    again.abort();
    await next;
  }));

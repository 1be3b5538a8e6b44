import { assertEquals, assertThrows } from "../test/assert.ts";
import { generationRequest, newgenFilter, parseGenerationReply } from "./nft_generation.ts";

/** A netlink message: header, then `body`, padded to 4 bytes. */
function message(type: number, seq: number, body: number[]): number[] {
  const len = 16 + body.length;
  const out = new Uint8Array((len + 3) & ~3);
  const view = new DataView(out.buffer);
  view.setUint32(0, len, true);
  view.setUint16(4, type, true);
  view.setUint32(8, seq, true);
  out.set(body, 16);
  return [...out];
}

/** nfgenmsg, then NFTA_GEN_ID (big-endian), NFTA_GEN_PROC_PID and NFTA_GEN_PROC_NAME "nft". */
function newgen(id: number): number[] {
  const be = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return [0, 0, 0, 0, 8, 0, 1, 0, ...be(id), 8, 0, 2, 0, ...be(4242), 8, 0, 3, 0, 110, 102, 116, 0];
}

Deno.test("generationRequest() is an NFT_MSG_GETGEN request of the nftables subsystem", () => {
  assertEquals(
    [...generationRequest(7)],
    [20, 0, 0, 0, 0x10, 0x0a, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  );
});

Deno.test("parseGenerationReply() reads NFTA_GEN_ID of the reply to its request", () => {
  const reply = message(0x0a0f, 7, newgen(0x01020304));
  assertEquals(parseGenerationReply(new Uint8Array(reply), 7), 0x01020304);
});

Deno.test("parseGenerationReply() skips a late reply to an earlier request", () => {
  const late = message(0x0a0f, 6, newgen(5));
  assertEquals(parseGenerationReply(new Uint8Array(late), 7), undefined);
  const both = [...late, ...message(0x0a0f, 7, newgen(6))];
  assertEquals(parseGenerationReply(new Uint8Array(both), 7), 6);
});

Deno.test("parseGenerationReply() reports the kernel's error and a truncated message", () => {
  const eperm = message(2, 7, [0xff, 0xff, 0xff, 0xff]); // -1: EPERM
  assertThrows(() => parseGenerationReply(new Uint8Array(eperm), 7), Error, "errno 1");
  const cut = message(0x0a0f, 7, newgen(5)).slice(0, 20);
  assertThrows(() => parseGenerationReply(new Uint8Array(cut), 7), Error, "netlink message");
  const noId = message(0x0a0f, 7, [0, 0, 0, 0, 8, 0, 2, 0, 0, 0, 0, 1]);
  assertThrows(() => parseGenerationReply(new Uint8Array(noId), 7), Error, "NFTA_GEN_ID");
});

Deno.test("newgenFilter() keeps NFT_MSG_NEWGEN and drops every other message", () => {
  // Run the four instructions as the kernel would, on a message's first bytes.
  const run = (type: number): number => {
    const msg = new Uint8Array(16);
    new DataView(msg.buffer).setUint16(4, type, true);
    const filter = newgenFilter();
    const view = new DataView(filter.buffer);
    let a = 0;
    for (let pc = 0; pc < filter.length / 8; pc++) {
      const code = view.getUint16(pc * 8, true);
      const jf = view.getUint8(pc * 8 + 3);
      const k = view.getUint32(pc * 8 + 4, true);
      if (code === 0x28) a = new DataView(msg.buffer).getUint16(k, false); // ldh [k], big-endian
      else if (code === 0x15) pc += a === k ? view.getUint8(pc * 8 + 2) : jf;
      else if (code === 0x06) return k;
    }
    throw new Error("the filter fell off its end");
  };
  assertEquals(run(0x0a0f), 0xffff, "NEWGEN kept");
  for (const other of [0x0a00, 0x0a06, 0x0a0c, 0x0a10, 0x0f0a, 2]) assertEquals(run(other), 0);
});

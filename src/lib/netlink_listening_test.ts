import { assertEquals } from "../../test/assert.ts";
import { netlinkListening, netlinkSubscribed, subscribedInodes } from "./netlink_listening.ts";

const LISTING =
  `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
000000007e98e4de 0   3177287082 00000000 0        0        0     2        0        18672
000000002421d47d 0   10722      000000c1 0        0        0     2        0        18671
0000000034c6f28e 12  10730      00000140 0        0        0     2        0        18325
`;

Deno.test("subscribedInodes() keeps the netlink sockets that joined a multicast group", () => {
  assertEquals(subscribedInodes(LISTING), new Set(["18671", "18325"]));
  assertEquals(subscribedInodes(""), new Set());
});

/** A fake /proc for process 42: its netlink listing and its socket fds. */
async function fakeProc(listing: string, sockets: string[]): Promise<string> {
  const proc = await Deno.makeTempDir({ prefix: "tern-proc-" });
  await Deno.mkdir(`${proc}/42/net`, { recursive: true });
  await Deno.mkdir(`${proc}/42/fd`);
  await Deno.writeTextFile(`${proc}/42/net/netlink`, listing);
  for (const [fd, inode] of sockets.entries()) {
    await Deno.symlink(`socket:[${inode}]`, `${proc}/42/fd/${fd + 3}`);
  }
  return proc;
}

Deno.test("netlinkSubscribed() is true only when the process holds a subscribed socket", async () => {
  const own = await fakeProc(LISTING, ["18672", "18671"]);
  const others = await fakeProc(LISTING, ["18672"]);
  try {
    assertEquals(await netlinkSubscribed(42, own), true);
    assertEquals(await netlinkSubscribed(42, others), false, "its only socket has no group");
  } finally {
    await Deno.remove(own, { recursive: true });
    await Deno.remove(others, { recursive: true });
  }
});

Deno.test("netlinkListening() is true once the subscription shows, false when the process ended first", async () => {
  const proc = await fakeProc(LISTING.replace("000000c1", "00000000"), ["18671"]);
  try {
    let listening: boolean | undefined;
    const done = netlinkListening(42, { proc, everyMs: 1 }).then((ok) => listening = ok);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(listening, undefined, "not before the socket joins a group");
    await Deno.writeTextFile(`${proc}/42/net/netlink`, LISTING);
    await done;
    assertEquals(listening, true);

    await Deno.writeTextFile(`${proc}/42/net/netlink`, LISTING.replace("000000c1", "00000000"));
    assertEquals(
      await netlinkListening(42, { proc, everyMs: 1, ended: Promise.resolve(0) }),
      false,
    );
    assertEquals(await netlinkListening(43, { proc, everyMs: 1 }), false, "no such process");
  } finally {
    await Deno.remove(proc, { recursive: true });
  }
});

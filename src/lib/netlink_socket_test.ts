import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import {
  errno,
  inNetns,
  loadLibc,
  NETLINK_SYMBOLS,
  NetlinkError,
  NetnsStrandedError,
  openNetlinkSocket,
  openNetns,
  receiveNow,
  sendMessage,
} from "./netlink_socket.ts";

const NETLINK_ROUTE = 0;
const EBADF = 9;
const EAGAIN = 11;

function withLibc(fn: (c: Deno.DynamicLibrary<typeof NETLINK_SYMBOLS>["symbols"]) => void): void {
  const lib = loadLibc(NETLINK_SYMBOLS);
  try {
    fn(lib.symbols);
  } finally {
    lib.close();
  }
}

Deno.test("NetlinkError names the errno it knows and gives the others by number", () => {
  assertEquals(
    new NetlinkError("Cannot create veth a", 17, "File exists").message,
    "Cannot create veth a: EEXIST (File exists)",
  );
  assertEquals(new NetlinkError("Cannot do it", 200).message, "Cannot do it: errno 200");
  assertEquals(new NetlinkError("Cannot do it", 2).errno, 2);
  assert(
    new NetnsStrandedError("/run/netns/x", 1).message.startsWith(
      "Cannot return from network namespace /run/netns/x: errno 1",
    ),
  );
});

Deno.test("openNetlinkSocket() opens a socket whose empty queue reads as EAGAIN without waiting", () =>
  withLibc((c) => {
    const fd = openNetlinkSocket(c, NETLINK_ROUTE, "an rtnetlink socket");
    try {
      assert(fd >= 0);
      assertEquals(receiveNow(c, fd, new Uint8Array(64)), -1);
      assertEquals(errno(c), EAGAIN);
    } finally {
      c.close(fd);
    }
  }));

Deno.test("openNetlinkSocket() names the socket it could not open and why", () =>
  withLibc((c) => {
    const err = assertThrows(
      () => openNetlinkSocket(c, 9999, "a socket of no protocol"),
      NetlinkError,
      "Cannot open a socket of no protocol: ",
    );
    assert(err.errno > 0);
  }));

Deno.test("sendMessage() throws the operation and errno when the message is not sent", () =>
  withLibc((c) => {
    const fd = openNetlinkSocket(c, NETLINK_ROUTE, "an rtnetlink socket");
    c.close(fd);
    const err = assertThrows(
      () => sendMessage(c, fd, new Uint8Array(16), "Cannot ask"),
      NetlinkError,
      "Cannot ask: errno 9 (send failed)",
    );
    assertEquals(err.errno, EBADF);
  }));

Deno.test("openNetns() and inNetns() report a missing namespace as ENOENT and leave the thread home", () =>
  withLibc((c) => {
    const home = Deno.readLinkSync("/proc/thread-self/ns/net");
    const path = `/run/netns/ternt${Deno.pid}x-none`;
    assertThrows(
      () => openNetns(c, path),
      NetlinkError,
      `Cannot open network namespace ${path}: ENOENT`,
    );
    let ran = false;
    assertThrows(() => inNetns(c, path, () => ran = true), NetlinkError, "ENOENT");
    assertEquals(ran, false);
    assertEquals(Deno.readLinkSync("/proc/thread-self/ns/net"), home);
  }));

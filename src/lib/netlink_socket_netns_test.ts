/**
 * Kernel tests: `inNetns()` runs its function in the namespace it names and brings the thread
 * back, whether the function returns or throws. Each test makes its own namespace
 * (`ternt<pid>x…`) and deletes it. Needs root.
 */
import { assertEquals, assertNotEquals, assertThrows } from "../../test/assert.ts";
import { denoRunner } from "../runner.ts";
import { inNetns, loadLibc, NETLINK_SYMBOLS } from "./netlink_socket.ts";

async function withNetns(fn: (path: string) => void): Promise<void> {
  const netns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-nls`;
  const made = await denoRunner(["ip", "netns", "add", netns]);
  assertEquals(made.code, 0, made.stderr);
  try {
    fn(`/run/netns/${netns}`);
  } finally {
    await denoRunner(["ip", "netns", "del", netns]);
  }
}

const here = () => Deno.readLinkSync("/proc/thread-self/ns/net");

Deno.test("inNetns() runs its function in the namespace and returns the thread home", () =>
  withNetns((path) => {
    const lib = loadLibc(NETLINK_SYMBOLS);
    try {
      const home = here();
      const inside = inNetns(lib.symbols, path, here);
      assertNotEquals(inside, home);
      assertEquals(inside, `net:[${Deno.statSync(path).ino}]`);
      assertEquals(here(), home);
    } finally {
      lib.close();
    }
  }));

Deno.test("inNetns() returns the thread home before it throws what its function threw", () =>
  withNetns((path) => {
    const lib = loadLibc(NETLINK_SYMBOLS);
    try {
      const home = here();
      let inside = "";
      assertThrows(
        () =>
          inNetns(lib.symbols, path, () => {
            inside = here();
            throw new Error("Cannot go on: refused");
          }),
        Error,
        "Cannot go on: refused",
      );
      assertNotEquals(inside, home);
      assertEquals(here(), home);
    } finally {
      lib.close();
    }
  }));

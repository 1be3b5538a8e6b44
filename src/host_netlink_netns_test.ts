/**
 * Kernel tests: {@linkcode RtnetlinkHost} writes the host route and the interface group that
 * `ip` shows back, and a missing veth is ENODEV for the route and false for the group. Each test
 * makes its own namespace (`ternt<pid>x…`) and deletes it. Needs root.
 */
import { assertEquals, assertThrows } from "../test/assert.ts";
import { RtnetlinkHost } from "./host_netlink.ts";
import { Ip } from "./ip.ts";
import { NetlinkError, Rtnetlink } from "./rtnetlink.ts";
import { denoRunner } from "./runner.ts";

Deno.test("RtnetlinkHost replaces the host route with tern's protocol and sets the group", async () => {
  const netns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-host`;
  await denoRunner(["ip", "netns", "add", netns]);
  const netlink = new Rtnetlink();
  try {
    const ip = new Ip(denoRunner);
    const where = { netns: `/run/netns/${netns}` };
    await ip.batch(
      ["link add terntest0 type veth peer name terntest1", "link set terntest0 up"],
      where,
    );
    const host = new RtnetlinkHost(netlink, where);

    host.replaceHostRoute("10.244.1.7", "terntest0", 116);
    host.replaceHostRoute("10.244.1.7", "terntest0", 116); // replace: no EEXIST
    const routes = await ip.json<{ dst: string; dev: string; protocol: string; scope: string }>(
      ["route", "show", "table", "main", "proto", "116"],
      where,
    );
    assertEquals(routes.map((r) => [r.dst, r.dev, r.scope]), [["10.244.1.7", "terntest0", "link"]]);

    assertEquals(host.setGroup("terntest0", 7), true);
    const [link] = await ip.json<{ group: string }>(["link", "show", "dev", "terntest0"], where);
    assertEquals(link?.group, "7");

    assertEquals(host.setGroup("terntest9", 7), false);
    const err = assertThrows(() => host.replaceHostRoute("10.244.1.8", "terntest9", 116));
    assertEquals(
      (err as NetlinkError).message,
      "Cannot replace the route to 10.244.1.8/32 via terntest9: ENODEV",
    );
  } finally {
    netlink.close();
    await denoRunner(["ip", "netns", "del", netns]);
  }
});

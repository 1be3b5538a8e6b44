/**
 * Kernel tests: {@linkcode RtnetlinkHost} writes the host route and the interface group that
 * `ip` shows back, and a missing veth is ENODEV for the route and false for the group. Each test
 * makes its own namespace (`ternt<pid>x…`) and deletes it. Needs root.
 */
import { assertEquals, assertRejects, assertThrows } from "../test/assert.ts";
import { NetnsUnseenError, RtnetlinkHost } from "./host_netlink.ts";
import { Ip } from "./ip.ts";
import { EEXIST, NetlinkError, Rtnetlink } from "./rtnetlink.ts";
import { denoRunner } from "./runner.ts";

/** Throwaway namespaces for one test: the node's, and a pod's `<node>p` when asked; always removed. */
async function withNamespaces(
  tag: string,
  options: { pod: boolean },
  test: (names: { node: string; pod: string; netlink: Rtnetlink; ip: Ip }) => Promise<void>,
): Promise<void> {
  const node = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-${tag}`;
  const pod = `${node}p`;
  const made = options.pod ? [node, pod] : [node];
  for (const name of made) await denoRunner(["ip", "netns", "add", name]);
  const netlink = new Rtnetlink();
  try {
    await test({ node, pod, netlink, ip: new Ip(denoRunner) });
  } finally {
    netlink.close();
    for (const name of made) await denoRunner(["ip", "netns", "del", name]);
  }
}

Deno.test("RtnetlinkHost replaces the host route with tern's protocol and sets the group", async () => {
  await withNamespaces("host", { pod: false }, async ({ node, netlink, ip }) => {
    const where = { netns: `/run/netns/${node}` };
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
  });
});

Deno.test("RtnetlinkHost deletes a veth, its route and its pod end with it; a veth gone is false", async () => {
  await withNamespaces("del", { pod: true }, async ({ node, pod, netlink, ip }) => {
    const where = { netns: `/run/netns/${node}` };
    await ip.batch(
      [
        `link add terntest0 type veth peer name eth0 netns ${pod}`,
        "link set terntest0 up",
        "route add 10.244.1.7/32 dev terntest0 scope link proto 116",
      ],
      where,
    );
    const host = new RtnetlinkHost(netlink, where);

    assertEquals(await host.deleteLink("terntest0"), true);
    assertEquals(await ip.json(["link", "show", "dev", "terntest0"], where).catch(() => []), []);
    assertEquals(await ip.json(["route", "show", "proto", "116"], where), []);
    assertEquals(
      await ip.json(["link", "show"], { netns: `/run/netns/${pod}` }).then((links) => links.length),
      1,
      "the pod end went with it: only lo is left",
    );
    assertEquals(await host.deleteLink("terntest0"), false);
  });
});

Deno.test("RtnetlinkHost makes a veth pair with its pod end in the pod's namespace; a taken name is EEXIST, a missing namespace throws at once", async () => {
  await withNamespaces("add", { pod: true }, async ({ node, pod, netlink, ip }) => {
    const host = new RtnetlinkHost(netlink, { netns: `/run/netns/${node}` });
    const pair = {
      hostVeth: "terntest0",
      hostMac: "0e:00:00:00:00:01",
      ifname: "eth0",
      podMac: "0a:58:0a:f4:01:07",
      mtu: 1450,
    };
    await host.addVeth(pair, `/run/netns/${pod}`);
    const [hostEnd] = await ip.json<{ address: string; mtu: number; flags: string[] }>(
      ["link", "show", "dev", "terntest0"],
      { netns: `/run/netns/${node}` },
    );
    assertEquals([hostEnd?.address, hostEnd?.mtu, hostEnd?.flags.includes("UP")], [
      "0e:00:00:00:00:01",
      1450,
      true,
    ]);
    const [podEnd] = await ip.json<{ address: string }>(["link", "show", "dev", "eth0"], {
      netns: `/run/netns/${pod}`,
    });
    assertEquals(podEnd?.address, "0a:58:0a:f4:01:07");

    const err = await assertRejects(() => host.addVeth(pair, `/run/netns/${pod}`), NetlinkError);
    assertEquals(err.errno, EEXIST);
    assertThrows(
      () => host.addVeth(pair, `/run/netns/${node}-none`),
      NetnsUnseenError,
      "no such file",
    );
    // What a daemon in another mount namespace sees of a namespace mounted after it started.
    const plain = await Deno.makeTempFile();
    try {
      assertThrows(() => host.addVeth(pair, plain), NetnsUnseenError, "not a namespace file");
    } finally {
      await Deno.remove(plain);
    }
  });
});

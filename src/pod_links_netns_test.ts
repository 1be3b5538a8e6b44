/**
 * Kernel tests: {@linkcode NetlinkPodLinks} makes, over rtnetlink, the same attachment that
 * `ip` shows back (veth pair across two namespaces, MACs, MTU, the pod's /32, routes and
 * permanent neighbour), refuses a taken name without touching what exists, and deletes
 * idempotently; the JavaScript thread always ends in its own namespace. Each test makes a
 * "node" and a "pod" namespace (`ternt<pid>x…`) and deletes them. Needs root.
 */
import { assert, assertEquals, assertRejects } from "../test/assert.ts";
import { Ip } from "./ip.ts";
import { NetlinkPodLinks, type PodLink } from "./pod_links.ts";
import { EEXIST, NetlinkError, NetnsStrandedError, Rtnetlink } from "./rtnetlink.ts";
import { denoRunner } from "./runner.ts";

const ip = new Ip(denoRunner);

async function withNamespaces(
  fn: (links: NetlinkPodLinks, link: PodLink, node: { netns: string }) => Promise<void>,
): Promise<void> {
  const id = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}`;
  const node = `${id}-node`, pod = `${id}-pod`;
  await denoRunner(["ip", "netns", "add", node]);
  await denoRunner(["ip", "netns", "add", pod]);
  const netlink = new Rtnetlink();
  const home = Deno.readLinkSync("/proc/thread-self/ns/net");
  try {
    const links = new NetlinkPodLinks(netlink, { nodeNetns: `/run/netns/${node}` });
    const link: PodLink = {
      hostVeth: "terntest0",
      hostMac: "ee:ee:ee:00:00:01",
      ifname: "eth0",
      podMac: "0a:58:0a:f4:01:07",
      netns: `/run/netns/${pod}`,
      ip: "10.244.1.7",
      mtu: 1400,
    };
    await fn(links, link, { netns: `/run/netns/${node}` });
    assertEquals(Deno.readLinkSync("/proc/thread-self/ns/net"), home, "back in its namespace");
  } finally {
    netlink.close();
    await denoRunner(["ip", "netns", "del", pod]);
    await denoRunner(["ip", "netns", "del", node]);
  }
}

Deno.test("NetlinkPodLinks makes the veth pair and the pod side that ip shows back", () =>
  withNamespaces(async (links, link, node) => {
    await links.addVeth(link);
    await links.configurePod(link);

    const host = await ip.link(link.hostVeth, node);
    assertEquals(host?.address, link.hostMac);
    assertEquals(host?.mtu, 1400);
    assert(host?.flags?.includes("UP"), "the host end is up");
    const inPod = { netns: link.netns };
    const podEnd = await ip.link("eth0", inPod);
    assertEquals(podEnd?.address, link.podMac);
    assertEquals(podEnd?.mtu, 1400);
    assert(podEnd?.flags?.includes("UP"), "the pod end is up");
    assertEquals(await ip.link("eth0", node), undefined, "the pod end is not in the node");

    const [addrs] = await ip.json<{ addr_info: { local: string; prefixlen: number }[] }>(
      ["-4", "addr", "show", "dev", "eth0"],
      inPod,
    );
    assertEquals(addrs?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), ["10.244.1.7/32"]);
    const routes = await ip.json<{ dst: string; gateway?: string; scope?: string }>(
      ["route", "show", "dev", "eth0"],
      inPod,
    );
    assertEquals(
      routes.map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.scope ?? "-"}`).sort(),
      ["169.254.1.1 - link", "default 169.254.1.1 -"],
    );
    const neighs = await ip.json<{ dst: string; lladdr?: string; state?: string[] }>(
      ["neigh", "show", "169.254.1.1", "dev", "eth0"],
      inPod,
    );
    assertEquals(neighs.map((n) => [n.lladdr, n.state]), [[link.hostMac, ["PERMANENT"]]]);
  }));

Deno.test("NetlinkPodLinks.addVeth() refuses a taken name with EEXIST and leaves both ends alone", () =>
  withNamespaces(async (links, link, node) => {
    await links.addVeth(link);
    const err = await assertRejects(() => links.addVeth(link), NetlinkError);
    assertEquals(err.errno, EEXIST);
    const other = { ...link, hostVeth: "terntest1", podMac: "0a:58:0a:f4:01:08" };
    const taken = await assertRejects(() => links.addVeth(other), NetlinkError);
    assertEquals(taken.errno, EEXIST, "the pod's eth0 is taken");
    assertEquals(await ip.link("terntest1", node), undefined, "no half pair left behind");
    assertEquals((await ip.link("eth0", { netns: link.netns }))?.address, link.podMac);
    assert(await links.hostLinkExists(link.hostVeth));
    assertEquals(await links.hostLinkExists("terntest1"), false);
  }));

Deno.test("NetlinkPodLinks.deleteHostVeth() removes both ends and is true once, then false", () =>
  withNamespaces(async (links, link, node) => {
    await links.addVeth(link);
    assertEquals(await links.deleteHostVeth(link.hostVeth), true);
    assertEquals(await links.deleteHostVeth(link.hostVeth), false);
    assertEquals(await ip.link(link.hostVeth, node), undefined);
    assertEquals(await ip.link("eth0", { netns: link.netns }), undefined);
  }));

Deno.test("NetlinkPodLinks.configurePod() names the missing interface and the namespace", () =>
  withNamespaces(async (links, link) => {
    const err = await assertRejects(() => links.configurePod(link), NetlinkError);
    assertEquals(err.message, `Cannot find eth0 in ${link.netns}: ENODEV`);
  }));

Deno.test("Rtnetlink.socket() in a namespace that does not exist fails and stays home", () => {
  const netlink = new Rtnetlink();
  const home = Deno.readLinkSync("/proc/thread-self/ns/net");
  try {
    const err = assertThrowsNetlink(() => netlink.socket({ netns: "/run/netns/ternt-none" }));
    assert(!(err instanceof NetnsStrandedError));
    assertEquals(err.message, "Cannot open network namespace /run/netns/ternt-none: ENOENT");
    assertEquals(Deno.readLinkSync("/proc/thread-self/ns/net"), home);
  } finally {
    netlink.close();
  }
});

function assertThrowsNetlink(fn: () => unknown): NetlinkError {
  try {
    fn();
  } catch (err) {
    assert(err instanceof NetlinkError, `expected a NetlinkError: got ${err}`);
    return err;
  }
  throw new Error("Expected a NetlinkError: nothing was thrown");
}

Deno.test("NetlinkPodLinks.configurePod() works on the socket preparePod() opened ahead", () =>
  withNamespaces(async (links, link) => {
    await links.addVeth(link);
    links.preparePod(link.netns);
    await links.configurePod(link);
    const addresses = await ip.json<{ addr_info: { local: string; prefixlen: number }[] }>(
      ["-4", "addr", "show", "dev", "eth0"],
      { netns: link.netns },
    );
    assertEquals(addresses[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [
      "10.244.1.7/32",
    ]);
  }));

Deno.test("NetlinkPodLinks.preparePod() on a missing namespace leaves the error to configurePod()", () =>
  withNamespaces(async (links, link) => {
    const gone = { ...link, netns: `${link.netns}-none` };
    links.preparePod(gone.netns);
    const err = await assertRejects(() => links.configurePod(gone), NetlinkError);
    assertEquals(err.errno, 2);
  }));

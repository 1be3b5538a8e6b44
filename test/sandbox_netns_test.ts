/**
 * Kernel test of the sandbox's fabric itself: an address on the fabric's bridge (where the
 * sandbox's API server and the `native` mode's underlay router live) stays reachable from the
 * nodes when another node leaves. Needs root.
 */
import { assert, assertEquals } from "./assert.ts";
import { pollUntil } from "./poll.ts";
import { must, Sandbox, type SandboxFabric } from "./sandbox.ts";

/** The bridge's MAC address and its ports' names, as the fabric's netns lists them. */
async function bridgeLinks(fabric: SandboxFabric): Promise<{ mac: string; ports: string[] }> {
  const links = JSON.parse(
    (await must(["ip", "-n", fabric.netns, "-j", "link", "show"])).stdout,
  ) as { ifname: string; address?: string; master?: string }[];
  const bridge = links.find((l) => l.ifname === fabric.bridge);
  return {
    mac: bridge?.address ?? "",
    ports: links.filter((l) => l.master === fabric.bridge).map((l) => l.ifname).sort(),
  };
}

Deno.test("a node that leaves the fabric leaves the bridge's MAC, so its address stays reachable", async () => {
  const sb = await Sandbox.create();
  try {
    const fabric = await sb.addFabric();
    const stays = await sb.addNode("stays", { fabric });
    const leaves = await sb.addNode("leaves", { fabric });
    // The leaving node's port has the lowest MAC a port can have: a bridge whose MAC follows its
    // ports (the kernel's default) wears it, and changes it when the port goes.
    const port = `fab${leaves.index}`;
    await must(["ip", "-n", fabric.netns, "link", "set", port, "address", "02:00:00:00:00:01"]);
    await must(["ip", "-n", fabric.netns, "addr", "add", "10.98.0.253/24", "dev", fabric.bridge]);
    // The node learns the bridge's MAC (its neighbour entry is fresh for 15–45 s from now).
    assert(await sb.ping(stays.netns, "10.98.0.253"), "the node reaches the bridge's address");
    const before = await bridgeLinks(fabric);
    assertEquals(before.ports.includes(port), true);

    await sb.removeNode(leaves);
    // The namespace goes (and its veth with it) a moment after `ip netns del`, in the kernel's
    // own time.
    await pollUntil(async () => !(await bridgeLinks(fabric)).ports.includes(port), {
      what: `${port} gone from ${fabric.bridge}`,
      lastSeen: () => bridgeLinks(fabric),
    });
    assertEquals((await bridgeLinks(fabric)).mac, before.mac, "the bridge keeps its MAC");
    // With the old MAC in its neighbour cache and a new one on the bridge, the node's packets
    // would go nowhere until the entry is probed again (20 s to a minute).
    assert(
      await sb.ping(stays.netns, "10.98.0.253", 2),
      "the node still reaches the bridge's address",
    );
  } finally {
    await sb.cleanup();
  }
});

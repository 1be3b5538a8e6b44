/**
 * Kernel tests of one node: a node netns running ternd, pods as netns, the plugin run as a real
 * process with CNI env and stdin, exactly as a container runtime runs it. Needs root.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { must, Sandbox, type SandboxNode, type SandboxPod } from "./sandbox.ts";
import { DaemonClient } from "../src/daemon_client.ts";

const PROTO = "116";

async function withNode(
  fn: (sb: Sandbox, node: SandboxNode) => Promise<void>,
  options: { podCIDR?: string; extraConfig?: string } = {},
) {
  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("n1", {
      podCIDR: options.podCIDR ?? "10.244.1.0/24",
      ...(options.extraConfig ? { extraConfig: options.extraConfig } : {}),
    });
    await sb.startDaemon(node);
    await fn(sb, node);
  } finally {
    await sb.cleanup();
  }
}

async function json(sb: Sandbox, netns: string, args: string[]) {
  const out = await sb.exec(netns, ["ip", "-json", ...args]);
  return out.stdout.trim() ? JSON.parse(out.stdout) : [];
}

async function hostVeths(sb: Sandbox, node: SandboxNode): Promise<string[]> {
  const links = await json(sb, node.netns, ["link", "show"]) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith("tern"));
}

async function ternRoutes(sb: Sandbox, node: SandboxNode): Promise<string[]> {
  const routes = await json(sb, node.netns, ["route", "show", "proto", PROTO]) as { dst: string }[];
  return routes.map((r) => r.dst).sort();
}

/** Every `ip rule` of the node, tern's or not, as `priority:protocol`. */
async function allRules(sb: Sandbox, node: SandboxNode): Promise<string[]> {
  const rules = await json(sb, node.netns, ["-4", "-N", "rule", "show"]) as {
    priority: number;
    protocol?: string;
  }[];
  return rules.map((r) => `${r.priority}:${r.protocol ?? "-"}`);
}

Deno.test("ADD wires pods that reach each other and the node, with the datapath DESIGN.md names", async () => {
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    const b = await sb.addPod(node, "b");
    const result = await sb.wire(a);
    await sb.wire(b);
    assertEquals(result.cniVersion, "1.1.0");
    assertMatch(a.ip!, /^10\.244\.1\.\d+$/);
    assert(a.ip !== b.ip);

    // Pod side: the /32, the link-scope gateway route, the default route, the permanent neighbour.
    const addrs = await json(sb, a.netns, ["addr", "show", "dev", "eth0"]) as {
      addr_info: { local: string; prefixlen: number; family: string }[];
    }[];
    assertEquals(
      addrs[0]!.addr_info.filter((i) => i.family === "inet").map((i) =>
        `${i.local}/${i.prefixlen}`
      ),
      [`${a.ip}/32`],
    );
    const routes = await json(sb, a.netns, ["route", "show"]) as {
      dst: string;
      gateway?: string;
      scope?: string;
    }[];
    assert(
      routes.some((r) => r.dst === "default" && r.gateway === "169.254.1.1"),
      JSON.stringify(routes),
    );
    assert(
      routes.some((r) => r.dst === "169.254.1.1" && r.scope === "link"),
      JSON.stringify(routes),
    );
    const neigh = await json(sb, a.netns, ["neigh", "show", "169.254.1.1", "dev", "eth0"]) as {
      lladdr: string;
      state: string[];
    }[];
    assertEquals(neigh[0]!.state, ["PERMANENT"]);
    const interfaces = result.interfaces as { name: string; mac: string; sandbox?: string }[];
    assertEquals(neigh[0]!.lladdr, interfaces[0]!.mac);

    // Host side: a tern-prefixed veth and a /32 route with tern's protocol.
    assertMatch(interfaces[0]!.name, /^tern[0-9a-f]{11}$/);
    assertEquals(await ternRoutes(sb, node), [a.ip!, b.ip!].sort());
    const forward = await sb.exec(node.netns, ["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assertEquals(forward.stdout.trim(), "1");

    assert(await sb.ping(a.netns, b.ip!), "pod a reaches pod b");
    assert(await sb.ping(b.netns, a.ip!), "pod b reaches pod a");
    assert(await sb.ping(node.netns, a.ip!), "the node reaches pod a");
    // No pod is bound to an egress table: no rule at all (tern's protocol or any other), only
    // the kernel's three, so route lookups on the node never walk a rule list. Neither ADD asked
    // for a reconcile pass (their own routes settle them); a route of someone else's makes one,
    // which must leave it alone and add no rule either.
    assertEquals(await allRules(sb, node), ["0:-", "32766:-", "32767:-"]);
    const foreignAt = Date.now();
    await must(["ip", "-n", node.netns, "route", "add", "198.51.100.0/24", "dev", "lo"]);
    const client = new DaemonClient(node.socket);
    const deadline = Date.now() + 5_000;
    while ((((await client.status()).routing?.reconcile.lastPass?.startedAt) ?? 0) < foreignAt) {
      assert(Date.now() < deadline, "a reconcile pass after the foreign route");
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(await allRules(sb, node), ["0:-", "32766:-", "32767:-"]);
    assertEquals(await ternRoutes(sb, node), [a.ip!, b.ip!].sort());
    const foreign = await sb.exec(node.netns, ["ip", "route", "show", "198.51.100.0/24"]);
    assertMatch(foreign.stdout, /198\.51\.100\.0\/24 dev lo/);
  });
});

Deno.test("DEL is idempotent: repeated, after the netns is gone, without CNI_NETNS, unknown container", async () => {
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    await sb.wire(a);
    for (let i = 0; i < 2; i++) {
      const del = await sb.plugin(a, "DEL");
      assertEquals([del.code, del.stdout], [0, ""], del.stderr);
    }
    assertEquals(await hostVeths(sb, node), []);
    assertEquals(await ternRoutes(sb, node), []);

    const b = await sb.addPod(node, "b");
    await sb.wire(b);
    await sb.exec(node.netns, ["ip", "netns", "del", b.netns]);
    const gone = await sb.plugin(b, "DEL");
    assertEquals(gone.code, 0, gone.stdout + gone.stderr);
    const noNetns = await sb.plugin(b, "DEL", { netns: null });
    assertEquals(noNetns.code, 0, noNetns.stdout + noNetns.stderr);
    const unknown = await sb.plugin({ ...b, containerID: "never-added" }, "DEL");
    assertEquals(unknown.code, 0, unknown.stdout + unknown.stderr);
    assertEquals(await hostVeths(sb, node), []);
    assertEquals((await new DaemonClient(node.socket).endpoints()).length, 0);
  });
});

Deno.test("CHECK passes on a wired pod and fails naming what differs when routes are deleted", async () => {
  // The reconciler would put the route back on the netlink event, racing this CHECK (under load
  // the plugin can take longer than the repair): here it runs neither on events nor soon.
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    const added = await sb.wire(a);
    const conf = { ...sb.netconf(node), prevResult: added };
    const ok = await sb.plugin(a, "CHECK", { conf });
    assertEquals([ok.code, ok.stdout], [0, ""], ok.stderr);

    await sb.exec(a.netns, ["ip", "route", "del", "default"]);
    const podRoute = await sb.plugin(a, "CHECK", { conf });
    assertEquals(podRoute.code, 1);
    assertStringIncludes(
      String(podRoute.json?.msg) + String(podRoute.json?.details ?? ""),
      "default",
    );
    await sb.exec(a.netns, ["ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"]);

    await sb.exec(node.netns, ["ip", "route", "del", `${a.ip}/32`]);
    const hostRoute = await sb.plugin(a, "CHECK", { conf });
    assertEquals(hostRoute.code, 1);
    assertStringIncludes(
      String(hostRoute.json?.msg) + String(hostRoute.json?.details ?? ""),
      a.ip!,
    );
    // The reconciler would put the host route back within ~100 ms of the netlink event and race
    // CHECK; here it only looks every 10 minutes, so CHECK sees the drift it must report.
  }, { extraConfig: "reconcile: {interval: 10m, monitor: false}\n" });
});

Deno.test("GC releases every attachment of the network that is not listed as valid", async () => {
  await withNode(async (sb, node) => {
    const pods: SandboxPod[] = [];
    for (const name of ["a", "b", "c"]) {
      const pod = await sb.addPod(node, name);
      await sb.wire(pod);
      pods.push(pod);
    }
    const [a, b, c] = pods as [SandboxPod, SandboxPod, SandboxPod];
    const gc = await sb.plugin(a, "GC", {
      netns: null,
      conf: {
        ...sb.netconf(node),
        "cni.dev/valid-attachments": [{ containerID: a.containerID, ifname: "eth0" }],
      },
    });
    assertEquals(gc.code, 0, gc.stdout + gc.stderr);
    const left = await new DaemonClient(node.socket).endpoints();
    assertEquals(left.map((e) => e.containerID), [a.containerID]);
    assertEquals(await ternRoutes(sb, node), [a.ip!]);
    assert(await sb.ping(node.netns, a.ip!));
    assert(!(await sb.ping(node.netns, b.ip!)) && !(await sb.ping(node.netns, c.ip!)));
  });
});

Deno.test("STATUS is 0 with the daemon up, 50 when it is down, 51 when the pool is exhausted", async () => {
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    const status = () => sb.plugin(a, "STATUS", { netns: null });
    assertEquals((await status()).code, 0);
    const b = await sb.addPod(node, "b");
    await sb.wire(a);
    await sb.wire(b); // a /30 has exactly two usable addresses
    const full = await status();
    assertEquals([full.code, full.json?.code], [1, 51], full.stdout);
    await sb.stopDaemon(node);
    const down = await status();
    assertEquals([down.code, down.json?.code], [1, 50], down.stdout);
    assertStringIncludes(String(down.json?.msg), node.socket);
  }, { podCIDR: "10.244.9.0/30" });
});

Deno.test("ADD that fails midway leaves nothing behind and a retry succeeds", async () => {
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    // A default route already in the pod makes the pod-side batch fail after the veth exists.
    await sb.exec(a.netns, [
      "ip",
      "link",
      "add",
      "blocker0",
      "type",
      "veth",
      "peer",
      "name",
      "blocker1",
    ]);
    await sb.exec(a.netns, ["ip", "link", "set", "blocker0", "up"]);
    await sb.exec(a.netns, ["ip", "route", "add", "default", "dev", "blocker0"]);
    const failed = await sb.plugin(a, "ADD");
    assertEquals(failed.code, 1, failed.stdout);
    assert(typeof failed.json?.code === "number" && typeof failed.json?.msg === "string");
    assertEquals(await hostVeths(sb, node), []);
    assertEquals(await ternRoutes(sb, node), []);
    assertEquals((await new DaemonClient(node.socket).endpoints()).length, 0);
    const podLinks = await json(sb, a.netns, ["link", "show"]) as { ifname: string }[];
    assertEquals(podLinks.map((l) => l.ifname).sort(), ["blocker0", "blocker1", "lo"]);

    await sb.exec(a.netns, ["ip", "link", "del", "blocker0"]);
    await sb.wire(a);
    assert(await sb.ping(node.netns, a.ip!));
  });
});

Deno.test("ADD for an identity whose interface exists is an error that leaves the pod intact", async () => {
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    await sb.wire(a);
    const again = await sb.plugin(a, "ADD");
    assertEquals(again.code, 1, again.stdout);
    assert(await sb.ping(node.netns, a.ip!), "the first attachment still works");
    assertEquals(await ternRoutes(sb, node), [a.ip!]);
  });
});

Deno.test("a daemon restart keeps every pod's address and re-installs deleted host routes", async () => {
  await withNode(async (sb, node) => {
    const pods: SandboxPod[] = [];
    for (const name of ["a", "b", "c"]) {
      const pod = await sb.addPod(node, name);
      await sb.wire(pod);
      pods.push(pod);
    }
    await sb.stopDaemon(node, "SIGKILL");
    await sb.exec(node.netns, ["ip", "route", "del", `${pods[1]!.ip}/32`]);
    await sb.startDaemon(node);
    const endpoints = await new DaemonClient(node.socket).endpoints();
    assertEquals(
      endpoints.map((e) => `${e.containerID}=${e.ip}`).sort(),
      pods.map((p) => `${p.containerID}=${p.ip}`).sort(),
    );
    assertEquals(await ternRoutes(sb, node), pods.map((p) => p.ip!).sort());
    for (const pod of pods) assert(await sb.ping(node.netns, pod.ip!), `${pod.name} reachable`);
    const d = await sb.addPod(node, "d");
    await sb.wire(d);
    assert(!pods.some((p) => p.ip === d.ip));
  });
});

Deno.test("the daemon releases endpoints whose netns and veth are gone after the grace period", async () => {
  await withNode(async (sb, node) => {
    const a = await sb.addPod(node, "a");
    await sb.wire(a);
    const veth = (await hostVeths(sb, node))[0]!;
    await sb.exec(node.netns, ["ip", "link", "del", veth]);
    await sb.exec(node.netns, ["ip", "netns", "del", a.netns]);
    const client = new DaemonClient(node.socket);
    const deadline = Date.now() + 10_000;
    while ((await client.endpoints()).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals((await client.endpoints()).length, 0);
    assertStringIncludes(await Deno.readTextFile(node.daemonLog), a.containerID);
  }, { extraConfig: "gc:\n  interval: 300ms\n  gracePeriod: 1s" });
});

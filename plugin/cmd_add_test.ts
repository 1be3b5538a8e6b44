import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import type { AddResponse } from "../src/api.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import type { PodLink } from "../src/pod_links.ts";
import { EEXIST, NetlinkError } from "../src/rtnetlink.ts";
import { hostVethMac, hostVethName } from "../src/names.ts";
import {
  fakeContext,
  fakeDaemon,
  fakePodLinks,
  fakeRunner,
  type LinkCall,
  type LinksScript,
  sampleAddEnv,
  sampleEndpoint,
} from "./_testing.ts";
import { cmdAdd } from "./cmd_add.ts";

const env = sampleAddEnv();
const podMac = "0a:58:0a:f4:01:07";
const hostVeth = await hostVethName("ctr1", "eth0");
const hostMac = hostVethMac(hostVeth);
const link: PodLink = {
  hostVeth,
  hostMac,
  ifname: "eth0",
  podMac,
  netns: env.netns,
  ip: "10.244.1.7",
  mtu: 1500,
};
/** What the fake links record, as one line each. */
const line = ([op, arg]: LinkCall) =>
  `${op} ${typeof arg === "string" ? arg : `${arg.hostVeth}/${arg.ifname}`}`;
const veth = `addVeth ${hostVeth}/eth0`;
const pod = `configurePod ${hostVeth}/eth0`;
const del = `deleteHostVeth ${hostVeth}`;

/** What the fake daemon answers to `add` by default. */
const added: AddResponse = {
  ...sampleEndpoint({ hostVeth, podMac, podNamespace: "default", podName: "web-0" }),
  policy: "ready",
  created: true,
};

/** Links and a daemon that log into one list, so the test sees their relative order. */
function world(
  options: { script?: LinksScript; created?: boolean; add?: () => Promise<never> } = {},
) {
  const events: string[] = [];
  const links = fakePodLinks((call) => {
    events.push(line(call));
    return options.script?.(call);
  });
  const daemon = fakeDaemon({
    add: () => (
      events.push("add"),
        options.add?.() ?? Promise.resolve({ ...added, created: options.created ?? true })
    ),
    release: () => (events.push("release"), Promise.resolve({ released: true, ip: "10.244.1.7" })),
  });
  const runner = fakeRunner();
  return { events, links, runner, daemon, ctx: fakeContext(env, { links, runner, daemon }) };
}

/** Fails one operation with `errno`, as the kernel would. */
const refuse = (op: LinkCall[0], errno: number, text = "") => (call: LinkCall) =>
  call[0] === op
    ? new NetlinkError(
      `Cannot ${op} ${typeof call[1] === "string" ? call[1] : call[1].ifname}`,
      errno,
      text,
    )
    : undefined;

Deno.test("cmdAdd() makes the veth pair, asks the daemon once for the address and the host side, configures the pod side and returns the result", async () => {
  const { links, runner, daemon, events, ctx } = world();
  const result = await cmdAdd(ctx, { podMac });

  const { ip: _, ...veth } = link;
  assertEquals(links.calls, [["addVeth", veth], ["configurePod", link]]);
  assertEquals(events, [`addVeth ${hostVeth}/eth0`, "add", `configurePod ${hostVeth}/eth0`]);
  assertEquals(runner.calls, [], "no ip exec");
  assertEquals(daemon.calls, [
    ["add", {
      network: "tern",
      containerID: "ctr1",
      ifname: "eth0",
      netns: "/var/run/netns/pod1",
      hostVeth,
      podMac,
      podNamespace: "default",
      podName: "web-0",
    }],
  ]);
  assertEquals(result, {
    interfaces: [
      { name: hostVeth, mac: hostMac, mtu: 1500 },
      { name: "eth0", mac: podMac, mtu: 1500, sandbox: "/var/run/netns/pod1" },
    ],
    ips: [{ address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
    dns: {},
  });
});

Deno.test("cmdAdd() uses the config's mtu and dns and a random pod MAC by default", async () => {
  const links = fakePodLinks();
  const ctx = fakeContext(env, { links });
  ctx.conf = { ...ctx.conf, mtu: 1450, dns: { nameservers: ["10.96.0.10"] } };
  const result = await cmdAdd(ctx);
  assertEquals((links.calls[0]?.[1] as PodLink).mtu, 1450);
  assertEquals(result.dns, { nameservers: ["10.96.0.10"] });
  assertEquals(result.interfaces[1]?.mtu, 1450);
  const mac = result.interfaces[1]?.mac ?? "";
  assertEquals((links.calls[0]?.[1] as PodLink).podMac, mac);
  assertEquals(parseInt(mac.slice(0, 2), 16) & 3, 2);
});

Deno.test("cmdAdd() rolls back the veth, then the address, when the pod side fails", async () => {
  const { events, ctx } = world({ script: refuse("configurePod", 1, "Permission denied") });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 5);
  assertEquals(
    err.message,
    "Cannot configure eth0 in /var/run/netns/pod1: Cannot configurePod eth0: EPERM (Permission denied)",
  );
  assertEquals(events, [veth, "add", pod, del, "release"]);
});

Deno.test("cmdAdd() deletes the veth, and releases nothing, when the daemon fails to add the endpoint", async () => {
  const { events, ctx } = world({
    add: () => Promise.reject(new DaemonApiError(500, "internal", "KV commit failed")),
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 11);
  assertEquals(err.message, "Daemon failed to add the endpoint: KV commit failed");
  assertEquals(events, [veth, "add", del], "the daemon undid its own side");
});

Deno.test("cmdAdd() does not release an address it did not create when a later step fails", async () => {
  const { events, ctx } = world({ created: false, script: refuse("configurePod", 22) });
  await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(events.includes("release"), false);
  assertEquals(events.at(-1), del);
});

Deno.test("cmdAdd() keeps going with the rollback when one undo step fails", async () => {
  const { events, ctx } = world({
    script: (call) => refuse("configurePod", 22)(call) ?? refuse("deleteHostVeth", 16)(call),
  });
  await assertRejects(() => cmdAdd(ctx, { podMac }), CniError, "Cannot configure eth0");
  assertEquals(events.slice(-2), [del, "release"]);
});

Deno.test("cmdAdd() reports an existing host veth and neither deletes it nor releases its address", async () => {
  const { events, ctx } = world({
    created: false,
    script: (call) => call[0] === "hostLinkExists" ? true : refuse("addVeth", EEXIST)(call),
  });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 4);
  assertEquals(
    err.message,
    `Attachment already exists: host veth ${hostVeth} for CNI_CONTAINERID and CNI_IFNAME eth0 is present`,
  );
  assertEquals(events, [veth, `hostLinkExists ${hostVeth}`], "the daemon is not asked");
});

Deno.test("cmdAdd() reports an existing pod interface and asks the daemon for nothing", async () => {
  const { events, ctx } = world({ created: true, script: refuse("addVeth", EEXIST) });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 4);
  assertEquals(
    err.message,
    "Interface already exists: CNI_IFNAME eth0 is present in /var/run/netns/pod1",
  );
  assertEquals(events, [veth, `hostLinkExists ${hostVeth}`]);
});

Deno.test("cmdAdd() deletes nothing and asks the daemon for nothing when the veth pair could not be created", async () => {
  const { events, ctx } = world({ script: refuse("addVeth", 34, "Invalid MTU") });
  const err = await assertRejects(() => cmdAdd(ctx, { podMac }), CniError);
  assertEquals(err.code, 5);
  assertEquals(err.message, "Cannot addVeth eth0: ERANGE (Invalid MTU)");
  assertEquals(events, [veth]);
});

Deno.test("cmdAdd() fails with code 11 naming the socket when the daemon is unreachable", async () => {
  const links = fakePodLinks();
  const daemon = fakeDaemon({
    add: () =>
      Promise.reject(
        new DaemonUnavailableError("/run/tern/ternd.sock", "No such file or directory"),
      ),
  });
  const err = await assertRejects(() => cmdAdd(fakeContext(env, { links, daemon })), CniError);
  assertEquals(err.code, 11);
  assertStringIncludes(err.message, "/run/tern/ternd.sock");
  assertEquals(links.calls.map(([op]) => op), ["addVeth", "deleteHostVeth"], "nothing left");
});

Deno.test("cmdAdd() fails with code 11 and a clear message when the pool is exhausted", async () => {
  const daemon = fakeDaemon({
    add: () =>
      Promise.reject(new DaemonApiError(503, "exhausted", "No free address in 10.244.1.0/24")),
  });
  const err = await assertRejects(() => cmdAdd(fakeContext(env, { daemon })), CniError);
  assertEquals(err.code, 11);
  assertEquals(err.message, "No free pod address on this node: No free address in 10.244.1.0/24");
});

Deno.test("cmdAdd() opens the daemon connection while the kernel makes the veth pair", async () => {
  const events: string[] = [];
  const asked = Promise.withResolvers<void>();
  const made = Promise.withResolvers<void>();
  const { daemon, links } = world();
  const slow = {
    ...links,
    addVeth: (link: Parameters<typeof links.addVeth>[0]) => {
      events.push("veth asked");
      asked.resolve();
      return made.promise.then(() => links.addVeth(link)).then(() => void events.push("veth made"));
    },
  };
  const ahead = { ...daemon, connectAhead: () => void events.push("connectAhead") };
  const adding = cmdAdd(fakeContext(env, { links: slow, daemon: ahead }), { podMac });
  await asked.promise;
  assertEquals(events, ["veth asked", "connectAhead"], "asked for, not yet made");
  made.resolve();
  await adding;
  assertEquals(events, ["veth asked", "connectAhead", "veth made"]);
});

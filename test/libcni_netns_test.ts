/**
 * End-to-end through the real client library: a driver built on libcni (Debian's
 * golang-github-appc-cni-dev, as containerd, CRI-O and podman use it) runs ADD, CHECK and DEL
 * through the node's conflist — tern, then the reference portmap. Needs root and the driver
 * (`sh scripts/build_driver.sh`, run by `scripts/bootstrap.sh`).
 */
import { assert, assertEquals } from "./assert.ts";
import { Sandbox, type SandboxNode } from "./sandbox.ts";
import { DaemonClient } from "../src/daemon_client.ts";

async function withNode(fn: (sb: Sandbox, node: SandboxNode) => Promise<void>) {
  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("n1", { podCIDR: "10.244.1.0/24" });
    await sb.startDaemon(node);
    await fn(sb, node);
  } finally {
    await sb.cleanup();
  }
}

function parse(out: { code: number; stdout: string; stderr: string }) {
  if (out.code !== 0) {
    throw new Error(`cnidriver failed: exit ${out.code}: ${out.stderr}${out.stdout}`);
  }
  return JSON.parse(out.stdout);
}

async function httpGet(sb: Sandbox, netns: string, host: string, port: number): Promise<string> {
  const script =
    `exec 3<>/dev/tcp/${host}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
  const out = await sb.exec(netns, ["timeout", "5", "bash", "-c", script]);
  return out.stdout;
}

Deno.test("libcni ADD, CHECK and DEL through the conflist: tern then portmap with a working port mapping", async () => {
  await withNode(async (sb, node) => {
    const uplink = await sb.addUplink(node);
    const pod = await sb.addPod(node, "web");
    const added = parse(
      await sb.driver(node, [
        "add",
        "--netns",
        pod.netnsPath,
        "--id",
        pod.containerID,
        "--port",
        "8080:80/tcp",
      ]),
    );
    assertEquals(added.cniVersion, "1.0.0");
    const ip = String(added.ips[0].address).split("/")[0]!;
    const server = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        pod.netns,
        Deno.execPath(),
        "eval",
        "Deno.serve({ hostname: '0.0.0.0', port: 80, onListen() {} }, () => new Response('hello from the pod'))",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      let body = "";
      for (let i = 0; i < 50 && !body.includes("hello"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        body = await httpGet(sb, node.netns, ip, 80);
      }
      assert(body.includes("hello from the pod"), "the node reaches the pod directly");
      const mapped = await httpGet(sb, uplink.netns, uplink.nodeIp, 8080);
      assert(
        mapped.includes("hello from the pod"),
        `port mapping 8080->80 works: got ${JSON.stringify(mapped)}`,
      );
    } finally {
      server.kill("SIGKILL");
      await server.status;
    }
    // CHECK without the port mapping: Debian's portmap 1.1.1 CHECK always looks for an ip6tables
    // DNAT chain, even for an IPv4-only result, and fails ("could not check ipv6 dnat"); with
    // no mappings portmap skips its own check and the chain's CHECK is tern's.
    const check = await sb.driver(node, [
      "check",
      "--netns",
      pod.netnsPath,
      "--id",
      pod.containerID,
    ]);
    assertEquals(check.code, 0, check.stderr);
    const del = await sb.driver(node, [
      "del",
      "--netns",
      pod.netnsPath,
      "--id",
      pod.containerID,
      "--port",
      "8080:80/tcp",
    ]);
    assertEquals(del.code, 0, del.stderr);
    const nat = await sb.exec(node.netns, ["iptables-save", "-t", "nat"]);
    assert(!nat.stdout.includes(ip), `portmap removed its DNAT rules: ${nat.stdout}`);
    assertEquals((await new DaemonClient(node.socket).endpoints()).length, 0);
  });
});

Deno.test("libcni: 50 pods added concurrently get 50 distinct, reachable addresses and DEL leaves nothing", async () => {
  await withNode(async (sb, node) => {
    const pods = [];
    for (let i = 0; i < 50; i++) pods.push(await sb.addPod(node, `p${i}`));
    const list = `${sb.dir}/pods.json`;
    await Deno.writeTextFile(
      list,
      JSON.stringify(pods.map((p) => ({ id: p.containerID, netns: p.netnsPath }))),
    );
    const added = parse(
      await sb.driver(node, ["bulk", "add", "--pods", list, "--concurrency", "50"]),
    );
    const failures = added.results.filter((r: { ok: boolean }) => !r.ok);
    assertEquals(failures, []);
    const ips = added.results.map((r: { ips: string[] }) => r.ips[0]!.split("/")[0]);
    assertEquals(new Set(ips).size, 50);
    const unreachable = [];
    for (const ip of ips) if (!(await sb.ping(node.netns, ip))) unreachable.push(ip);
    assertEquals(unreachable, []);
    const first = pods[0]!;
    assert(await sb.ping(first.netns, ips[49]), "pod to pod across the node");

    const checked = parse(
      await sb.driver(node, ["bulk", "check", "--pods", list, "--concurrency", "10"]),
    );
    assertEquals(checked.results.filter((r: { ok: boolean }) => !r.ok), []);
    const deleted = parse(
      await sb.driver(node, ["bulk", "del", "--pods", list, "--concurrency", "50"]),
    );
    assertEquals(deleted.results.filter((r: { ok: boolean }) => !r.ok), []);
    const links = await sb.exec(node.netns, ["ip", "-o", "link", "show"]);
    assertEquals(links.stdout.split("\n").filter((l) => l.includes(": tern")), []);
    const routes = await sb.exec(node.netns, ["ip", "route", "show", "proto", "116"]);
    assertEquals(routes.stdout.trim(), "");
    assertEquals((await new DaemonClient(node.socket).endpoints()).length, 0);
  });
});

/**
 * `deno task demo`: a sandbox node (a netns running ternd) with a few pods wired by tern through
 * the path a container runtime uses (the libcni driver and the node's conflist: tern, then
 * portmap). Prints each pod's address and a ping matrix, then tears everything down. Needs root.
 * @module
 */
import { Sandbox, type SandboxPod } from "../test/sandbox.ts";

const PODS = Number(Deno.env.get("TERN_DEMO_PODS") ?? 4);

async function main(): Promise<number> {
  const started = performance.now();
  const sb = await Sandbox.create();
  try {
    console.log(`tern demo: sandbox ${sb.prefix} (every object carries this prefix)`);
    const node = await sb.addNode("node1", { podCIDR: "10.244.1.0/24" });
    await sb.startDaemon(node);
    console.log(`node1: netns ${node.netns}, ternd on ${node.socket}, pod CIDR ${node.podCIDR}`);

    const pods: SandboxPod[] = [];
    for (let i = 1; i <= PODS; i++) {
      const pod = await sb.addPod(node, `pod${i}`);
      const out = await sb.driver(node, ["add", "--netns", pod.netnsPath, "--id", pod.containerID]);
      if (out.code !== 0) throw new Error(`ADD of ${pod.name} failed: ${out.stderr}${out.stdout}`);
      const result = JSON.parse(out.stdout);
      pod.ip = String(result.ips[0].address).split("/")[0]!;
      const hostVeth = result.interfaces[0].name;
      console.log(
        `  ${pod.name.padEnd(6)} ${
          pod.ip!.padEnd(12)
        } host veth ${hostVeth}  (ADD via libcni: tern + portmap)`,
      );
      pods.push(pod);
    }

    console.log("\nping matrix (row = from, column = to; ok = reached):");
    const header = ["from \\ to", "node1", ...pods.map((p) => p.name)];
    console.log(header.map((h) => h.padEnd(9)).join(" "));
    const targets = [
      { name: "node1", netns: node.netns, ip: node.nodeIp },
      ...pods.map((p) => ({ name: p.name, netns: p.netns, ip: p.ip! })),
    ];
    let failures = 0;
    for (const from of targets) {
      const cells = [from.name];
      for (const to of targets) {
        if (to.netns === from.netns) {
          cells.push("-");
          continue;
        }
        const ok = await sb.ping(from.netns, to.ip);
        if (!ok) failures++;
        cells.push(ok ? "ok" : "FAIL");
      }
      console.log(cells.map((c) => c.padEnd(9)).join(" "));
    }

    for (const pod of pods) {
      const out = await sb.driver(node, ["del", "--netns", pod.netnsPath, "--id", pod.containerID]);
      if (out.code !== 0) throw new Error(`DEL of ${pod.name} failed: ${out.stderr}`);
    }
    console.log(`\nDEL of ${pods.length} pods done; tearing down the sandbox`);
    console.log(
      `demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s: ${
        failures === 0 ? "every pod reached" : `${failures} pings FAILED`
      }`,
    );
    return failures === 0 ? 0 : 1;
  } finally {
    await sb.cleanup();
  }
}

Deno.exit(await main());

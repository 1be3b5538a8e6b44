/**
 * Kernel test of `tern ipam check`: a sandbox node running ternd with a `files` cluster source,
 * pods wired by the real plugin, then each kind of problem made by hand — a veth deleted under a
 * live pod (leaked), a tern veth nobody allocated (orphan veth), a pod removed from the cluster
 * (pod gone), and, with the daemon stopped, KV records corrupted (a missing address record, a
 * second owner, an address record nobody owns) — seen by the CLI, repaired by `--repair` where
 * that is safe, and left alone where it is not. Needs root.
 */
import { assert, assertEquals } from "./assert.ts";
import { Sandbox, type SandboxNode, type SandboxPod, ternCommand } from "./sandbox.ts";
import { denoRunner } from "../src/runner.ts";
import type { IpamCheckReport, IpamRepairResponse } from "../src/ipam/ipam_check.ts";
import type { Endpoint } from "../src/api.ts";
import { hostVethName } from "../src/names.ts";

function podManifest(pod: SandboxPod): string {
  return [
    "apiVersion: v1",
    "kind: Pod",
    `metadata: {name: ${pod.name}, namespace: ${pod.namespace}}`,
    `spec: {nodeName: ${pod.node.name}, containers: [{name: c, image: x}]}`,
  ].join("\n") + "\n";
}

function cli(node: SandboxNode, args: string[]) {
  return denoRunner([...ternCommand(), "--socket", node.socket, ...args]);
}

async function check(node: SandboxNode): Promise<{ code: number; report: IpamCheckReport }> {
  const result = await cli(node, ["ipam", "check", "--json"]);
  return { code: result.code, report: JSON.parse(result.stdout) };
}

const kinds = (report: IpamCheckReport) =>
  report.problems.map((p) => `${p.kind} ${p.ip ?? p.veth} ${p.repair}`).sort();

Deno.test("tern ipam check finds each kind of problem in a real node and --repair fixes the safe ones", async () => {
  const sb = await Sandbox.create();
  try {
    const clusterDir = `${sb.dir}/cluster`;
    await Deno.mkdir(clusterDir);
    await Deno.writeTextFile(
      `${clusterDir}/ns.yaml`,
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
    );
    const node = await sb.addNode("n1", {
      podCIDR: "10.244.1.0/24",
      extraConfig: [
        `cluster: {source: files, dir: ${clusterDir}, publishEndpoints: false}`,
        // Judge at once: nothing here is an ADD in flight. The sweep needs the netns gone too,
        // and every pod's netns stays, so it releases nothing behind the check's back.
        "gc: {gracePeriod: 0s}",
      ].join("\n"),
    });
    const pods: SandboxPod[] = [];
    for (const name of ["a", "b", "c", "d"]) {
      const pod = await sb.addPod(node, name);
      await Deno.writeTextFile(`${clusterDir}/pod-${name}.yaml`, podManifest(pod));
      pods.push(pod);
    }
    await sb.startDaemon(node);
    for (const pod of pods) await sb.wire(pod);
    const [a, b, c, d] = pods as [SandboxPod, SandboxPod, SandboxPod, SandboxPod];

    const clean = await check(node);
    assertEquals([clean.code, clean.report.problems], [0, []]);
    assertEquals(clean.report.counts.allocations, 4);
    assertEquals(clean.report.counts.pods, 4);

    // Kernel and cluster problems, with the daemon running.
    const vethA = await hostVethName(a.containerID, a.ifname);
    await sb.exec(node.netns, ["ip", "link", "del", vethA]); // a: leaked (its netns stays)
    await sb.exec(node.netns, [
      "ip",
      "link",
      "add",
      "ternorphan00001",
      "type",
      "veth",
      "peer",
      "name",
      "xorphan",
    ]);
    await Deno.remove(`${clusterDir}/pod-b.yaml`); // b: its Pod is gone, its veth lives
    let seen: IpamCheckReport | undefined;
    for (let i = 0; i < 50; i++) {
      seen = (await check(node)).report;
      if (seen.problems.some((p) => p.kind === "pod_gone")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals(kinds(seen!), [
      `leaked ${a.ip} release`,
      "orphan_veth ternorphan00001 delete_veth",
      `pod_gone ${b.ip} none`,
    ]);

    // KV problems: made with the daemon stopped (it holds the database while it runs).
    await sb.stopDaemon(node);
    const kv = await Deno.openKv(node.stateFile);
    try {
      await kv.delete(["ip", c.ip!]); // c: its address record is missing
      const owner = await kv.get<Endpoint>(["owner", d.containerID, d.ifname]);
      const ghost = { ...owner.value!, containerID: "ghost", hostVeth: "" };
      await kv.set(["owner", "ghost", "eth0"], ghost); // d's address has a second owner
      await kv.set(["ip", "10.244.1.200"], { containerID: "gone", ifname: "eth0" });
    } finally {
      kv.close();
    }
    await sb.startDaemon(node);

    const found = await cli(node, ["ipam", "check"]);
    assertEquals(found.code, 3, found.stdout + found.stderr);
    assert(found.stdout.includes("problems: 6, 5 repaired by --repair"), found.stdout);
    const before = (await check(node)).report;
    assertEquals(
      kinds(before),
      [
        `address_record_missing ${c.ip} restore_address_record`,
        `leaked ${a.ip} release`,
        "orphan_address_record 10.244.1.200 drop_address_record",
        "orphan_veth ternorphan00001 delete_veth",
        `pod_gone ${b.ip} none`,
        `two_owners ${d.ip} release_duplicate`,
      ].sort(),
    );

    const repaired = await cli(node, ["ipam", "check", "--repair", "--json"]);
    assertEquals(repaired.code, 3, "pod_gone stays: b's veth still lives");
    const response = JSON.parse(repaired.stdout) as IpamRepairResponse;
    assertEquals(
      response.repairs.map((r) => `${r.problem.kind} ${r.result}`).sort(),
      [
        "address_record_missing repaired",
        "leaked repaired",
        "orphan_address_record repaired",
        "orphan_veth repaired",
        "two_owners repaired",
      ],
    );
    assertEquals(kinds(response.after), [`pod_gone ${b.ip} none`]);

    // What the repairs did, seen from outside the daemon.
    const links = await sb.exec(node.netns, ["ip", "-json", "link", "show"]);
    const names = (JSON.parse(links.stdout) as { ifname: string }[]).map((l) => l.ifname);
    assert(!names.includes("ternorphan00001"), "the orphan veth is deleted");
    assert(names.includes(await hostVethName(b.containerID, b.ifname)), "b's veth is untouched");
    const listed = await cli(node, ["ipam", "ls", "--json"]);
    const endpoints = JSON.parse(listed.stdout) as Endpoint[];
    assertEquals(
      endpoints.map((e) => e.containerID).sort(),
      [b.containerID, c.containerID, d.containerID].sort(),
      "a's leaked address and the ghost owner are released",
    );
    assert(await sb.ping(d.netns, node.nodeIp), "d, whose address had two owners, still works");
  } finally {
    await sb.cleanup();
  }
});

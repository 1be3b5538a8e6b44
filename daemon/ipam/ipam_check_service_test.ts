import { assert, assertEquals } from "../../test/assert.ts";
import type { AttachmentId, Endpoint } from "../../src/api.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { hostVethName } from "../../src/names.ts";
import { VethSightings } from "../../src/ipam/veth_sightings.ts";
import { Ipam, ipKey, ownerKey } from "./ipam.ts";
import { gatherIpamFacts, IpamCheckService, type IpamFactSources } from "./ipam_check_service.ts";
import { withKv } from "./_ipam_fixture.ts";

const HOUR = 3_600_000;

/** A node: real KV allocations, a fake kernel of veths and routes, a clock past the grace period. */
async function node(kv: Deno.Kv) {
  let now = Date.now();
  const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"], now: () => now });
  const veths = new Set<string>();
  const routes = new Map<string, string>();
  const forgotten: string[] = [];
  const calls: string[] = [];
  const sightings = new VethSightings();
  const sources: IpamFactSources = {
    node: "n1",
    mode: "node-cidr",
    graceMs: 60_000,
    ipam,
    dataplane: {
      hostVeths: () => {
        sightings.observe(veths, now);
        return Promise.resolve(new Set(veths));
      },
      hostRoutes: () => Promise.resolve([...routes].map(([ip, dev]) => ({ ip, dev }))),
      removeEndpoint: (ep) => {
        calls.push(`remove ${ep.ip}`);
        routes.delete(ep.ip);
        return Promise.resolve();
      },
      deleteVeth: (veth) => {
        calls.push(`delete ${veth}`);
        return Promise.resolve(veths.delete(veth));
      },
      forget: (ep) => void forgotten.push(ep.containerID),
      vethFirstSeen: (veth) => sightings.firstSeen(veth),
    },
    pods: () => undefined,
    blocks: () => undefined,
    now: () => now,
  };
  /** A pod added as ADD does: address, veth, route. */
  const pod = async (containerID: string) => {
    const { endpoint } = await ipam.allocate({
      containerID,
      ifname: "eth0",
      network: "tern",
      netns: `/run/netns/${containerID}`,
    });
    const veth = await hostVethName(containerID, "eth0");
    veths.add(veth);
    routes.set(endpoint.ip, veth);
    return { ...endpoint, veth };
  };
  const service = new IpamCheckService(sources, new Mutex());
  return {
    ipam,
    veths,
    routes,
    calls,
    forgotten,
    sources,
    service,
    pod,
    later: () => now += HOUR,
  };
}

const id = (ep: AttachmentId) => ({ containerID: ep.containerID, ifname: ep.ifname });

Deno.test("IpamCheckService.check() reads KV and the kernel, and a healthy node has no problem", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    await n.pod("a");
    await n.pod("b");
    n.later();
    const facts = await gatherIpamFacts(n.sources);
    assertEquals([facts.owners.length, facts.addresses.length, facts.veths.length], [2, 2, 2]);
    assertEquals(
      facts.owners[0]!.veth,
      await hostVethName("a", "eth0"),
      "the veth its identity names",
    );
    assertEquals((await n.service.check()).problems, []);
  }));

Deno.test("IpamCheckService.repair() releases a leaked address and never one whose veth or route lives", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    const a = await n.pod("a");
    const b = await n.pod("b");
    const c = await n.pod("c");
    n.later();
    n.veths.delete(a.veth); // a: veth and route gone (the kernel removes the route with the link)
    n.routes.delete(a.ip);
    n.veths.delete(b.veth); // b: its veth is gone, but a route to its address remains
    n.routes.set(c.ip, "tern-other"); // c: routed elsewhere, its veth alive
    const before = await n.service.check();
    assertEquals(before.problems.map((p) => [p.kind, p.ip]), [["leaked", a.ip]]);

    const { repairs, after } = await n.service.repair();
    assertEquals(repairs.map((r) => [r.problem.kind, r.result]), [["leaked", "repaired"]]);
    assertEquals(n.calls, [`remove ${a.ip}`]);
    assertEquals(await n.ipam.get(id(a)), undefined);
    assertEquals((await kv.get(ipKey(a.ip))).value, null, "the address is free");
    assert(await n.ipam.get(id(b)), "b keeps its address: a route to it exists");
    assert(await n.ipam.get(id(c)), "c keeps its address: its veth exists");
    assertEquals(after.problems, []);
  }));

Deno.test("IpamCheckService.repair() writes back a missing address record", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    const a = await n.pod("a");
    await kv.delete(ipKey(a.ip));
    assertEquals((await n.service.check()).problems.map((p) => p.kind), ["address_record_missing"]);
    const { repairs, after } = await n.service.repair();
    assertEquals(repairs.map((r) => r.result), ["repaired"]);
    assertEquals((await kv.get(ipKey(a.ip))).value, id(a));
    assertEquals(after.problems, []);
  }));

Deno.test("IpamCheckService.repair() releases the stale second owner of an address, keeping the holder's", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    const a = await n.pod("a");
    // A second attachment claims a's address (the corruption this check exists for); no veth.
    const ghost: Endpoint = { ...a, containerID: "ghost", hostVeth: "" };
    await kv.set(ownerKey(ghost), ghost);
    n.later();
    const problems = (await n.service.check()).problems;
    assertEquals(problems.map((p) => [p.kind, p.containerID, p.repair]), [
      ["two_owners", "ghost", "release_duplicate"],
    ]);
    const { repairs, after } = await n.service.repair();
    assertEquals(repairs.map((r) => r.result), ["repaired"]);
    assertEquals(await n.ipam.get({ containerID: "ghost", ifname: "eth0" }), undefined);
    assertEquals((await kv.get(ipKey(a.ip))).value, id(a), "the address stays with a");
    assert(n.routes.has(a.ip), "a's route is untouched");
    assertEquals(n.forgotten, ["ghost"]);
    assertEquals(after.problems, []);
  }));

Deno.test("IpamCheckService.repair() drops an address record nobody owns, unless a route uses it", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    await kv.set(ipKey("10.244.1.200"), { containerID: "gone", ifname: "eth0" });
    await kv.set(ipKey("10.244.1.201"), { containerID: "gone2", ifname: "eth0" });
    n.veths.add("tern0000000201");
    n.routes.set("10.244.1.201", "tern0000000201");
    await n.ipam.reload();
    const { repairs, after } = await n.service.repair();
    assertEquals(repairs.map((r) => [r.problem.ip, r.result]), [["10.244.1.200", "repaired"]]);
    assertEquals((await kv.get(ipKey("10.244.1.200"))).value, null);
    assertEquals(after.problems.map((p) => [p.kind, p.ip, p.repair]), [
      ["orphan_address_record", "10.244.1.201", "none"],
    ]);
  }));

Deno.test("IpamCheckService.repair() deletes a tern veth no allocation names, and reports a route it cannot own", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    await n.pod("a");
    n.veths.add("ternorphan00001");
    n.veths.add("ternrouted00001");
    n.routes.set("10.244.1.77", "ternrouted00001");
    await n.service.check(); // first listed now: judged once the grace period has passed
    n.later();
    const { repairs, after } = await n.service.repair();
    assertEquals(repairs.map((r) => [r.problem.kind, r.problem.veth, r.result]), [
      ["orphan_veth", "ternorphan00001", "repaired"],
    ]);
    assertEquals(n.calls, ["delete ternorphan00001"]);
    assertEquals(after.problems.map((p) => [p.kind, p.ip]), [["unallocated_route", "10.244.1.77"]]);
  }));

Deno.test("IpamCheckService.repair() leaves a veth listed for less than the grace period: an ADD in flight", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    // ADD makes its veth pair, then claims the address: a repair between the two must wait.
    n.veths.add("terninflight001");
    const first = await n.service.repair();
    assertEquals([first.before.problems, first.before.counts.young, n.calls], [[], 1, []]);
    n.later();
    const second = await n.service.repair();
    assertEquals(second.repairs.map((r) => [r.problem.kind, r.problem.veth, r.result]), [
      ["orphan_veth", "terninflight001", "repaired"],
    ]);
    // A veth that went and came back (a name used again) starts afresh.
    n.veths.add("terninflight001");
    await n.service.check();
    n.veths.delete("terninflight001");
    await n.service.check();
    n.later();
    n.veths.add("terninflight001");
    assertEquals((await n.service.check()).counts.young, 1);
  }));

Deno.test("IpamCheckService.repair() judges again: a problem gone since the last check is not acted on", () =>
  withKv(async (kv) => {
    const n = await node(kv);
    const a = await n.pod("a");
    n.later();
    n.veths.delete(a.veth);
    n.routes.delete(a.ip);
    assertEquals((await n.service.check()).problems.map((p) => p.kind), ["leaked"]);
    n.veths.add(a.veth); // the pod came back (its runtime re-added it) before --repair
    const { repairs } = await n.service.repair();
    assertEquals(repairs, []);
    assert(await n.ipam.get(id(a)));
  }));

import { assertEquals } from "../../test/assert.ts";
import type { Endpoint } from "../api.ts";
import { checkIpam, type IpamFacts, type IpamProblem, type OwnerFact } from "./ipam_check.ts";

const NOW = 1_000_000;
const OLD = NOW - 600_000;

function owner(n: number, ip: string, extra: Partial<Endpoint> = {}): OwnerFact {
  const endpoint: Endpoint = {
    containerID: `c${n}`,
    ifname: "eth0",
    network: "tern",
    netns: `/var/run/netns/c${n}`,
    ip,
    podCIDR: "10.244.1.0/24",
    hostVeth: `tern${n}`,
    podMac: "",
    state: "programmed",
    createdAt: OLD,
    updatedAt: OLD,
    podNamespace: "x",
    podName: `p${n}`,
    ...extra,
  };
  return { endpoint, veth: endpoint.hostVeth || `tern${n}` };
}

/** A healthy node: each owner has its address record, veth and route. */
function healthy(owners: OwnerFact[], extra: Partial<IpamFacts> = {}): IpamFacts {
  return {
    node: "n1",
    mode: "node-cidr",
    now: NOW,
    graceMs: 60_000,
    pools: ["10.244.1.0/24"],
    owners,
    addresses: owners.map((o) => ({
      ip: o.endpoint.ip,
      holder: { containerID: o.endpoint.containerID, ifname: o.endpoint.ifname },
    })),
    veths: owners.map((o) => o.veth),
    routes: owners.map((o) => ({ ip: o.endpoint.ip, dev: o.veth })),
    pods: owners.map((o) => `x/${o.endpoint.podName}`),
    ...extra,
  };
}

const kinds = (problems: IpamProblem[]) =>
  problems.map((p) => [p.kind, p.ip ?? p.veth ?? p.block, p.repair]);

Deno.test("checkIpam() finds nothing wrong on a healthy node and counts what it looked at", () => {
  const report = checkIpam(healthy([owner(1, "10.244.1.2"), owner(2, "10.244.1.3")]));
  assertEquals(report.problems, []);
  assertEquals(report.counts, {
    allocations: 2,
    addressRecords: 2,
    veths: 2,
    routes: 2,
    young: 0,
    pods: 2,
  });
});

Deno.test("checkIpam() reports an allocation with no veth and no route as leaked, to release", () => {
  const a = owner(1, "10.244.1.2");
  const b = owner(2, "10.244.1.3");
  const facts = healthy([a, b]);
  facts.veths = [a.veth];
  facts.routes = [{ ip: a.endpoint.ip, dev: a.veth }];
  const [problem] = checkIpam(facts).problems;
  assertEquals(kinds([problem!]), [["leaked", "10.244.1.3", "release"]]);
  assertEquals([problem!.containerID, problem!.pod, problem!.veth], ["c2", "x/p2", "tern2"]);
});

Deno.test("checkIpam() never calls an allocation leaked while its veth or its route exists", () => {
  const a = owner(1, "10.244.1.2");
  const onlyVeth = healthy([a], { routes: [] });
  const onlyRoute = healthy([a], { veths: [] });
  assertEquals(checkIpam(onlyVeth).problems, []);
  assertEquals(checkIpam(onlyRoute).problems, []);
});

Deno.test("checkIpam() leaves allocations younger than the grace period unjudged (an ADD in flight)", () => {
  const a = owner(1, "10.244.1.2", { state: "allocated", hostVeth: "", updatedAt: NOW - 5_000 });
  const report = checkIpam(healthy([a], { veths: [], routes: [], pods: [] }));
  assertEquals(report.problems, []);
  assertEquals(report.counts.young, 1);
});

Deno.test("checkIpam() reports a missing address record, to restore, even for a young allocation", () => {
  const a = owner(1, "10.244.1.2", { updatedAt: NOW });
  const report = checkIpam(healthy([a], { addresses: [] }));
  assertEquals(kinds(report.problems), [[
    "address_record_missing",
    "10.244.1.2",
    "restore_address_record",
  ]]);
});

Deno.test("checkIpam() reports two owners of an address; the one not in use and not recorded is released", () => {
  const a = owner(1, "10.244.1.2");
  const b = owner(2, "10.244.1.2");
  const facts = healthy([a, b]);
  facts.addresses = [facts.addresses[0]!]; // the address record names c1
  facts.veths = [a.veth];
  facts.routes = [{ ip: "10.244.1.2", dev: a.veth }];
  assertEquals(kinds(checkIpam(facts).problems), [[
    "two_owners",
    "10.244.1.2",
    "release_duplicate",
  ]]);
  assertEquals(checkIpam(facts).problems[0]!.containerID, "c2");

  facts.veths = [a.veth, b.veth]; // both have veths: both may be in use
  const both = checkIpam(facts).problems;
  assertEquals(kinds(both), [["two_owners", "10.244.1.2", "none"]]);
});

Deno.test("checkIpam() releases no owner of a shared address when the address record names neither", () => {
  const a = owner(1, "10.244.1.2");
  const b = owner(2, "10.244.1.2");
  const facts = healthy([a, b], { addresses: [], veths: [], routes: [] });
  const problems = checkIpam(facts).problems.filter((p) => p.kind === "two_owners");
  assertEquals(problems.map((p) => [p.containerID, p.repair]), [["c1", "none"], ["c2", "none"]]);
});

Deno.test("checkIpam() drops an address record nobody owns only when no route leads to the address", () => {
  const facts = healthy([], {
    addresses: [{ ip: "10.244.1.9", holder: { containerID: "gone", ifname: "eth0" } }],
  });
  assertEquals(kinds(checkIpam(facts).problems), [[
    "orphan_address_record",
    "10.244.1.9",
    "drop_address_record",
  ]]);
  facts.routes = [{ ip: "10.244.1.9", dev: "tern9" }];
  facts.veths = ["tern9"];
  assertEquals(kinds(checkIpam(facts).problems), [["orphan_address_record", "10.244.1.9", "none"]]);
});

Deno.test("checkIpam() reports a route to an address no allocation holds, and never repairs it", () => {
  const facts = healthy([], { routes: [{ ip: "10.244.1.7", dev: "tern7" }], veths: ["tern7"] });
  const problems = checkIpam(facts).problems;
  assertEquals(kinds(problems), [["unallocated_route", "10.244.1.7", "none"]]);
  assertEquals(problems[0]!.veth, "tern7");
});

Deno.test("checkIpam() reports a tern veth no allocation names and no route uses, to delete", () => {
  const a = owner(1, "10.244.1.2");
  const facts = healthy([a]);
  facts.veths.push("ternfeedbeef12");
  assertEquals(kinds(checkIpam(facts).problems), [[
    "orphan_veth",
    "ternfeedbeef12",
    "delete_veth",
  ]]);
});

Deno.test("checkIpam() reports an allocation whose pod left the node, unrepaired while its veth lives", () => {
  const a = owner(1, "10.244.1.2");
  const b = owner(2, "10.244.1.3");
  const noPod = owner(3, "10.244.1.4");
  delete noPod.endpoint.podName;
  delete noPod.endpoint.podNamespace;
  const facts = healthy([a, b, noPod], { pods: ["x/p1"] });
  assertEquals(kinds(checkIpam(facts).problems), [["pod_gone", "10.244.1.3", "none"]]);
  const { pods: _, ...noSource } = facts;
  assertEquals(checkIpam(noSource).problems, [], "without a cluster source no pod is judged");
});

Deno.test("checkIpam() reports allocations outside the node's pod CIDRs", () => {
  const a = owner(1, "10.99.0.2");
  assertEquals(kinds(checkIpam(healthy([a])).problems), [["outside_pools", "10.99.0.2", "none"]]);
});

Deno.test("checkIpam() in blocks mode compares the node's blocks with the cluster's IPAMBlocks", () => {
  const a = owner(1, "10.50.0.2");
  const b = owner(2, "10.50.9.2");
  const facts = healthy([a, b], {
    mode: "blocks",
    pools: ["10.50.0.0/26", "10.50.1.0/26", "10.50.2.0/26"],
    blocks: [
      { cidr: "10.50.0.0/26", node: "n1", createdAt: OLD },
      { cidr: "10.50.2.0/26", node: "n2", createdAt: OLD },
      { cidr: "10.50.3.0/26", node: "n1", createdAt: OLD },
      { cidr: "10.50.4.0/26", node: "n1", createdAt: NOW - 1_000 }, // being claimed
    ],
  });
  assertEquals(kinds(checkIpam(facts).problems), [
    ["block_of_other_node", "10.50.2.0/26", "none"],
    ["block_not_in_cluster", "10.50.1.0/26", "none"],
    ["outside_pools", "10.50.9.2", "none"],
    ["block_not_used", "10.50.3.0/26", "none"],
  ]);
  assertEquals(checkIpam(facts).counts.blocks, 3);
  const { blocks: _, ...unlisted } = facts;
  assertEquals(checkIpam(unlisted).problems, [], "no block is judged before the first list");
});

Deno.test("checkIpam() orders problems by how much harm they can do", () => {
  const a = owner(1, "10.244.1.2");
  const facts = healthy([a], {
    veths: [a.veth, "ternorphan0001"],
    routes: [{ ip: a.endpoint.ip, dev: a.veth }, { ip: "10.244.1.50", dev: "tern50" }],
    addresses: [],
  });
  assertEquals(checkIpam(facts).problems.map((p) => p.kind), [
    "address_record_missing",
    "unallocated_route",
    "orphan_veth",
  ]);
});

Deno.test("checkIpam() leaves a veth no allocation names unjudged until it has been listed for the grace period", () => {
  const a = owner(1, "10.244.1.2");
  const base = healthy([a], { veths: [a.veth, "terninflight01"] });
  const now = base.now;
  const young = checkIpam({ ...base, vethFirstSeen: { terninflight01: now - base.graceMs + 1 } });
  assertEquals([young.problems, young.counts.young], [[], 1]);
  const old = checkIpam({ ...base, vethFirstSeen: { terninflight01: now - base.graceMs } });
  assertEquals(kinds(old.problems), [["orphan_veth", "terninflight01", "delete_veth"]]);
  assertEquals(kinds(checkIpam(base).problems), kinds(old.problems), "never listed: judged");
});

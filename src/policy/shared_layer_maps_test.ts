import { assert, assertEquals } from "../../test/assert.ts";
import { policyCounters } from "./counters.ts";
import type { Box, LayerPolicy, PodPolicy, PolicyModel, RuleRef } from "./model.ts";
import { elementKey, policyTableObjects, renderPolicyTable, renderPolicyUpdate } from "./render.ts";
import { sharedLayerMaps } from "./shared_layer_maps.ts";

const web: RuleRef = {
  kind: "NetworkPolicy",
  namespace: "team",
  name: "web",
  direction: "ingress",
  index: 0,
  action: "allow",
};

/** An ingress NetworkPolicy layer admitting TCP 80 from `count` /32 peers from 10.1.0.1 on. */
function layer(count: number, rule: RuleRef = web): LayerPolicy {
  const boxes: Box[] = [];
  const base = 10 * 2 ** 24 + 1 * 2 ** 16;
  for (let i = 1; i <= count; i++) {
    boxes.push({
      space: "l4",
      addresses: [base + 2 * i, base + 2 * i],
      first: [6, 6],
      second: [80, 80],
      rule,
    });
  }
  return { layer: "networkPolicy", boxes };
}

/** A replica `name` with id `id` (the ids order the group) and `ingress` layers. */
function pod(id: string, name: string, ingress: LayerPolicy[]): PodPolicy {
  return {
    id,
    namespace: "team",
    name,
    ifname: `tern${id.slice(0, 11)}`,
    ip: "10.244.1.1",
    egress: [],
    ingress,
  };
}

function model(...pods: PodPolicy[]): PolicyModel {
  return { pods, pending: [], problems: [], logRate: 0 };
}

const A = "aaaaaaaaaaaa";
const B = "bbbbbbbbbbbb";
const C = "cccccccccccc";

Deno.test("sharedLayerMaps() names equal last layers after the lowest pod id, whatever the objects", () => {
  // Model order is by name, ids in another order; each replica's layer a distinct equal object.
  const m = model(
    pod(C, "web-0", [layer(3)]),
    pod(A, "web-1", [layer(3)]),
    pod(B, "web-2", [layer(3)]),
  );
  const shared = sharedLayerMaps(m);
  assertEquals([...shared.groups.keys()], [`p_${A}_in_np`]);
  assertEquals(shared.groups.get(`p_${A}_in_np`)!.pods.map((p) => p.name), [
    "web-1",
    "web-2",
    "web-0",
  ]);
  for (const id of [A, B, C]) assertEquals(shared.byPod.get(id)!.ingress, [`p_${A}_in_np`]);
  assertEquals(sharedLayerMaps(m), shared, "found once per model");
});

Deno.test("sharedLayerMaps() keeps apart layers that differ in a box, a rule, the kind or the direction", () => {
  const other: RuleRef = { ...web, name: "other" };
  const sg: LayerPolicy = { ...layer(2), layer: "securityGroup" };
  const egress = { ...pod(C, "out", []), egress: [layer(2)] };
  const m = model(
    pod(A, "a", [layer(2)]),
    pod(B, "b", [layer(3)]),
    pod("dddddddddddd", "d", [layer(2, other)]),
    pod("eeeeeeeeeeee", "e", [sg]),
    egress,
  );
  assertEquals(sharedLayerMaps(m).groups.size, 5);
  for (const group of sharedLayerMaps(m).groups.values()) assertEquals(group.pods.length, 1);
});

Deno.test("sharedLayerMaps() does not share a layer that another follows (its allow names the pod's next chain)", () => {
  const both = (id: string) => pod(id, id, [{ ...layer(1), layer: "securityGroup" }, layer(2)]);
  const shared = sharedLayerMaps(model(both(A), both(B)));
  assertEquals(shared.byPod.get(B)!.ingress, [`p_${B}_in_sg`, `p_${A}_in_np`]);
  const tables = policyTableObjects(model(both(A), both(B)));
  assertEquals(tables.maps.get(`p_${B}_in_sg_exact`)![0]!.verdict, `goto p_${B}_in_np`);
  assertEquals(tables.maps.get(`p_${A}_in_np_exact`)![0]!.verdict, "accept");
  assert(!tables.maps.has(`p_${B}_in_np_exact`));
});

Deno.test("renderPolicyTable() gives replicas one set of maps, which every replica's chain looks up", () => {
  const text = renderPolicyTable(model(pod(A, "a", [layer(3)]), pod(B, "b", [layer(3)])));
  assertEquals(text.match(/^\tmap p_/gm)?.length, 3);
  assertEquals(text.match(/vmap @p_a+_in_np_exact$/gm)?.length, 2);
  assertEquals(text.match(/vmap @p_a+_in_np_l4$/gm)?.length, 2);
  assert(!text.includes(`@p_${B}_in_np_`));
});

Deno.test("renderPolicyUpdate() deletes a box of replicas' shared map once", () => {
  const before = model(pod(A, "a", [layer(4)]), pod(B, "b", [layer(4)]), pod(C, "c", [layer(4)]));
  // The compiler gives replicas one new layer object per run.
  const next = layer(3);
  const after = model(pod(A, "a", [next]), pod(B, "b", [next]), pod(C, "c", [next]));
  assertEquals(
    renderPolicyUpdate(before, after),
    `delete element inet tern p_${A}_in_np_exact { 10.1.0.8 . tcp . 80 }\n`,
  );
});

Deno.test("renderPolicyUpdate() hands a leaving leader's map to the next pod: created whole, chains moved, then the old one deleted", () => {
  const before = model(pod(A, "a", [layer(3)]), pod(B, "b", [layer(3)]), pod(C, "c", [layer(3)]));
  const after = model(before.pods[1]!, before.pods[2]!);
  const lines = renderPolicyUpdate(before, after).trimEnd().split("\n");
  const at = (line: string) => {
    const i = lines.indexOf(line);
    assert(i >= 0, `${line} missing from:\n${lines.join("\n")}`);
    return i;
  };
  const created = at(
    `add map inet tern p_${B}_in_np_exact { type ipv4_addr . inet_proto . inet_service : verdict; counter; }`,
  );
  const filled = at(
    `add element inet tern p_${B}_in_np_exact { ${
      layer(3).boxes.map((b) => `${elementKey(b)} : accept`).join(", ")
    } }`,
  );
  const moved = [B, C].map((id) =>
    at(
      `add rule inet tern p_${id}_in_np ip saddr . meta l4proto . th dport vmap @p_${B}_in_np_exact`,
    )
  );
  const deleted = at(`delete map inet tern p_${A}_in_np_exact`);
  const flushed = at(`flush chain inet tern p_${A}_in_np`);
  assert(created < filled && created < Math.min(...moved));
  assert(Math.max(filled, ...moved, flushed) < deleted);
  assert(deleted < at(`delete chain inet tern p_${A}_in_np`));
  assert(
    !lines.some((l) => l.startsWith(`delete element inet tern p_${A}`)),
    "the old map is deleted whole",
  );
});

Deno.test("renderPolicyUpdate() gives a replica whose layer splits off a map of its own and leaves the group's alone", () => {
  const shared = layer(3);
  const before = model(pod(A, "a", [shared]), pod(B, "b", [shared]), pod(C, "c", [shared]));
  const after = model(before.pods[0]!, pod(B, "b", [layer(2)]), before.pods[2]!);
  const lines = renderPolicyUpdate(before, after).trimEnd().split("\n");
  assertEquals(lines, [
    `add map inet tern p_${B}_in_np_exact { type ipv4_addr . inet_proto . inet_service : verdict; counter; }`,
    `add map inet tern p_${B}_in_np_l4 { type ipv4_addr . inet_proto . inet_service : verdict; flags interval; counter; }`,
    `add map inet tern p_${B}_in_np_icmp { type ipv4_addr . icmp_type . icmp_code : verdict; flags interval; counter; }`,
    `flush chain inet tern p_${B}_in_np`,
    `add rule inet tern p_${B}_in_np meta l4proto icmp ip saddr . icmp type . icmp code vmap @p_${B}_in_np_icmp`,
    `add rule inet tern p_${B}_in_np ip saddr . meta l4proto . th dport vmap @p_${B}_in_np_exact`,
    `add rule inet tern p_${B}_in_np ip saddr . meta l4proto . th dport vmap @p_${B}_in_np_l4`,
    `add rule inet tern p_${B}_in_np counter drop`,
    `add element inet tern p_${B}_in_np_exact { ${
      layer(2).boxes.map((b) => `${elementKey(b)} : accept`).join(", ")
    } }`,
  ]);
  // And back: the map goes once no chain looks it up.
  const back = renderPolicyUpdate(after, before).trimEnd().split("\n");
  assertEquals(back.slice(-3), [
    `delete map inet tern p_${B}_in_np_exact`,
    `delete map inet tern p_${B}_in_np_l4`,
    `delete map inet tern p_${B}_in_np_icmp`,
  ]);
});

Deno.test("policyCounters() counts a shared element once for its rule and once for the replicas, default denies per pod", () => {
  const m = model(pod(A, "a", [layer(1)]), pod(B, "b", [layer(1)]));
  const element = (map: string, packets: number) => ({
    map: {
      family: "inet",
      name: map,
      table: "tern",
      elem: [[{
        elem: { val: { concat: ["10.1.0.2", 6, 80] }, counter: { packets, bytes: packets * 60 } },
      }, { accept: null }]],
    },
  });
  const denied = (id: string, packets: number) => ({
    rule: {
      family: "inet",
      table: "tern",
      chain: `p_${id}_in_np`,
      expr: [{ counter: { packets, bytes: packets * 60 } }, { drop: null }],
    },
  });
  const counters = policyCounters(m, {
    nftables: [element(`p_${A}_in_np_exact`, 5), denied(A, 1), denied(B, 2)],
  });
  assertEquals(counters.rules, [{ rule: web, packets: 5, bytes: 300 }]);
  assertEquals(counters.perPod, [
    {
      namespace: "team",
      name: "a",
      layer: "networkPolicy",
      rule: web,
      packets: 5,
      bytes: 300,
      sharedWith: ["team/b"],
    },
  ]);
  assertEquals(counters.defaultDeny.map((d) => [d.name, d.packets]), [["a", 1], ["b", 2]]);
  assertEquals(counters.unmatched, 0);
});

Deno.test("the test transitions share x/a's maps with x/b, and hand them over and split them", async () => {
  const { transitions } = await import("./_testing.ts");
  const named = new Map((await transitions()).map((t) => [t.name, t]));
  const groupsOf = (m: PolicyModel) =>
    [...sharedLayerMaps(m).groups.values()].filter((g) => g.direction === "ingress")
      .map((g) => g.pods.map((p) => `${p.namespace}/${p.name}`).join(" "));
  const gone = named.get("the leader of a shared map goes away")!;
  assert(groupsOf(gone.before).includes("x/a x/b"), groupsOf(gone.before).join("; "));
  assert(groupsOf(gone.after).includes("x/b"));
  const split = named.get("the leader's layer splits off a shared map")!;
  assert(groupsOf(split.after).includes("x/a") && groupsOf(split.after).includes("x/b"));
});

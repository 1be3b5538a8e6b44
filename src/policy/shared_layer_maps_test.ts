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

/** The name of the maps of the one ingress group of `m` that holds pod `id`. */
function groupOf(m: PolicyModel, id: string): string {
  return sharedLayerMaps(m).byPod.get(id)!.ingress.at(-1)!;
}

Deno.test("sharedLayerMaps() names equal last layers after their policies, whatever the objects", () => {
  // Model order is by name, ids in another order; each replica's layer a distinct equal object.
  const m = model(
    pod(C, "web-0", [layer(3)]),
    pod(A, "web-1", [layer(3)]),
    pod(B, "web-2", [layer(3)]),
  );
  const shared = sharedLayerMaps(m);
  const name = groupOf(m, A);
  assert(/^s_[0-9a-f]{12}_in_np$/.test(name), name);
  assertEquals([...shared.groups.keys()], [name]);
  assertEquals(shared.groups.get(name)!.pods.map((p) => p.name), ["web-1", "web-2", "web-0"]);
  for (const id of [A, B, C]) assertEquals(shared.byPod.get(id)!.ingress, [name]);
  assertEquals(sharedLayerMaps(m), shared, "found once per model");

  // Other peers or another rule of the same policy: other elements, the same name. Another
  // policy, or the other direction: another name.
  assertEquals(groupOf(model(pod(B, "web-2", [layer(5)])), B), name);
  assertEquals(groupOf(model(pod(B, "web-2", [layer(2, { ...web, index: 3 })])), B), name);
  assert(groupOf(model(pod(B, "web-2", [layer(3, { ...web, name: "api" })])), B) !== name);
  const egress = { ...pod(B, "web-2", []), egress: [layer(3)] };
  const out = sharedLayerMaps(model(egress)).byPod.get(B)!.egress[0]!;
  assert(/^s_[0-9a-f]{12}_out_np$/.test(out) && out !== name.replace("_in_", "_out_"), out);
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
  const m = model(both(A), both(B));
  const last = groupOf(m, A);
  assertEquals(sharedLayerMaps(m).byPod.get(B)!.ingress, [`p_${B}_in_sg`, last]);
  const tables = policyTableObjects(m);
  assertEquals(tables.maps.get(`p_${B}_in_sg_exact`)![0]!.verdict, `goto p_${B}_in_np`);
  assertEquals(tables.maps.get(`${last}_exact`)![0]!.verdict, "accept");
  assert(!tables.maps.has(`p_${B}_in_np_exact`));
});

Deno.test("renderPolicyTable() gives replicas one set of maps, which every replica's chain looks up", () => {
  const m = model(pod(A, "a", [layer(3)]), pod(B, "b", [layer(3)]));
  const text = renderPolicyTable(m);
  assertEquals(text.match(/^\tmap s_/gm)?.length, 3);
  assertEquals(text.split(`vmap @${groupOf(m, A)}_exact\n`).length - 1, 2);
  assertEquals(text.split(`vmap @${groupOf(m, A)}_l4\n`).length - 1, 2);
  assert(!text.includes(`@p_`), "no pod's own maps");
});

Deno.test("renderPolicyUpdate() deletes a box of replicas' shared map once", () => {
  const before = model(pod(A, "a", [layer(4)]), pod(B, "b", [layer(4)]), pod(C, "c", [layer(4)]));
  // The compiler gives replicas one new layer object per run.
  const next = layer(3);
  const after = model(pod(A, "a", [next]), pod(B, "b", [next]), pod(C, "c", [next]));
  assertEquals(
    renderPolicyUpdate(before, after),
    `delete element inet tern ${groupOf(after, A)}_exact { 10.1.0.8 . tcp . 80 }\n`,
  );
});

Deno.test("renderPolicyUpdate() keeps a group's maps when its leader leaves or comes back: only its chains change", () => {
  const before = model(pod(A, "a", [layer(3)]), pod(B, "b", [layer(3)]), pod(C, "c", [layer(3)]));
  const after = model(before.pods[1]!, before.pods[2]!);
  assertEquals(groupOf(after, B), groupOf(before, A));
  const gone = renderPolicyUpdate(before, after).trimEnd().split("\n");
  assertEquals(gone, [
    `delete element inet tern pod_ingress { "tern${A.slice(0, 11)}" }`,
    `flush chain inet tern p_${A}_in_np`,
    `delete chain inet tern p_${A}_in_np`,
  ]);
  const back = renderPolicyUpdate(after, before).trimEnd().split("\n");
  assert(
    back.every((l) => !l.includes(" map ") && !l.includes(" element inet tern s_")),
    back.join("\n"),
  );
  assert(back.includes(
    `add rule inet tern p_${A}_in_np ip saddr . meta l4proto . th dport vmap @${
      groupOf(before, A)
    }_exact`,
  ));
  // The last pod takes the maps with it, after its chain's rules.
  const last = renderPolicyUpdate(model(before.pods[1]!), model()).trimEnd().split("\n");
  const name = groupOf(before, A);
  assertEquals(last.slice(-4), [
    `delete map inet tern ${name}_exact`,
    `delete map inet tern ${name}_l4`,
    `delete map inet tern ${name}_icmp`,
    `delete chain inet tern p_${B}_in_np`,
  ]);
});

Deno.test("renderPolicyUpdate() gives a replica whose layer splits off a map of its own and leaves the group's alone", () => {
  const shared = layer(3);
  const before = model(pod(A, "a", [shared]), pod(B, "b", [shared]), pod(C, "c", [shared]));
  const after = model(before.pods[0]!, pod(B, "b", [layer(2)]), before.pods[2]!);
  const lines = renderPolicyUpdate(before, after).trimEnd().split("\n");
  // The same policy, other boxes (as a named port resolving to another port would give): the
  // name is told apart by the leader's id, the group of the lowest leader keeps the plain one.
  const own = groupOf(after, B);
  assertEquals(groupOf(after, A), groupOf(before, A));
  assertEquals(own, groupOf(before, A).replace("_in_np", `_${B}_in_np`));
  assertEquals(lines, [
    `add map inet tern ${own}_exact { type ipv4_addr . inet_proto . inet_service : verdict; counter; }`,
    `add map inet tern ${own}_l4 { type ipv4_addr . inet_proto . inet_service : verdict; flags interval; counter; }`,
    `add map inet tern ${own}_icmp { type ipv4_addr . icmp_type . icmp_code : verdict; flags interval; counter; }`,
    `flush chain inet tern p_${B}_in_np`,
    `add rule inet tern p_${B}_in_np meta l4proto icmp ip saddr . icmp type . icmp code vmap @${own}_icmp`,
    `add rule inet tern p_${B}_in_np ip saddr . meta l4proto . th dport vmap @${own}_exact`,
    `add rule inet tern p_${B}_in_np ip saddr . meta l4proto . th dport vmap @${own}_l4`,
    `add rule inet tern p_${B}_in_np counter drop`,
    `add element inet tern ${own}_exact { ${
      layer(2).boxes.map((b) => `${elementKey(b)} : accept`).join(", ")
    } }`,
  ]);
  // And back: the map goes once no chain looks it up.
  const back = renderPolicyUpdate(after, before).trimEnd().split("\n");
  assertEquals(back.slice(-3), [
    `delete map inet tern ${own}_exact`,
    `delete map inet tern ${own}_l4`,
    `delete map inet tern ${own}_icmp`,
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
    nftables: [element(`${groupOf(m, A)}_exact`, 5), denied(A, 1), denied(B, 2)],
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

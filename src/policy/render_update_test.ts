import { assert, assertEquals, assertMatch } from "../../test/assert.ts";
import { type Transition, transitions } from "./_testing.ts";
import type { PolicyModel } from "./model.ts";
import {
  elementKey,
  isStateful,
  policyTableObjects,
  READY_GROUP,
  RenderCache,
  renderPolicyTable,
  renderPolicyUpdate,
} from "./render.ts";
import { sharedLayerMaps } from "./shared_layer_maps.ts";

const all = await transitions();

function transition(name: string): Transition {
  const found = all.find((t) => t.name === name);
  if (found === undefined) throw new Error(`No transition ${name}`);
  return found;
}

function pod(model: PolicyModel, id: string) {
  const found = model.pods.find((p) => `${p.namespace}/${p.name}` === id);
  if (found === undefined) throw new Error(`No pod ${id} in the model`);
  return found;
}

/** The name of the maps of `pod`'s last layer of `direction` in `model` (`s_<hash>_in_np`). */
function lastMaps(model: PolicyModel, pod: { id: string }, direction = "ingress" as const): string {
  return sharedLayerMaps(model).byPod.get(pod.id)![direction].at(-1)!;
}

/**
 * The update's lines, each checked to name only objects of `owners` (pod ids/veths, and the maps
 * their layers look up before or after) or deny chains.
 */
function linesOf(t: Transition, owners: string[]): string[] {
  const text = renderPolicyUpdate(t.before, t.after);
  const lines = text.trimEnd().split("\n");
  const maps = new Set<string>();
  for (const model of [t.before, t.after]) {
    for (const [id, names] of sharedLayerMaps(model).byPod) {
      if (owners.includes(id)) {
        for (const name of [...names.egress, ...names.ingress]) maps.add(name);
      }
    }
  }
  for (const line of lines) {
    const names = line.match(/\b(p_[0-9a-f]{12}|tern[0-9a-f]{11}|s_\w+_(in|out)_(sg|np))/g) ?? [];
    for (const name of names) {
      assert(
        owners.some((o) => name.includes(o)) || maps.has(name),
        `${t.name}: ${line} touches ${name}`,
      );
    }
  }
  return lines;
}

Deno.test("renderPolicyUpdate() for a new pod creates its chains, maps and entries and nothing else", () => {
  const t = transition("pod z/a appears");
  const z = pod(t.after, "z/a");
  // z/a is the node's first isolated pod: forward gains its ct rules (tested on its own below).
  const all = linesOf(t, [z.id, z.ifname]);
  assertEquals(all.filter((l) => / forward\b/.test(l)).length, 7);
  const lines = all.filter((l) => !/ forward\b/.test(l));
  assert(lines.every((l) => l.startsWith("add ")), "a new pod deletes nothing");
  assert(!lines.some((l) => l.includes("ready")), "readiness is the veth's group, not the table's");
  assert(
    lines.includes(`add element inet tern pod_ingress { "${z.ifname}" : jump p_${z.id}_in_sg }`),
  );
  assert(
    lines.includes(`add element inet tern pod_egress { "${z.ifname}" : jump p_${z.id}_out_sg }`),
  );
  assertEquals(lines.filter((l) => l.startsWith("add chain inet tern d_")).length, 2);
});

Deno.test("renderPolicyUpdate() for a pod that went away deletes its objects and its unused deny chains", () => {
  const t = transition("pod z/a goes away");
  const z = pod(t.before, "z/a");
  // z/a was the node's last isolated pod: forward loses its ct rules (tested on its own below).
  const lines = linesOf(t, [z.id, z.ifname]).filter((l) => !/ forward\b/.test(l));
  assert(lines.every((l) => /^(delete|flush) /.test(l)), "a removed pod adds nothing");
  assertEquals(lines[0], `delete element inet tern pod_egress { "${z.ifname}" }`);
  assertEquals(lines.filter((l) => l.startsWith("delete chain inet tern d_")).length, 2);
  // Rules go before the maps they use, maps before the chains their elements jump to.
  const last = (prefix: string) => lines.findLastIndex((l) => l.startsWith(prefix));
  const first = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
  assert(last("flush chain") < first("delete map") && last("delete map") < first("delete chain"));
});

Deno.test("renderPolicyUpdate() for a local pod's label change touches that pod only", () => {
  const t = transition("local pod x/b joins sg-web by label");
  const b = pod(t.after, "x/b");
  const lines = linesOf(t, [b.id, b.ifname]);
  assert(!lines.some((l) => l.includes("ready")), "x/b was ready before and stays ready");
  assert(
    lines.includes(`add element inet tern pod_ingress { "${b.ifname}" : jump p_${b.id}_in_sg }`),
  );
});

Deno.test("renderPolicyUpdate() for a remote peer's label change only replaces elements", () => {
  const t = transition("remote pod y/c becomes a peer by label");
  const a = pod(t.after, "x/a");
  const lines = linesOf(t, [a.id, a.ifname]);
  const maps = lastMaps(t.after, a);
  assertEquals(maps, lastMaps(t.before, a), "a peer changes the boxes, not the rules");
  assertEquals(lines, [
    `delete element inet tern ${maps}_l4 { 10.244.2.21 . 0 . 0-65535, 10.244.2.21 . 2-255 . 0-65535 }`,
    `delete element inet tern ${maps}_icmp { 10.244.2.21 . 0-255 . 0-255 }`,
    `add element inet tern ${maps}_l4 { 10.244.2.21-10.244.2.22 . 0 . 0-65535 : accept, 10.244.2.21-10.244.2.22 . 2-255 . 0-65535 : accept }`,
    `add element inet tern ${maps}_icmp { 10.244.2.21-10.244.2.22 . 0-255 . 0-255 : accept }`,
  ]);
});

Deno.test("renderPolicyUpdate() for a second layer adds its chain and gives the first layer maps of its own that go to it", () => {
  const t = transition("a NetworkPolicy is added over a security group");
  const a = pod(t.after, "x/a");
  const lines = linesOf(t, [a.id, a.ifname]);
  assert(
    lines.includes(
      `add chain inet tern p_${a.id}_in_np { comment "x/a ingress NetworkPolicy (${a.ifname})"; }`,
    ),
  );
  // The security-group layer is no longer the last: its allows go to the pod's own next chain,
  // so its maps are the pod's, created whole, and the shared ones it looked up go.
  assertEquals(lastMaps(t.before, a).slice(0, 2), "s_");
  assert(
    lines.includes(
      `add element inet tern p_${a.id}_in_sg_l4 { 0.0.0.0/0 . tcp . 80 : goto p_${a.id}_in_np, 0.0.0.0/0 . tcp . 8000-8080 : goto p_${a.id}_in_np }`,
    ),
  );
  assert(lines.includes(`delete map inet tern ${lastMaps(t.before, a)}_l4`));
  assert(
    !lines.some((l) => l.includes("pod_ingress") || l.includes("_out_")),
    "the entry and egress stay",
  );
});

Deno.test("renderPolicyUpdate() for a removed layer deletes its chain after re-pointing the allows", () => {
  const t = transition("that NetworkPolicy is deleted");
  const a = pod(t.after, "x/a");
  const lines = linesOf(t, [a.id, a.ifname]);
  const repoint = lines.findIndex((l) =>
    l.startsWith(`add element inet tern ${lastMaps(t.after, a)}_l4`)
  );
  const drop = lines.indexOf(`delete chain inet tern p_${a.id}_in_np`);
  assert(repoint >= 0 && drop > repoint, lines.join("\n"));
  assertMatch(lines[repoint]!, /: accept/);
});

Deno.test("renderPolicyUpdate() is empty when nothing changed", () => {
  const t = transition("nothing changes");
  assertEquals(renderPolicyUpdate(t.before, t.after), "");
});

Deno.test("renderPolicyUpdate() renders the whole table when the log rate changes", () => {
  const t = transition("nothing changes");
  const after = { ...t.after, logRate: 1 };
  assertEquals(renderPolicyUpdate(t.before, after), renderPolicyTable(after));
  assertMatch(renderPolicyTable(after), /limit rate 1\/second log prefix/);
  assert(
    !renderPolicyTable({ ...t.after, logRate: 0 }).includes(" log "),
    "logRate 0 logs nothing",
  );
});

Deno.test("renderPolicyUpdate() for a large group's own rules deletes and adds exactly the elements that differ", () => {
  for (
    const name of [
      "a deny rule is added to a large group",
      "that deny rule is removed",
      "rules of a large group change",
    ]
  ) {
    const t = transition(name);
    const elements = (model: PolicyModel) => {
      const out = new Set<string>();
      for (const [map, boxes] of policyTableObjects(model).maps) {
        for (const { box, verdict } of boxes) out.add(`${map} ${elementKey(box)} : ${verdict}`);
      }
      return out;
    };
    const [was, is] = [elements(t.before), elements(t.after)];
    const keyOf = (element: string) => element.split(" : ")[0]!;
    const expectedGone = [...was].filter((e) => !is.has(e)).map(keyOf).sort();
    const expectedAdded = [...is].filter((e) => !was.has(e)).sort();
    const gone: string[] = [];
    const added: string[] = [];
    for (const line of renderPolicyUpdate(t.before, t.after).trimEnd().split("\n")) {
      if (/^(add|delete) (chain|rule) inet tern d_/.test(line)) continue; // the deny rule's chain
      const m = line.match(/^(add|delete) element inet tern ([ps]_\w+) \{ (.*) \}$/);
      assert(m !== null, `${name}: only element changes expected: ${line}`);
      for (const e of m[3]!.split(", ")) (m[1] === "add" ? added : gone).push(`${m[2]} ${e}`);
    }
    assert(expectedGone.length + expectedAdded.length > 0, `${name}: nothing changed`);
    assertEquals(gone.sort(), expectedGone, name);
    assertEquals(added.sort(), expectedAdded, name);
  }
});

Deno.test("renderPolicyUpdate() turns connection tracking and the verdict maps on with the first isolated pod and off after the last", () => {
  const isolated = transition("pod z/a appears").after;
  assert(isStateful(isolated), "the scenario isolates pods");
  const open: PolicyModel = {
    ...isolated,
    pods: isolated.pods.map((p) => ({ ...p, egress: [], ingress: [] })),
  };
  assert(!isStateful(open));
  assert(!renderPolicyTable(open).includes("ct state"), "no pod isolated: no ct expression");
  assert(!renderPolicyTable(open).includes("vmap @pod_"), "no pod isolated: no empty map lookups");
  assertEquals(policyTableObjects(open).chains.get("forward"), [
    `meta iifgroup != ${READY_GROUP} iifname "tern*" counter drop`,
    `meta oifgroup != ${READY_GROUP} oifname "tern*" counter drop`,
  ]);

  const on = renderPolicyUpdate(open, isolated).trimEnd().split("\n");
  const forward = on.filter((l) => / forward\b/.test(l));
  assertEquals(forward, [
    "flush chain inet tern forward",
    "add rule inet tern forward ct state established,related accept",
    "add rule inet tern forward ct state invalid drop",
    `add rule inet tern forward meta iifgroup != ${READY_GROUP} iifname "tern*" counter drop`,
    `add rule inet tern forward meta oifgroup != ${READY_GROUP} oifname "tern*" counter drop`,
    "add rule inet tern forward iifname vmap @pod_egress",
    "add rule inet tern forward oifname vmap @pod_ingress",
  ]);
  // The chain is rewritten before the verdict map entries that lead into the pods' chains.
  const firstEntry = on.findIndex((l) => / pod_(egress|ingress) /.test(l));
  assert(on.indexOf("flush chain inet tern forward") < firstEntry, on.join("\n"));

  const off = renderPolicyUpdate(isolated, open).trimEnd().split("\n")
    .filter((l) => / forward\b/.test(l));
  assertEquals(off.slice(0, 2), [
    "flush chain inet tern forward",
    `add rule inet tern forward meta iifgroup != ${READY_GROUP} iifname "tern*" counter drop`,
  ]);
  assertEquals(off.length, 3);
  // No change of statefulness: the forward chain is left alone.
  assert(!renderPolicyUpdate(isolated, isolated).includes("forward"));
});

Deno.test("a RenderCache gives the same transactions as rendering afresh", () => {
  const cache = new RenderCache();
  for (const t of all) {
    const fresh = [renderPolicyTable(t.after), renderPolicyUpdate(t.before, t.after)];
    const cached = [
      renderPolicyTable(t.after, { cache }),
      renderPolicyUpdate(t.before, t.after, { cache }),
    ];
    assertEquals(cached, fresh, t.name);
    assertEquals(policyTableObjects(t.after, { cache }), policyTableObjects(t.after), t.name);
  }
});

Deno.test("RenderCache renders a pod object once per log rate and maps it looks up", () => {
  const cache = new RenderCache();
  const model = transition("pod z/a appears").after;
  const target = model.pods[0]!;
  let renders = 0;
  const render = () => {
    renders++;
    return { chains: new Map() };
  };
  const at = { logRate: 10, maps: "p_a_out_np|p_a_in_np" };
  const first = cache.objects(target, at, render);
  assertEquals([cache.objects(target, { ...at }, render) === first, renders], [true, 1]);
  cache.objects(target, { ...at, logRate: 20 }, render);
  cache.objects({ ...target }, { ...at, logRate: 20 }, render);
  cache.objects(target, { ...at, maps: "p_a_out_np|p_b_in_np" }, render);
  assertEquals(renders, 4, "a new log rate, a recompiled pod object or other maps render again");
});

Deno.test("renderPolicyUpdate() changes an exact box's hash elements address by address, and its interval boxes whole", () => {
  const rule = {
    kind: "NetworkPolicy",
    namespace: "team",
    name: "web",
    direction: "ingress",
    index: 0,
    action: "allow",
  } as const;
  const base = 10 * 2 ** 24 + 1 * 2 ** 16; // 10.1.0.0
  const box = (first: number, last: number, port: [number, number] = [80, 80]) => ({
    space: "l4" as const,
    addresses: [base + first, base + last] as [number, number],
    first: [6, 6] as [number, number],
    second: port,
    rule,
  });
  const modelOf = (...boxes: ReturnType<typeof box>[]): PolicyModel => ({
    pods: [{
      id: "aaaaaaaaaaaa",
      namespace: "team",
      name: "a",
      ifname: "ternaaaaaaaaaaa",
      ip: "10.244.1.1",
      egress: [],
      ingress: [{ layer: "networkPolicy", boxes, sources: "team/web" }],
    }],
    pending: [],
    problems: [],
    logRate: 0,
  });
  const pair = modelOf(box(2, 3), box(40, 41, [80, 90]), box(100, 131));
  const maps = sharedLayerMaps(pair).byPod.get("aaaaaaaaaaaa")!.ingress[0]!;
  const table = policyTableObjects(pair).maps;
  assertEquals(
    table.get(`${maps}_exact`)!.map(({ box }) => elementKey(box)),
    ["10.1.0.2 . tcp . 80", "10.1.0.3 . tcp . 80"],
    "a pair is two hash elements",
  );
  assertEquals(
    table.get(`${maps}_l4`)!.map(({ box }) => elementKey(box)),
    ["10.1.0.40/31 . tcp . 80-90", "10.1.0.100-10.1.0.131 . tcp . 80"],
    "a port range, or more than 16 addresses: interval elements",
  );
  const update = (after: PolicyModel) => renderPolicyUpdate(pair, after).trimEnd().split("\n");
  assertEquals(update(modelOf(box(2, 4), box(40, 41, [80, 90]), box(100, 131))), [
    `add element inet tern ${maps}_exact { 10.1.0.4 . tcp . 80 : accept }`,
  ]);
  assertEquals(update(modelOf(box(2, 2), box(40, 41, [80, 90]), box(100, 131))), [
    `delete element inet tern ${maps}_exact { 10.1.0.3 . tcp . 80 }`,
  ]);
  assertEquals(update(modelOf(box(3, 3), box(40, 41, [80, 90]), box(100, 132))), [
    `delete element inet tern ${maps}_exact { 10.1.0.2 . tcp . 80, 10.1.0.3 . tcp . 80 }`,
    `delete element inet tern ${maps}_l4 { 10.1.0.100-10.1.0.131 . tcp . 80 }`,
    `add element inet tern ${maps}_exact { 10.1.0.3 . tcp . 80 : accept }`,
    `add element inet tern ${maps}_l4 { 10.1.0.100-10.1.0.132 . tcp . 80 : accept }`,
  ]);
});

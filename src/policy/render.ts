/**
 * The decision model as nftables input: one table, `inet tern`, with fixed rules, per-pod chains
 * reached through verdict maps keyed by interface, and per-layer interval maps whose elements
 * are the model's boxes. {@linkcode renderPolicyTable} writes the whole table as one atomic
 * transaction (create, delete, define: so it also works when the table is absent);
 * {@linkcode renderPolicyUpdate} writes only what changed between two models, so a new pod or a
 * changed label touches elements and map entries, not the ruleset, and counters survive.
 *
 * Layout (see docs/policy.md):
 *
 * - Ready veths: a host veth whose policy is programmed carries interface group
 *   {@linkcode READY_GROUP} (the daemon sets it after the transaction that programs the pod, see
 *   daemon/policy/veth_groups.ts); `forward` drops the traffic of any other `tern*` veth ("no traffic
 *   before policy"). A group is a compare, where a set would be a lookup per packet.
 * - `chain forward`: the `ready` checks; while some local pod is isolated it starts with
 *   `ct state established,related accept` and `ct state invalid drop` and ends with the pods'
 *   verdict maps. Without one it is only the `ready` checks: nothing of tern tracks connections.
 * - `map pod_egress` (iifname → `jump` the pod's first egress layer chain), `map pod_ingress`
 *   (oifname → the first ingress layer chain). No entry: the pod is unaffected that way.
 * - `chain p_<id>_<out|in>_<sg|np>`: one per pod, direction and layer: an ICMP lookup, an
 *   address/protocol/port lookup, then the layer's default deny (log, counter, drop). Allowed
 *   boxes `goto` the next layer's chain, or `return` (egress, so the receiver's ingress is still
 *   evaluated) or `accept` (ingress); denied boxes `goto d_<rule>`.
 * - `map s_…_exact` (`ipv4_addr . inet_proto . inet_service`, a hash map), `map s_…_l4` (the
 *   same key, an interval map), `map s_…_icmp` (`ipv4_addr . icmp_type . icmp_code`, an interval
 *   map), all with per-element counters: one set of maps per distinct last layer, shared by the
 *   chains of the replicas that have it and named after the layer's policies
 *   (`s_<hash>_in_np_l4`, {@linkcode sharedLayerMaps}), so that they stay while any of those pods
 *   does; one set per earlier layer, named after the pod's chain (`p_<id>_in_sg_l4`). A box of one protocol, one
 *   port and at most {@linkcode EXACT_ADDRESSES} addresses is one element per address in the
 *   hash map ({@linkcode mapElements}); the others are interval elements. The kernel deletes an
 *   element of an interval map (`nft_set_pipapo`) by walking the map's rules from the first,
 *   40–180 ms in a map of ~10 000, where the hash map's delete is a lookup (docs/benchmarks.md,
 *   "One change to a layer's map").
 * - `chain d_<rule>`: one per deny rule in use: log with the policy and rule, counter, drop.
 *
 * Per packet: at most three map lookups per layer (ICMP: one; other protocols: the hash map,
 * then the interval map when the hash map has no element), whatever the number of pods, groups
 * or rules. The boxes of a layer never overlap, so at most one element of the two maps matches.
 * Pure: a caller that renders successive models and wants unchanged pods not rendered again
 * passes its own {@linkcode RenderCache}.
 * @module
 */
import { shortHash } from "./_hash.ts";
import type {
  Box,
  Direction,
  Layer,
  LayerPolicy,
  PodPolicy,
  PolicyModel,
  RuleRef,
} from "./model.ts";
import { compare } from "./resources.ts";
import { formatAddressRange, formatRange } from "./ranges.ts";
import { type SharedLayerMaps, sharedLayerMaps } from "./shared_layer_maps.ts";

/** Family and name of tern's table. */
export const POLICY_TABLE = "inet tern";

/**
 * The interface group of a host veth whose policy is programmed: 0x7465726e, "tern" in ASCII.
 * Veths are created in group 0 (`default`), so a new veth is not ready until the daemon says so.
 */
export const READY_GROUP = 0x7465726e;

/** The longest log prefix the kernel takes (NF_LOG_PREFIXLEN is 128 with the NUL). */
const MAX_LOG_PREFIX = 127;

const PROTOCOL_NAMES: Record<number, string> = { 6: "tcp", 17: "udp", 132: "sctp" };

/** The maps of a layer: the hash map of exact elements, the interval maps of the others. */
export type MapSpace = "exact" | "l4" | "icmp";

const MAP_TYPES: Record<MapSpace, string> = {
  exact: "ipv4_addr . inet_proto . inet_service",
  l4: "ipv4_addr . inet_proto . inet_service",
  icmp: "ipv4_addr . icmp_type . icmp_code",
};

/** A layer's maps, in the order the whole table lists them. */
const MAP_SPACES: readonly MapSpace[] = ["exact", "l4", "icmp"];

/** The attributes of a map of `space`: its type, `flags interval` unless exact, `counter`. */
function mapAttributes(space: MapSpace): string[] {
  return [
    `type ${MAP_TYPES[space]} : verdict`,
    ...(space === "exact" ? [] : ["flags interval"]),
    "counter",
  ];
}

/**
 * The widest address range of a box that {@linkcode mapElements} makes one hash element per
 * address of. Consecutive pod addresses with the same rule are one box, often two or a few
 * addresses wide (at kube-scale 85 % of a layer's 11 000 boxes are pairs), so single addresses
 * alone would leave most boxes in the interval map; wider ranges (CIDRs, a node's pods) stay
 * interval elements, so an element count stays within 16 times the boxes'.
 */
export const EXACT_ADDRESSES = 16;

/**
 * The map of a layer that holds `box` and its elements there: `exact` (one single-address box
 * per address) for an l4 box of one protocol, one port and at most {@linkcode EXACT_ADDRESSES}
 * addresses, else the box itself in `l4` or `icmp` (pure).
 */
export function mapElements(box: Box): { space: MapSpace; boxes: Box[] } {
  const space = mapSpaceOf(box);
  return { space, boxes: space === "exact" ? exactBoxes(box) : [box] };
}

/** The map of a layer that holds `box` ({@linkcode mapElements} without the elements). */
function mapSpaceOf(box: Box): MapSpace {
  return box.space === "l4" && box.first[0] === box.first[1] &&
      box.second[0] === box.second[1] && box.addresses[1] - box.addresses[0] < EXACT_ADDRESSES
    ? "exact"
    : box.space;
}

/** An exact box as its elements' single-address boxes (the box itself for one address). */
function exactBoxes(box: Box): Box[] {
  const [low, high] = box.addresses;
  if (low === high) return [box];
  const boxes: Box[] = [];
  for (let a = low; a <= high; a++) boxes.push({ ...box, addresses: [a, a] });
  return boxes;
}

/** The key of the element of exact box `box` for `address` (one of its addresses). */
function exactKey(box: Box, address: number): string {
  return elementKey(
    box.addresses[0] === address && box.addresses[1] === address
      ? box
      : { ...box, addresses: [address, address] },
  );
}

/** The chain of a pod's layer: `p_<id>_out_sg`, `p_<id>_in_np`. */
export function layerChainName(
  id: string,
  at: { direction: Direction; layer: Layer },
): string {
  const { direction, layer } = at;
  return `p_${id}_${direction === "egress" ? "out" : "in"}_${
    layer === "securityGroup" ? "sg" : "np"
  }`;
}

/** A rule's identity (not its action or priority): `SecurityGroup//sg-web/ingress/1`. */
export function ruleKey(rule: RuleRef): string {
  return `${rule.kind}/${rule.namespace ?? ""}/${rule.name}/${rule.direction}/${rule.index}`;
}

/** The chain that logs and drops what a deny rule decides: `d_` + 12 hex digits. */
export function denyChainName(rule: RuleRef): string {
  return `d_${shortHash(ruleKey(rule))}`;
}

/** `SecurityGroup/sg-web ingress rule 1`, `NetworkPolicy/team-a/web egress rule 0`. */
export function describeRule(rule: RuleRef): string {
  const id = rule.namespace === undefined ? rule.name : `${rule.namespace}/${rule.name}`;
  return `${rule.kind}/${id} ${rule.direction} rule ${rule.index}`;
}

/** An element key as nft writes it: `10.244.1.0/24 . tcp . 80-90`. */
export function elementKey(box: Box): string {
  const first = box.space === "l4" && box.first[0] === box.first[1]
    ? PROTOCOL_NAMES[box.first[0]] ?? String(box.first[0])
    : formatRange(box.first);
  return `${formatAddressRange(box.addresses)} . ${first} . ${formatRange(box.second)}`;
}

interface ChainSpec {
  comment: string;
  rules: string[];
}

interface MapSpec {
  /** `exact`: each box of n addresses is n elements, one per address ({@linkcode mapElements}). */
  space: MapSpace;
  /** Element key → verdict, built when first needed ({@linkcode elementsOf}). */
  elements?: Map<string, string>;
  /** The boxes the elements come from, with their verdicts, in the model's order. */
  boxes: { box: Box; verdict: string }[];
}

/**
 * The chains one pod attachment owns in the table, and its verdict map entries. Its layers' maps
 * are the table's ({@linkcode sharedLayerMaps}: replicas' chains look up one pair).
 */
export interface PodObjects {
  chains: Map<string, ChainSpec>;
  /** The verdict of the pod's `pod_egress` / `pod_ingress` entry, when it has one. */
  egress?: string;
  ingress?: string;
}

/**
 * The objects rendered for each compiled pod object, kept by a caller that renders successive
 * models (the daemon's policy manager): a pod whose policy was not recompiled (the compiler hands
 * back the same object) is not rendered again. Keyed weakly, so pods that leave the model are
 * forgotten. Rendering without one renders every pod.
 */
export class RenderCache {
  readonly #pods = new WeakMap<PodPolicy, { key: string; objects: PodObjects }>();

  /**
   * The objects of `pod` at `logRate` whose chains look up the maps named `maps` (their names
   * joined): remembered ones, else those `render` makes (kept).
   */
  objects(
    pod: PodPolicy,
    at: { logRate: number; maps: string },
    render: () => PodObjects,
  ): PodObjects {
    const key = `${at.logRate} ${at.maps}`;
    const hit = this.#pods.get(pod);
    if (hit !== undefined && hit.key === key) return hit.objects;
    const objects = render();
    this.#pods.set(pod, { key, objects });
    return objects;
  }
}

/** How to render: `cache`, where pods' objects rendered before are kept (default none). */
export interface RenderOptions {
  cache?: RenderCache | undefined;
}

/** Renders the whole table as one `nft -f -` transaction that replaces any previous table. */
export function renderPolicyTable(model: PolicyModel, options: RenderOptions = {}): string {
  const deny = denyNamer();
  const shared = sharedLayerMaps(model);
  const pods = model.pods.map((pod) => ({
    pod,
    objects: podObjectsOf(pod, {
      logRate: model.logRate,
      deny,
      cache: options.cache,
      maps: shared.byPod.get(pod.id)!,
    }),
  }));
  checkUnique(model);
  const maps = tableMaps(model, deny);
  const out: string[] = [
    "# tern: the whole policy table, as one transaction (nft -f)",
    `table ${POLICY_TABLE} {}`,
    `delete table ${POLICY_TABLE}`,
    `table ${POLICY_TABLE} {`,
  ];
  const egress = pods.filter((p) => p.objects.egress !== undefined)
    .map((p) => `${quote(p.pod.ifname)} : ${p.objects.egress}`);
  const ingress = pods.filter((p) => p.objects.ingress !== undefined)
    .map((p) => `${quote(p.pod.ifname)} : ${p.objects.ingress}`);
  block(out, { head: "map pod_egress", attributes: ["type ifname : verdict"], elements: egress });
  block(out, { head: "map pod_ingress", attributes: ["type ifname : verdict"], elements: ingress });
  out.push("", ...forwardChain(isStateful(model)).map((line) => `\t${line}`));
  for (const [name, chain] of denyChains(model, deny)) out.push("", ...chainBlock(name, chain));
  for (const ep of model.pending) {
    out.push("", `\t# pending ${ep.namespace}/${ep.name} ${ep.ifname}: ${ep.reason}`);
  }
  // A pod's chains, then the maps it leads (those of its layers that no pod of a lower id has).
  const led = new Map<string, string[]>();
  for (const group of shared.groups.values()) {
    const leader = group.pods[0]!.id;
    let names = led.get(leader);
    if (names === undefined) led.set(leader, names = []);
    for (const space of MAP_SPACES) names.push(`${group.name}_${space}`);
  }
  for (const { pod, objects } of pods) {
    out.push("", `\t# pod ${pod.namespace}/${pod.name} ${pod.ifname} ${pod.ip}`);
    for (const [name, chain] of objects.chains) out.push(...chainBlock(name, chain));
    for (const name of led.get(pod.id) ?? []) {
      const map = maps.get(name)!;
      const elements = [...elementsOf(map)].map(([key, verdict]) => `${key} : ${verdict}`);
      block(out, {
        head: `map ${name}`,
        attributes: mapAttributes(map.space),
        elements,
      });
    }
  }
  out.push("}", "");
  return out.join("\n");
}

/**
 * Renders the transaction that turns the table of `previous` into that of `next`, touching only
 * what differs: the chains of pods and layers that appeared or went away (or whose maps moved to
 * another group's), the maps that appeared or went away ({@linkcode sharedLayerMaps}: new maps
 * are created whole before the chains look them up, old ones deleted after), the elements that
 * changed, the entries of `pod_egress` and `pod_ingress`, and the forward chain's rules when
 * connection tracking turns on or off ({@linkcode isStateful}). Empty when nothing changed. A
 * change of `logRate` renders the whole table.
 */
export function renderPolicyUpdate(
  previous: PolicyModel,
  next: PolicyModel,
  options: RenderOptions = {},
): string {
  if (previous.logRate !== next.logRate) return renderPolicyTable(next, options);
  checkUnique(next);
  const t = POLICY_TABLE;
  const deny = denyNamer();
  const sharedBefore = sharedLayerMaps(previous);
  const sharedAfter = sharedLayerMaps(next);
  // Only the pods that are not the very same compiled object on both sides, or whose layers now
  // look up other maps, are rendered (a pod added to a node of 250 renders one pod, not 500).
  const before = new Map(previous.pods.map((pod) => [pod.id, pod]));
  const after = new Map(next.pods.map((pod) => [pod.id, pod]));
  const objectsOf = (
    pods: Map<string, PodPolicy>,
    at: { other: Map<string, PodPolicy>; shared: SharedLayerMaps; otherShared: SharedLayerMaps },
  ) => {
    const out = new Map<string, { pod: PodPolicy; objects: PodObjects }>();
    for (const [id, pod] of pods) {
      const maps = at.shared.byPod.get(id)!;
      if (at.other.get(id) === pod && sameMaps(maps, at.otherShared.byPod.get(id)!)) continue;
      out.set(id, {
        pod,
        objects: podObjectsOf(pod, { logRate: next.logRate, deny, cache: options.cache, maps }),
      });
    }
    return out;
  };
  const oldPods = objectsOf(before, {
    other: after,
    shared: sharedBefore,
    otherShared: sharedAfter,
  });
  const newPods = objectsOf(after, {
    other: before,
    shared: sharedAfter,
    otherShared: sharedBefore,
  });
  // Deny chains are shared by rule: they change only when a pod that changed has deny rules.
  const denyMoved = [...oldPods.values(), ...newPods.values()]
    .some(({ pod }) => denyRulesOf(pod).length > 0);
  const oldDeny = denyMoved ? denyChains(previous, deny) : new Map<string, ChainSpec>();
  const newDeny = denyMoved ? denyChains(next, deny) : oldDeny;

  const createDeny: string[] = [];
  const create: string[] = [];
  const fill: string[] = [];
  const dropElements: string[] = [];
  const addElements: string[] = [];
  const entries: string[] = [];
  const removeEntries: string[] = [];
  const flush: string[] = [];
  const removeMaps: string[] = [];
  const removeChains: string[] = [];
  const remove = (objects: { flush: string[]; chains: string[] }) => {
    flush.push(...objects.flush);
    removeChains.push(...objects.chains);
  };
  const removeDeny: string[] = [];

  for (const [name, chain] of newDeny) {
    if (!oldDeny.has(name)) createDeny.push(...chainCommands(name, chain));
  }
  for (const name of oldDeny.keys()) {
    if (!newDeny.has(name)) removeDeny.push(`delete chain ${t} ${name}`);
  }

  // Maps: those of groups that are new are created whole; a map of both tables changes by the
  // elements that differ (a map object shared by both: nothing).
  const oldMaps = tableMaps(previous, deny);
  const newMaps = tableMaps(next, deny);
  for (const [name, map] of newMaps) {
    const before = oldMaps.get(name);
    if (before === map) continue;
    if (before === undefined) {
      create.push(`add map ${t} ${name} { ${mapAttributes(map.space).join("; ")}; }`);
    }
    const { gone, added } = elementChanges(before, map);
    for (const line of elementCommands(`delete element ${t} ${name}`, gone)) {
      dropElements.push(line);
    }
    for (const line of elementCommands(`add element ${t} ${name}`, added)) addElements.push(line);
  }
  for (const name of oldMaps.keys()) {
    if (!newMaps.has(name)) removeMaps.push(`delete map ${t} ${name}`);
  }

  for (const [id, { pod, objects }] of newPods) {
    const old = oldPods.get(id)?.objects;
    for (const [name, chain] of objects.chains) {
      const before = old?.chains.get(name);
      if (before === undefined) {
        create.push(`add chain ${t} ${name} { comment ${quote(chain.comment)}; }`);
        fill.push(...chain.rules.map((rule) => `add rule ${t} ${name} ${rule}`));
      } else if (before.rules.join("\n") !== chain.rules.join("\n")) {
        fill.push(
          `flush chain ${t} ${name}`,
          ...chain.rules.map((rule) => `add rule ${t} ${name} ${rule}`),
        );
      }
    }
    for (const direction of ["egress", "ingress"] as const) {
      const mapName = direction === "egress" ? "pod_egress" : "pod_ingress";
      const was = old?.[direction];
      const now = objects[direction];
      if (was === now) continue;
      if (was !== undefined) {
        entries.push(`delete element ${t} ${mapName} { ${quote(pod.ifname)} }`);
      }
      if (now !== undefined) {
        entries.push(`add element ${t} ${mapName} { ${quote(pod.ifname)} : ${now} }`);
      }
    }
    if (old !== undefined) remove(removeObjects(old, objects));
  }
  for (const [id, { pod, objects }] of oldPods) {
    if (after.has(id)) continue;
    if (objects.egress !== undefined) {
      removeEntries.push(`delete element ${t} pod_egress { ${quote(pod.ifname)} }`);
    }
    if (objects.ingress !== undefined) {
      removeEntries.push(`delete element ${t} pod_ingress { ${quote(pod.ifname)} }`);
    }
    remove(removeObjects(objects, undefined));
  }

  // The first isolated pod turns connection tracking on, the last one's going turns it off.
  const stateful = isStateful(next);
  if (stateful !== isStateful(previous)) {
    fill.push(
      `flush chain ${t} forward`,
      ...forwardRules(stateful).map((rule) => `add rule ${t} forward ${rule}`),
    );
  }
  const lines = [
    createDeny,
    create,
    fill,
    dropElements,
    addElements,
    entries,
    removeEntries,
    flush,
    removeMaps,
    removeChains,
    removeDeny,
  ].flat();
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** What the table of a model holds, object by object: what a listing of the kernel's is checked against. */
export interface PolicyTableObjects {
  /** Every chain (`forward`, deny chains, pod layer chains) → its rules as rendered. */
  chains: Map<string, string[]>;
  /** Every pod layer map → its boxes with their verdicts (`accept`, `goto d_…`). */
  maps: Map<string, { box: Box; verdict: string }[]>;
  /** `pod_egress` and `pod_ingress`: veth → verdict (`jump p_…`). */
  podEgress: Map<string, string>;
  podIngress: Map<string, string>;
}

/** The objects {@linkcode renderPolicyTable} creates for `model`. */
export function policyTableObjects(
  model: PolicyModel,
  options: RenderOptions = {},
): PolicyTableObjects {
  const deny = denyNamer();
  const out: PolicyTableObjects = {
    chains: new Map([
      ["forward", forwardRules(isStateful(model))],
    ]),
    maps: new Map(),
    podEgress: new Map(),
    podIngress: new Map(),
  };
  for (const [name, chain] of denyChains(model, deny)) out.chains.set(name, chain.rules);
  const shared = sharedLayerMaps(model);
  for (const pod of model.pods) {
    const objects = podObjectsOf(pod, {
      logRate: model.logRate,
      deny,
      cache: options.cache,
      maps: shared.byPod.get(pod.id)!,
    });
    for (const [name, chain] of objects.chains) out.chains.set(name, chain.rules);
    if (objects.egress !== undefined) out.podEgress.set(pod.ifname, objects.egress);
    if (objects.ingress !== undefined) out.podIngress.set(pod.ifname, objects.ingress);
  }
  for (const [name, map] of tableMaps(model, deny)) {
    out.maps.set(
      name,
      map.space === "exact"
        ? map.boxes.flatMap(({ box, verdict }) =>
          exactBoxes(box).map((one) => ({ box: one, verdict }))
        )
        : map.boxes,
    );
  }
  return out;
}

// ---- pieces ------------------------------------------------------------------------------------

/**
 * The forward chain's rules. While some local pod is isolated (has a layer in either direction),
 * established and related packets are accepted first, invalid ones dropped, and after the `ready`
 * checks the verdict maps send each pod's packets to its chains. With no pod isolated the maps are
 * empty, so the chain is only the `ready` checks: no `ct` expression (the kernel does not track
 * connections for tern, docs/policy.md, "Connection tracking") and no lookups in empty maps, each
 * of which costs a forwarded packet about 4 % here (docs/benchmarks.md).
 */
function forwardRules(stateful: boolean): string[] {
  const ready = [
    `meta iifgroup != ${READY_GROUP} iifname "tern*" counter drop`,
    `meta oifgroup != ${READY_GROUP} oifname "tern*" counter drop`,
  ];
  if (!stateful) return ready;
  return [
    "ct state established,related accept",
    "ct state invalid drop",
    ...ready,
    "iifname vmap @pod_egress",
    "oifname vmap @pod_ingress",
  ];
}

/** {@linkcode forwardRules} in its hooked chain, as the whole table writes it. */
function forwardChain(stateful: boolean): string[] {
  return [
    "chain forward {",
    "\ttype filter hook forward priority filter; policy accept;",
    ...forwardRules(stateful).map((rule) => `\t${rule}`),
    "}",
  ];
}

/** Whether the table of `model` tracks connections: some local pod has a layer (pure). */
export function isStateful(model: PolicyModel): boolean {
  return model.pods.some((pod) => pod.egress.length > 0 || pod.ingress.length > 0);
}

/** {@linkcode denyChainName}, remembered by rule key for one render (hashing is the cost). */
function denyNamer(): (rule: RuleRef) => string {
  const names = new Map<string, string>();
  return (rule) => {
    const key = ruleKey(rule);
    let name = names.get(key);
    if (name === undefined) {
      name = `d_${shortHash(key)}`;
      names.set(key, name);
    }
    return name;
  };
}

/** The groups of a pod's layers' maps, by direction ({@linkcode SharedLayerMaps}). */
type PodMaps = { egress: string[]; ingress: string[] };

function sameMaps(a: PodMaps, b: PodMaps): boolean {
  return a.egress.length === b.egress.length && a.ingress.length === b.ingress.length &&
    a.egress.every((name, i) => b.egress[i] === name) &&
    a.ingress.every((name, i) => b.ingress[i] === name);
}

/**
 * {@linkcode podObjects}, through `at.cache` when there is one (deny chain names are a function
 * of the rule, so objects rendered by an earlier call stay valid).
 */
function podObjectsOf(
  pod: PodPolicy,
  at: {
    logRate: number;
    deny: (rule: RuleRef) => string;
    cache: RenderCache | undefined;
    maps: PodMaps;
  },
): PodObjects {
  if (at.cache === undefined) return podObjects(pod, at);
  const maps = `${at.maps.egress.join(",")}|${at.maps.ingress.join(",")}`;
  return at.cache.objects(pod, { logRate: at.logRate, maps }, () => podObjects(pod, at));
}

/** The chains of one pod attachment, each looking up the maps of its layer's group. */
function podObjects(pod: PodPolicy, at: { logRate: number; maps: PodMaps }): PodObjects {
  const { logRate } = at;
  const out: PodObjects = { chains: new Map() };
  for (const direction of ["egress", "ingress"] as const) {
    const layers = pod[direction];
    const peer = direction === "egress" ? "ip daddr" : "ip saddr";
    layers.forEach((layer, i) => {
      const chain = layerChainName(pod.id, { direction, layer: layer.layer });
      const maps = at.maps[direction][i]!;
      const what = `${pod.namespace}/${pod.name} ${direction} ${
        layer.layer === "securityGroup" ? "security groups" : "NetworkPolicy"
      }`;
      const rules = [
        `meta l4proto icmp ${peer} . icmp type . icmp code vmap @${maps}_icmp`,
        `${peer} . meta l4proto . th dport vmap @${maps}_exact`,
        `${peer} . meta l4proto . th dport vmap @${maps}_l4`,
      ];
      if (logRate > 0) {
        rules.push(
          `limit rate ${logRate}/second log prefix ${quote(logPrefix(what, "default deny"))}`,
        );
      }
      rules.push("counter drop");
      out.chains.set(chain, { comment: `${what} (${pod.ifname})`, rules });
      if (i === 0) out[direction] = `jump ${chain}`;
    });
  }
  return out;
}

/**
 * Every layer map of the table, by name: a pair per group of {@linkcode sharedLayerMaps}, whose
 * allowed boxes `goto` the pod's next layer chain, or end the side (`return` for egress,
 * `accept` for ingress). Found once per model (the maps themselves once per layer object and
 * verdict, {@linkcode layerMaps}).
 */
const tableMapCache = new WeakMap<PolicyModel, Map<string, MapSpec>>();

function tableMaps(model: PolicyModel, deny: (rule: RuleRef) => string): Map<string, MapSpec> {
  let out = tableMapCache.get(model);
  if (out !== undefined) return out;
  out = new Map();
  for (const group of sharedLayerMaps(model).groups.values()) {
    const { direction, layer } = group;
    let allow = direction === "egress" ? "return" : "accept";
    if (!group.last) {
      // Not shared: the only pod's next layer.
      const layers = group.pods[0]![direction];
      const following = layers[layers.indexOf(layer) + 1]!;
      allow = `goto ${layerChainName(group.pods[0]!.id, { direction, layer: following.layer })}`;
    }
    const maps = layerMaps(layer, { allow, deny });
    for (const space of MAP_SPACES) out.set(`${group.name}_${space}`, maps[space]);
  }
  tableMapCache.set(model, out);
  return out;
}

/**
 * The maps of a layer whose allowed boxes end in `allow`, made once per layer object and verdict:
 * the compiler computes replicas' layers once per run, and a pod's last layer ends in `accept` or
 * `return` whatever its id, so a map and the differences between its old and new contents
 * ({@linkcode elementChanges}) are computed once per run. Deny chains are named by their rule
 * alone, so a map made in an earlier render stays right.
 */
const layerMapCache = new WeakMap<LayerPolicy, Map<string, Record<MapSpace, MapSpec>>>();

function layerMaps(
  layer: LayerPolicy,
  at: { allow: string; deny: (rule: RuleRef) => string },
): Record<MapSpace, MapSpec> {
  let byVerdict = layerMapCache.get(layer);
  if (byVerdict === undefined) layerMapCache.set(layer, byVerdict = new Map());
  let maps = byVerdict.get(at.allow);
  if (maps === undefined) {
    maps = {
      exact: { space: "exact", boxes: [] },
      l4: { space: "l4", boxes: [] },
      icmp: { space: "icmp", boxes: [] },
    };
    for (const box of layer.boxes) {
      const verdict = box.rule.action === "deny" ? `goto ${at.deny(box.rule)}` : at.allow;
      // An exact box stays one box here, its elements made only as text is: a run's new layer
      // object would otherwise cost ~20 000 objects at kube-scale.
      maps[mapSpaceOf(box)].boxes.push({ box, verdict });
    }
    byVerdict.set(at.allow, maps);
  }
  return maps;
}

/** A map's elements: key → verdict, in the order of its boxes (built once, then kept). */
function elementsOf(map: MapSpec): Map<string, string> {
  if (map.elements === undefined) {
    map.elements = new Map();
    for (const { box, verdict } of map.boxes) {
      if (map.space !== "exact") map.elements.set(elementKey(box), verdict);
      else {
        for (let a = box.addresses[0]; a <= box.addresses[1]; a++) {
          map.elements.set(exactKey(box, a), verdict);
        }
      }
    }
  }
  return map.elements;
}

/**
 * The elements of map `before` that `now` does not have with the same verdict (keys, in
 * `before`'s order), and those of `now` that `before` does not have (`key : verdict`, in `now`'s
 * order). Boxes in the model's order (by addresses, then the two other axes, never overlapping)
 * are compared as numbers in one walk, so a 10k-element map with one change costs no 10k
 * strings; otherwise, by element key.
 */
function elementChanges(
  before: MapSpec | undefined,
  now: MapSpec,
): { gone: string[]; added: string[] } {
  if (before === undefined) return elementChangesOf(before, now);
  let byNow = changesCache.get(before);
  if (byNow === undefined) changesCache.set(before, byNow = new WeakMap());
  let changes = byNow.get(now);
  if (changes === undefined) byNow.set(now, changes = elementChangesOf(before, now));
  return changes;
}

/** {@linkcode elementChanges} by pair of maps: replicas' maps are shared (see `layerMaps`). */
const changesCache = new WeakMap<MapSpec, WeakMap<MapSpec, { gone: string[]; added: string[] }>>();

function elementChangesOf(
  before: MapSpec | undefined,
  now: MapSpec,
): { gone: string[]; added: string[] } {
  const gone: string[] = [];
  const added: string[] = [];
  const exact = now.space === "exact";
  /** Box `b`'s elements from address `from` on (all of them by default) are added. */
  const add = (b: BoxVerdict, from = b.box.addresses[0]) => {
    if (!exact) added.push(`${elementKey(b.box)} : ${b.verdict}`);
    else {
      for (let x = from; x <= b.box.addresses[1]; x++) {
        added.push(`${exactKey(b.box, x)} : ${b.verdict}`);
      }
    }
  };
  /** Box `a`'s elements from address `from` on are gone. */
  const drop = (a: BoxVerdict, from = a.box.addresses[0]) => {
    if (!exact) gone.push(elementKey(a.box));
    else for (let x = from; x <= a.box.addresses[1]; x++) gone.push(exactKey(a.box, x));
  };
  if (before === undefined) {
    for (const b of now.boxes) add(b);
    return { gone, added };
  }
  if (!inBoxOrder(before.boxes) || !inBoxOrder(now.boxes)) {
    const was = elementsOf(before);
    const is = elementsOf(now);
    for (const [key, verdict] of was) if (is.get(key) !== verdict) gone.push(key);
    for (const [key, verdict] of is) {
      if (was.get(key) !== verdict) added.push(`${key} : ${verdict}`);
    }
    return { gone, added };
  }
  const old = before.boxes;
  const next = now.boxes;
  let i = 0;
  let j = 0;
  while (i < old.length || j < next.length) {
    const a = old[i];
    const b = next[j];
    const order = a === undefined ? 1 : b === undefined ? -1 : boxOrder(a.box, b.box);
    if (order < 0) {
      drop(a!);
      i++;
    } else if (order > 0) {
      add(b!);
      j++;
    } else {
      if (exact && a!.verdict === b!.verdict) {
        // The same start, protocol and port: only the addresses past the shorter range differ.
        const end = Math.min(a!.box.addresses[1], b!.box.addresses[1]);
        drop(a!, end + 1);
        add(b!, end + 1);
      } else if (!sameBox(a!.box, b!.box) || a!.verdict !== b!.verdict) {
        drop(a!);
        add(b!);
      }
      i++;
      j++;
    }
  }
  return { gone, added };
}

type BoxVerdict = { box: Box; verdict: string };

/** The model's order of a layer's boxes of one space: by the first of each range. */
function boxOrder(a: Box, b: Box): number {
  return a.addresses[0] - b.addresses[0] || a.first[0] - b.first[0] ||
    a.second[0] - b.second[0];
}

function inBoxOrder(boxes: readonly BoxVerdict[]): boolean {
  for (let i = 1; i < boxes.length; i++) {
    if (boxOrder(boxes[i - 1]!.box, boxes[i]!.box) >= 0) return false;
  }
  return true;
}

/** Same ranges (the element key is a function of them). */
function sameBox(a: Box, b: Box): boolean {
  return a.addresses[0] === b.addresses[0] && a.addresses[1] === b.addresses[1] &&
    a.first[0] === b.first[0] && a.first[1] === b.first[1] &&
    a.second[0] === b.second[0] && a.second[1] === b.second[1];
}

/** The deny chains the model's boxes jump to, by name. */
function denyChains(model: PolicyModel, deny: (rule: RuleRef) => string): Map<string, ChainSpec> {
  const rules = new Map<string, RuleRef>();
  for (const pod of model.pods) {
    for (const rule of denyRulesOf(pod)) rules.set(deny(rule), rule);
  }
  const out = new Map<string, ChainSpec>();
  for (const name of [...rules.keys()].sort(compare)) {
    const what = describeRule(rules.get(name)!);
    const chainRules = model.logRate > 0
      ? [`limit rate ${model.logRate}/second log prefix ${quote(logPrefix(what, "deny"))}`]
      : [];
    chainRules.push("counter drop");
    out.set(name, { comment: `deny ${what}`, rules: chainRules });
  }
  return out;
}

/**
 * The chains `old` has and `now` (undefined: nothing) does not, as commands in the order the
 * kernel takes them: chains are flushed first (their rules use the maps), then (by the caller)
 * the maps no chain looks up any more are deleted (their elements jump to the chains), then the
 * emptied chains.
 */
function removeObjects(
  old: PodObjects,
  now: PodObjects | undefined,
): { flush: string[]; chains: string[] } {
  const out = { flush: [] as string[], chains: [] as string[] };
  for (const name of old.chains.keys()) {
    if (now?.chains.has(name)) continue;
    out.flush.push(`flush chain ${POLICY_TABLE} ${name}`);
    out.chains.push(`delete chain ${POLICY_TABLE} ${name}`);
  }
  return out;
}

function chainCommands(name: string, chain: ChainSpec): string[] {
  return [
    `add chain ${POLICY_TABLE} ${name} { comment ${quote(chain.comment)}; }`,
    ...chain.rules.map((rule) => `add rule ${POLICY_TABLE} ${name} ${rule}`),
  ];
}

/** `<command> { e1, e2, … }` lines (`add element inet tern m`), at most 1000 elements each. */
function elementCommands(command: string, elements: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += 1000) {
    out.push(`${command} { ${elements.slice(i, i + 1000).join(", ")} }`);
  }
  return out;
}

function chainBlock(name: string, chain: ChainSpec): string[] {
  return [
    `\tchain ${name} {`,
    `\t\tcomment ${quote(chain.comment)}`,
    ...chain.rules.map((rule) => `\t\t${rule}`),
    "\t}",
  ];
}

/** Appends a set or map block (a loop, not a spread: element lists can be very long). */
function block(
  out: string[],
  spec: { head: string; attributes: string[]; elements: string[] },
): void {
  const { head, attributes, elements } = spec;
  out.push(`\t${head} {`);
  for (const a of attributes) out.push(`\t\t${a}`);
  if (elements.length > 0) {
    out.push("\t\telements = {");
    elements.forEach((e, i) => out.push(`\t\t\t${e}${i < elements.length - 1 ? "," : ""}`));
    out.push("\t\t}");
  }
  out.push("\t}");
}

/** `tern: <what>: ` for a log prefix, the subject shortened to fit the kernel's limit. */
function logPrefix(subject: string, verdict: string): string {
  const fixed = verdict === "deny" ? `tern: deny : ` : `tern:  ${verdict}: `;
  const room = MAX_LOG_PREFIX - fixed.length;
  const cut = subject.length > room ? `${subject.slice(0, room - 1)}~` : subject;
  return verdict === "deny" ? `tern: deny ${cut}: ` : `tern: ${cut} ${verdict}: `;
}

/** A double-quoted nft string; names reaching here are DNS names, anything else is replaced. */
function quote(text: string): string {
  return `"${text.replace(/[^A-Za-z0-9 ._:/()~*-]/g, "_")}"`;
}

/** Two attachments whose ids collide would share chains: refuse rather than mix policies. */
/**
 * The deny rules a pod's boxes name, found once per compiled pod: an update renders the deny chains
 * of both models, and walking every box of every pod each time cost milliseconds per run with
 * selections of 10 000 pods.
 */
const denyRules = new WeakMap<PodPolicy, RuleRef[]>();

function denyRulesOf(pod: PodPolicy): RuleRef[] {
  let found = denyRules.get(pod);
  if (found === undefined) {
    const set = new Set<RuleRef>();
    for (const layer of [...pod.egress, ...pod.ingress]) {
      for (const box of layer.boxes) if (box.rule.action === "deny") set.add(box.rule);
    }
    found = [...set];
    denyRules.set(pod, found);
  }
  return found;
}

function checkUnique(model: PolicyModel): void {
  const seen = new Map<string, PodPolicy>();
  for (const pod of model.pods) {
    const other = seen.get(pod.id);
    if (other !== undefined) {
      throw new Error(
        `Policy chain ids collide: ${other.namespace}/${other.name} (${other.ifname}) and ${pod.namespace}/${pod.name} (${pod.ifname}) both hash to ${pod.id}`,
      );
    }
    seen.set(pod.id, pod);
  }
}

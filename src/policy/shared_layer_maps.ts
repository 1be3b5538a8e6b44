/**
 * Which local pods' layers look up one set of maps, and the maps' name (issue 11). Replicas on a
 * node have the same layers, and a layer's maps hold ~10 000 boxes at scale: one set of maps per
 * distinct layer, shared by the replicas' chains, makes a policy change one element delete in the
 * kernel instead of one per replica.
 *
 * The assignment is a pure function of the model's values, never of which objects the compiler
 * happened to share, so a table rendered from scratch and one built by successive updates name
 * the same maps (the table audit, `policyTableObjects`, the random compiler test compare them):
 *
 * - Only a side's last layer is shared: its allowed boxes end the side (`return` for egress,
 *   `accept` for ingress) whatever the pod, where an earlier layer's `goto`s the pod's own next
 *   chain. Each earlier layer has maps of its own.
 * - Two last layers share when they are of the same direction, kind and policies and have the
 *   same boxes, each with the same rule (identity, action and priority): same elements, same
 *   verdicts, and each element's counter belongs to one rule.
 * - The maps are named after the layer's policies, not after a pod: `s_<hash>_in_np` (then
 *   `_exact`, `_l4`, `_icmp`), the hash of the direction, the layer's kind and the policies
 *   (security groups, NetworkPolicies) that apply to its pods (`LayerPolicy.sources`), whether or
 *   not their rules have peers (at kube-scale `bench-peers` has no peer before the first sample:
 *   named after the boxes' rules, the maps were renamed, created whole, by its first peer). A
 *   group keeps its maps whoever joins or leaves it, and a map goes only with its last pod: when
 *   the pod of the lowest id left, the next one's maps used to be created whole (10 000 elements
 *   and more, ~150–250 ms of `nft`) although nothing in them had changed. Peers and rules change
 *   the boxes, not the policies, so they change elements, not the name; a policy that starts or
 *   stops selecting the pods renames the maps, created whole. Two groups of the same policies and
 *   other boxes (a named port that resolves to other ports) are told apart by their leader's id,
 *   `s_<hash>_<id>_in_np`, for all but the group of the lowest leader id.
 * - The group's lowest pod id is its leader: the whole table writes the maps after its chains, and
 *   counters name it for the group.
 *
 * Groups are found once per model (kept weakly by model); boxes are compared once per pair of
 * layer objects, through a fingerprint, so a run whose replicas share one compiled layer object
 * (the compiler computes replicas once per run) costs a few lookups per pod.
 * @module
 */
import { shortHash } from "./_hash.ts";
import type { Box, Direction, LayerPolicy, PodPolicy, PolicyModel, RuleRef } from "./model.ts";

/** One pair of maps and the pods whose chains look it up. */
export interface LayerMapGroup {
  /**
   * The maps' name: `s_<hash>_in_np` for a last layer (see the module), the pod's layer chain
   * (`p_<id>_in_sg`) for an earlier one; the maps are this plus `_exact`, `_l4` and `_icmp`.
   */
  name: string;
  direction: Direction;
  /** Whether the layer is its side's last (only those are shared). */
  last: boolean;
  /** The leader's layer (every member's has the same boxes and rules). */
  layer: LayerPolicy;
  /** The pods whose chains look the maps up, lowest id first: the first is the leader. */
  pods: PodPolicy[];
}

/** The groups of a model, and each pod's layers' groups. */
export interface SharedLayerMaps {
  /** By name, in the order of their leaders' first appearance in the model's pods. */
  groups: Map<string, LayerMapGroup>;
  /** Pod id → the group name of each of its layers, by direction, in evaluation order. */
  byPod: Map<string, { egress: string[]; ingress: string[] }>;
}

const byModel = new WeakMap<PolicyModel, SharedLayerMaps>();

/** The map groups of `model` (computed once per model object). */
export function sharedLayerMaps(model: PolicyModel): SharedLayerMaps {
  let found = byModel.get(model);
  if (found === undefined) {
    found = groupsOf(model);
    byModel.set(model, found);
  }
  return found;
}

/** The chain of a pod's layer, as `layerChainName` in render.ts writes it (no import cycle). */
function chainOf(id: string, direction: Direction, layer: LayerPolicy): string {
  return `p_${id}_${direction === "egress" ? "out" : "in"}_${
    layer.layer === "securityGroup" ? "sg" : "np"
  }`;
}

/** A pod's own chain names by direction, made once per pod object (its earlier layers' maps). */
const ownNames = new WeakMap<PodPolicy, { egress: string[]; ingress: string[] }>();

function ownNamesOf(pod: PodPolicy): { egress: string[]; ingress: string[] } {
  let names = ownNames.get(pod);
  if (names === undefined) {
    names = {
      egress: pod.egress.map((layer) => chainOf(pod.id, "egress", layer)),
      ingress: pod.ingress.map((layer) => chainOf(pod.id, "ingress", layer)),
    };
    ownNames.set(pod, names);
  }
  return names;
}

/** A group being formed: its members in the model's order and its leader so far. */
interface Forming {
  direction: Direction;
  layer: LayerPolicy;
  pods: PodPolicy[];
  leader: PodPolicy;
}

function groupsOf(model: PolicyModel): SharedLayerMaps {
  // Each pod's last layers, by fingerprint; a few microseconds per pod (an ADD renders the
  // node's models once per run, with hundreds of pods).
  const buckets = new Map<number, Forming[]>();
  /** Per pod: its last egress and ingress layers' groups (undefined: no such layer). */
  const memberOf = new Map<PodPolicy, [Forming | undefined, Forming | undefined]>();
  for (const pod of model.pods) {
    const joined: [Forming | undefined, Forming | undefined] = [undefined, undefined];
    for (const [d, direction] of [[0, "egress"], [1, "ingress"]] as const) {
      const layers = pod[direction];
      const layer = layers[layers.length - 1];
      if (layer === undefined) continue;
      const hash = fingerprint(layer) ^ (d << 30);
      let bucket = buckets.get(hash);
      if (bucket === undefined) buckets.set(hash, bucket = []);
      let group = bucket.find((g) => g.direction === direction && sameLayer(g.layer, layer));
      if (group === undefined) {
        group = { direction, layer, pods: [], leader: pod };
        bucket.push(group);
      } else if (pod.id < group.leader.id) group.leader = pod;
      group.pods.push(pod);
      joined[d] = group;
    }
    memberOf.set(pod, joined);
  }
  const groupName = groupNames(buckets);
  const groups = new Map<string, LayerMapGroup>();
  const made = new Map<Forming, LayerMapGroup>();
  const byPod = new Map<string, { egress: string[]; ingress: string[] }>();
  for (const pod of model.pods) {
    const own = ownNamesOf(pod);
    const joined = memberOf.get(pod)!;
    let names = own;
    for (const [d, direction] of [[0, "egress"], [1, "ingress"]] as const) {
      const layers = pod[direction];
      // Earlier layers: the pod's own (their allow is a goto to its own next chain).
      for (let i = 0; i < layers.length - 1; i++) {
        const name = own[direction][i]!;
        groups.set(name, { name, direction, last: false, layer: layers[i]!, pods: [pod] });
      }
      const forming = joined[d];
      if (forming === undefined) continue;
      let group = made.get(forming);
      if (group === undefined) {
        const leader = forming.leader;
        const pods = forming.pods.length === 1
          ? forming.pods
          : [leader, ...forming.pods.filter((p) => p !== leader).sort(byId)];
        const name = groupName.get(forming)!;
        group = { name, direction, last: true, layer: leader[direction].at(-1)!, pods };
        made.set(forming, group);
      }
      if (group.pods[0] === pod) groups.set(group.name, group);
      if (names === own) names = { egress: [...own.egress], ingress: [...own.ingress] };
      names[direction][layers.length - 1] = group.name;
    }
    byPod.set(pod.id, names);
  }
  return { groups, byPod };
}

function byId(a: PodPolicy, b: PodPolicy): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The name of each group's maps: `s_<hash of its rules>_<in|out>_<sg|np>`; groups whose rules
 * hash alike have the leader's id after the hash, but for the one of the lowest leader id.
 */
function groupNames(buckets: Map<number, Forming[]>): Map<Forming, string> {
  const bySignature = new Map<string, Forming[]>();
  for (const bucket of buckets.values()) {
    for (const forming of bucket) {
      const signature = signatureOf(forming.direction, forming.layer);
      let same = bySignature.get(signature);
      if (same === undefined) bySignature.set(signature, same = []);
      same.push(forming);
    }
  }
  const out = new Map<Forming, string>();
  for (const [signature, same] of bySignature) {
    if (same.length > 1) same.sort((a, b) => byId(a.leader, b.leader));
    same.forEach((forming, i) => {
      const side = chainOf("", forming.direction, forming.layer).slice(2);
      out.set(forming, `s_${signature}${i === 0 ? "" : `_${forming.leader.id}`}${side}`);
    });
  }
  return out;
}

const signatures = new WeakMap<LayerPolicy, Map<Direction, string>>();

/**
 * 12 hex digits of a hash of the direction, kind and policies of a layer: its `sources` (every
 * policy that applies, with boxes or not), or for a layer made without them the policies of its
 * boxes' rules.
 */
function signatureOf(direction: Direction, layer: LayerPolicy): string {
  let byDirection = signatures.get(layer);
  if (byDirection === undefined) signatures.set(layer, byDirection = new Map());
  let signature = byDirection.get(direction);
  if (signature === undefined) {
    let sources = layer.sources;
    if (sources === undefined) {
      const rules = new Set<RuleRef>();
      for (const box of layer.boxes) rules.add(box.rule);
      sources = [...new Set([...rules].map(policyKey))].sort().join(",");
    }
    signature = shortHash(`${direction} ${layer.layer}\n${sources}`);
    byDirection.set(direction, signature);
  }
  return signature;
}

// ---- comparing layers --------------------------------------------------------------------------

const fingerprints = new WeakMap<LayerPolicy, number>();
const ruleHashes = new WeakMap<RuleRef, number>();
const sameLayers = new WeakMap<LayerPolicy, WeakMap<LayerPolicy, boolean>>();

/** A 32-bit hash of the layer's boxes and their rules (equal layers, equal fingerprints). */
function fingerprint(layer: LayerPolicy): number {
  let hash = fingerprints.get(layer);
  if (hash !== undefined) return hash;
  hash = mix(0x811c9dc5, layer.boxes.length);
  for (const box of layer.boxes) {
    hash = mix(hash, box.space === "l4" ? 1 : 2);
    hash = mix(hash, box.addresses[0]);
    hash = mix(hash, box.addresses[1]);
    hash = mix(hash, box.first[0]);
    hash = mix(hash, box.first[1]);
    hash = mix(hash, box.second[0]);
    hash = mix(hash, box.second[1]);
    hash = mix(hash, ruleHash(box.rule));
  }
  fingerprints.set(layer, hash);
  return hash;
}

function mix(hash: number, value: number): number {
  // One multiply and a shift per value (addresses exceed 31 bits: taken modulo 2^32).
  const h = Math.imul(hash ^ value, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** The policy of a rule: `SecurityGroup//sg-web`, `NetworkPolicy/team-a/web`. */
function policyKey(rule: RuleRef): string {
  return `${rule.kind}/${rule.namespace ?? ""}/${rule.name}`;
}

function ruleKey(rule: RuleRef): string {
  return `${rule.kind}/${
    rule.namespace ?? ""
  }/${rule.name}/${rule.direction}/${rule.index}/${rule.action}/${rule.priority ?? ""}`;
}

function ruleHash(rule: RuleRef): number {
  let hash = ruleHashes.get(rule);
  if (hash === undefined) {
    hash = 0x811c9dc5;
    const key = ruleKey(rule);
    for (let i = 0; i < key.length; i++) hash = mix(hash, key.charCodeAt(i));
    ruleHashes.set(rule, hash);
  }
  return hash;
}

/** Whether two layers have the same boxes with the same rules (remembered per pair). */
function sameLayer(a: LayerPolicy, b: LayerPolicy): boolean {
  if (a === b || a.boxes === b.boxes) return true;
  let byOther = sameLayers.get(a);
  if (byOther === undefined) sameLayers.set(a, byOther = new WeakMap());
  let same = byOther.get(b);
  if (same === undefined) {
    same = a.layer === b.layer && a.sources === b.sources && sameBoxes(a.boxes, b.boxes);
    byOther.set(b, same);
  }
  return same;
}

function sameBoxes(a: readonly Box[], b: readonly Box[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (
      x.space !== y.space || x.addresses[0] !== y.addresses[0] ||
      x.addresses[1] !== y.addresses[1] || x.first[0] !== y.first[0] ||
      x.first[1] !== y.first[1] || x.second[0] !== y.second[0] || x.second[1] !== y.second[1]
    ) return false;
    if (x.rule !== y.rule && ruleKey(x.rule) !== ruleKey(y.rule)) return false;
  }
  return true;
}

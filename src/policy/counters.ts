/**
 * Maps the kernel's counters back to policies and rules. The daemon lists the table with
 * `nft -j -n list table inet tern` and passes the parsed JSON with the model it programmed;
 * every map element's counter is attributed to the rule of the box it was rendered from (a box
 * of a few addresses is one element per address, `mapElements` in render.ts), each
 * layer chain's final `counter drop` to that pod's default deny, and the `forward` chain's
 * counted drops to "not ready" (veths without programmed policy). Replicas whose chains look up
 * one map (`shared_layer_maps.ts`) have one counter per element, the sum over them: it counts once
 * for the rule, and once for the pods as a group (the row of the group's first pod, naming the
 * others in `sharedWith`); the default deny stays per pod, in its own chain. Pure.
 * @module
 */
import { type Count, numericKey, parseElement, toCount } from "./_listing.ts";
import type { Direction, Layer, PolicyModel, RuleRef } from "./model.ts";
import { layerChainName, mapElements, ruleKey } from "./render.ts";
import { compare } from "./resources.ts";
import { sharedLayerMaps } from "./shared_layer_maps.ts";

export type { Count };

/** What one rule decided, summed over every pod and box. */
export interface RuleCounter extends Count {
  rule: RuleRef;
}

/**
 * What one rule decided for one pod, or for pods whose chains look up one map: then `namespace`
 * and `name` are the first pod's (the lowest id) and `sharedWith` names the others, and the
 * counter is the sum over them all (the kernel counts per element, not per pod).
 */
export interface PodRuleCounter extends RuleCounter {
  namespace: string;
  name: string;
  layer: Layer;
  /** The other pods counted here (`namespace/name`), when the map is shared. */
  sharedWith?: string[];
}

/** What a pod's layer denied by default (no rule matched). */
export interface DefaultDenyCounter extends Count {
  namespace: string;
  name: string;
  direction: Direction;
  layer: Layer;
}

/** The counters, attributed. */
export interface PolicyCounters {
  /** Every rule that decides a box in the model, zero or not, by policy, direction and index. */
  rules: RuleCounter[];
  /** The same, per pod (per group of pods whose chains look up one map). */
  perPod: PodRuleCounter[];
  /** Every layer of every pod. */
  defaultDeny: DefaultDenyCounter[];
  /** Dropped because the veth was not (yet) in `ready`. */
  notReady: Count;
  /** Elements in the listing that the model does not have (a stale listing or model). */
  unmatched: number;
}

/** Attributes the counters in `listing` (`nft -j -n list table inet tern`, parsed) to `model`. */
export function policyCounters(model: PolicyModel, listing: unknown): PolicyCounters {
  const rules = new Map<string, RuleCounter>();
  const perPod = new Map<string, PodRuleCounter>();
  /** map name → element key → [per-pod counter, rule counter] */
  const elements = new Map<string, Map<string, [PodRuleCounter, RuleCounter]>>();
  const defaultDeny = new Map<string, DefaultDenyCounter>();
  for (const pod of model.pods) {
    for (const direction of ["egress", "ingress"] as const) {
      for (const layer of pod[direction]) {
        const chain = layerChainName(pod.id, { direction, layer: layer.layer });
        defaultDeny.set(chain, {
          namespace: pod.namespace,
          name: pod.name,
          direction,
          layer: layer.layer,
          packets: 0,
          bytes: 0,
        });
      }
    }
  }
  // Elements: once per map, for the rule and for the pods whose chains look it up.
  for (const group of sharedLayerMaps(model).groups.values()) {
    const [leader, ...others] = group.pods;
    for (const box of group.layer.boxes) {
      const key = ruleKey(box.rule);
      let total = rules.get(key);
      if (total === undefined) {
        total = { rule: box.rule, packets: 0, bytes: 0 };
        rules.set(key, total);
      }
      const podKey = `${group.name} ${key}`;
      let mine = perPod.get(podKey);
      if (mine === undefined) {
        mine = {
          namespace: leader!.namespace,
          name: leader!.name,
          layer: group.layer.layer,
          rule: box.rule,
          packets: 0,
          bytes: 0,
        };
        if (others.length > 0) mine.sharedWith = others.map((p) => `${p.namespace}/${p.name}`);
        perPod.set(podKey, mine);
      }
      // An exact box is one element per address (`mapElements`): each counts for the rule.
      const { space, boxes } = mapElements(box);
      const mapName = `${group.name}_${space}`;
      let byKey = elements.get(mapName);
      if (byKey === undefined) {
        byKey = new Map();
        elements.set(mapName, byKey);
      }
      for (const one of boxes) byKey.set(numericKey(one), [mine, total]);
    }
  }

  const notReady: Count = { packets: 0, bytes: 0 };
  let unmatched = 0;
  const objects = (listing as { nftables?: unknown })?.nftables;
  for (const object of Array.isArray(objects) ? objects : []) {
    const map = (object as { map?: { name?: unknown; elem?: unknown } }).map;
    if (map !== undefined && typeof map.name === "string" && Array.isArray(map.elem)) {
      const byKey = elements.get(map.name);
      if (byKey === undefined) continue;
      for (const entry of map.elem) {
        const parsed = parseElement(entry);
        if (parsed === undefined) continue;
        const targets = byKey.get(parsed.key);
        if (targets === undefined) {
          unmatched++;
          continue;
        }
        for (const target of targets) add(target, parsed.count);
      }
      continue;
    }
    const rule = (object as { rule?: { chain?: unknown; expr?: unknown } }).rule;
    if (rule === undefined || typeof rule.chain !== "string" || !Array.isArray(rule.expr)) continue;
    const counter = rule.expr.map((e) => (e as { counter?: unknown }).counter).find((c) => c);
    const drops = rule.expr.some((e) => e !== null && typeof e === "object" && "drop" in e);
    if (counter === undefined || !drops) continue;
    const count = toCount(counter);
    if (rule.chain === "forward") add(notReady, count);
    else {
      const deny = defaultDeny.get(rule.chain);
      if (deny !== undefined) add(deny, count);
    }
  }
  const byRule = (a: RuleCounter, b: RuleCounter) =>
    compare(a.rule.kind, b.rule.kind) || compare(a.rule.namespace ?? "", b.rule.namespace ?? "") ||
    compare(a.rule.name, b.rule.name) || compare(a.rule.direction, b.rule.direction) ||
    a.rule.index - b.rule.index;
  return {
    rules: [...rules.values()].sort(byRule),
    perPod: [...perPod.values()],
    defaultDeny: [...defaultDeny.values()],
    notReady,
    unmatched,
  };
}

function add(into: Count, count: Count): void {
  into.packets += count.packets;
  into.bytes += count.bytes;
}

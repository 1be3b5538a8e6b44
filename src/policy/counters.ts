/**
 * Maps the kernel's counters back to policies and rules. The daemon lists the table with
 * `nft -j -n list table inet tern` and passes the parsed JSON with the model it programmed;
 * every map element's counter is attributed to the rule of the box it was rendered from, each
 * layer chain's final `counter drop` to that pod's default deny, and the `forward` chain's
 * counted drops to "not ready" (veths without programmed policy). Pure.
 * @module
 */
import { parseIp } from "../cidr.ts";
import type { Direction, Layer, PolicyModel, RuleRef } from "./model.ts";
import { layerChainName, ruleKey } from "./render.ts";
import { compare } from "./resources.ts";
import { formatAddressRange, formatRange, type Range } from "./ranges.ts";

/** Packets and bytes. */
export interface Count {
  packets: number;
  bytes: number;
}

/** What one rule decided, summed over every pod and box. */
export interface RuleCounter extends Count {
  rule: RuleRef;
}

/** What one rule decided for one pod. */
export interface PodRuleCounter extends RuleCounter {
  namespace: string;
  name: string;
  layer: Layer;
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
  /** The same, per pod. */
  perPod: PodRuleCounter[];
  /** Every layer of every pod. */
  defaultDeny: DefaultDenyCounter[];
  /** Dropped because the veth was not (yet) in `ready`. */
  notReady: Count;
  /** Elements in the listing that the model does not have (a stale listing or model). */
  unmatched: number;
}

// nft's names for the values it prints symbolically without `-n`.
const NAMES: Record<string, number> = {
  ip: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  sctp: 132,
  "echo-reply": 0,
  "destination-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "echo-request": 8,
  "router-advertisement": 9,
  "router-solicitation": 10,
  "time-exceeded": 11,
  "parameter-problem": 12,
  "timestamp-request": 13,
  "timestamp-reply": 14,
  "info-request": 15,
  "info-reply": 16,
  "address-mask-request": 17,
  "address-mask-reply": 18,
};

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
        for (const box of layer.boxes) {
          const key = ruleKey(box.rule);
          let total = rules.get(key);
          if (total === undefined) {
            total = { rule: box.rule, packets: 0, bytes: 0 };
            rules.set(key, total);
          }
          const podKey = `${pod.id} ${key}`;
          let mine = perPod.get(podKey);
          if (mine === undefined) {
            mine = {
              namespace: pod.namespace,
              name: pod.name,
              layer: layer.layer,
              rule: box.rule,
              packets: 0,
              bytes: 0,
            };
            perPod.set(podKey, mine);
          }
          const mapName = `${chain}_${box.space}`;
          let byKey = elements.get(mapName);
          if (byKey === undefined) {
            byKey = new Map();
            elements.set(mapName, byKey);
          }
          byKey.set(numericKey(box), [mine, total]);
        }
      }
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

function toCount(value: unknown): Count {
  const c = value as { packets?: unknown; bytes?: unknown };
  return {
    packets: typeof c.packets === "number" ? c.packets : 0,
    bytes: typeof c.bytes === "number" ? c.bytes : 0,
  };
}

/**
 * An element of a concatenated interval map as nft's JSON writes it, normalized to the key
 * {@linkcode numericKey}, and its counter.
 */
function parseElement(entry: unknown): { key: string; count: Count } | undefined {
  if (!Array.isArray(entry) || entry.length < 1) return undefined;
  let value = entry[0] as Record<string, unknown>;
  let count: Count = { packets: 0, bytes: 0 };
  if (value !== null && typeof value === "object" && "elem" in value) {
    const elem = value.elem as { val?: unknown; counter?: unknown };
    if (elem.counter !== undefined) count = toCount(elem.counter);
    value = elem.val as Record<string, unknown>;
  }
  const parts = (value as { concat?: unknown })?.concat;
  if (!Array.isArray(parts) || parts.length !== 3) return undefined;
  const addresses = addressRange(parts[0]);
  const first = numberRange(parts[1]);
  const second = numberRange(parts[2]);
  if (addresses === undefined || first === undefined || second === undefined) return undefined;
  return { key: numericKey({ addresses, first, second }), count };
}

function addressRange(part: unknown): Range | undefined {
  try {
    if (typeof part === "string") return [parseIp(part), parseIp(part)];
    const p = part as { prefix?: { addr?: unknown; len?: unknown }; range?: unknown };
    if (p?.prefix && typeof p.prefix.addr === "string" && typeof p.prefix.len === "number") {
      const first = parseIp(p.prefix.addr);
      return [first, first + 2 ** (32 - p.prefix.len) - 1];
    }
    if (
      Array.isArray(p?.range) && typeof p.range[0] === "string" && typeof p.range[1] === "string"
    ) {
      return [parseIp(p.range[0]), parseIp(p.range[1])];
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function numberRange(part: unknown): Range | undefined {
  const one = (v: unknown) =>
    typeof v === "number" ? v : typeof v === "string" ? NAMES[v] : undefined;
  const single = one(part);
  if (single !== undefined) return [single, single];
  const range = (part as { range?: unknown })?.range;
  if (!Array.isArray(range)) return undefined;
  const first = one(range[0]);
  const last = one(range[1]);
  return first === undefined || last === undefined ? undefined : [first, last];
}

/** An element key with every value numeric, whatever names nft printed. */
function numericKey(box: { addresses: Range; first: Range; second: Range }): string {
  const { addresses, first, second } = box;
  return `${formatAddressRange(addresses)} . ${formatRange(first)} . ${formatRange(second)}`;
}

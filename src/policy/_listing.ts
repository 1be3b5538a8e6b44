/**
 * Reading `nft -j list table` listings of tern's interval maps: an element of a concatenated
 * map as nft's JSON writes it (`{"elem": {"val": {"concat": [...]}, "counter": …}}`, prefixes,
 * ranges, names or numbers) becomes one numeric key that a model's box gives too, with its
 * counter. Shared by the counters and the table check. Private to `src/policy`. Pure.
 * @module
 */
import { parseIp } from "../cidr.ts";
import { formatAddressRange, formatRange, type Range } from "./ranges.ts";

/** Packets and bytes. */
export interface Count {
  packets: number;
  bytes: number;
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

/** A counter object of the listing (`{packets, bytes}`) as a {@linkcode Count}. */
export function toCount(value: unknown): Count {
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
export function parseElement(entry: unknown): { key: string; count: Count } | undefined {
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
export function numericKey(box: { addresses: Range; first: Range; second: Range }): string {
  const { addresses, first, second } = box;
  return `${formatAddressRange(addresses)} . ${formatRange(first)} . ${formatRange(second)}`;
}

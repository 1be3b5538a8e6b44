/**
 * Compares the kernel's `inet tern` table (`nft -j -n list table inet tern`, parsed) with the
 * table a model renders, so the daemon can tell when someone else deleted or changed it and put
 * it back. Compared: the table's existence; every map, and no others (the table has no sets);
 * the elements of `pod_egress`, `pod_ingress` and of every pod map with their verdicts; every
 * chain, and no others, with the forward chain's hook and policy and each rule's shape (the
 * interface group it compares, the sets and maps it reads, its log prefix and rate, its counter
 * and verdict). Counters and handles are not compared: traffic changes the first, every
 * transaction the second. The veths' ready group is an attribute of the links, checked by the
 * daemon (daemon/policy/veth_groups.ts). Pure.
 * @module
 */
import { numericKey, parseElement } from "./_listing.ts";
import type { PolicyModel } from "./model.ts";
import { POLICY_TABLE, policyTableObjects, type RenderOptions } from "./render.ts";

/** At most this many differences are described; the rest are counted. */
const MAX_REPORTED = 10;

/**
 * The differences between the listed table and the one `model` renders, one short line each
 * (at most {@linkcode MAX_REPORTED}, then a count of the rest); empty when they agree.
 * `listing` undefined means there is no table. `options.cache` as for rendering.
 */
export function checkPolicyTable(
  model: PolicyModel,
  listing: unknown,
  options: RenderOptions = {},
): string[] {
  if (listing === undefined) return [`table ${POLICY_TABLE} is missing`];
  const want = policyTableObjects(model, options);
  const have = readListing(listing);
  const out: string[] = [];

  for (const [name, rules] of want.chains) {
    const listed = have.chains.get(name);
    if (listed === undefined) {
      out.push(`chain ${name} is missing`);
      continue;
    }
    const expected = rules.map(textShape);
    const got = have.rules.get(name) ?? [];
    if (expected.join("\n") !== got.join("\n")) {
      out.push(
        `chain ${name} has ${got.length} rules [${got.join("; ")}], expected ${expected.length} [${
          expected.join("; ")
        }]`,
      );
    }
  }
  const forward = have.chains.get("forward");
  if (
    forward !== undefined &&
    (forward.type !== "filter" || forward.hook !== "forward" || forward.policy !== "accept" ||
      forward.prio !== 0)
  ) {
    out.push(
      `chain forward is type ${forward.type} hook ${forward.hook} priority ${forward.prio} policy ${forward.policy}, expected filter forward 0 accept`,
    );
  }
  for (const name of have.chains.keys()) {
    if (!want.chains.has(name)) out.push(`chain ${name} is not tern's`);
  }

  for (
    const [name, map] of [["pod_egress", want.podEgress], ["pod_ingress", want.podIngress]] as const
  ) {
    compareElements(out, `map ${name}`, have.maps.get(name), {
      want: map,
      parse: (e) =>
        Array.isArray(e) && typeof e[0] === "string" ? [e[0], verdictText(e[1])] : undefined,
    });
  }
  for (const [name, boxes] of want.maps) {
    compareElements(out, `map ${name}`, have.maps.get(name), {
      want: new Map(boxes.map(({ box, verdict }) => [numericKey(box), verdict])),
      parse: (e) => {
        const parsed = parseElement(e);
        return parsed === undefined || !Array.isArray(e)
          ? undefined
          : [parsed.key, verdictText(e[1])];
      },
    });
  }
  for (const name of have.sets.keys()) out.push(`set ${name} is not tern's`);
  for (const name of have.maps.keys()) {
    if (name !== "pod_egress" && name !== "pod_ingress" && !want.maps.has(name)) {
      out.push(`map ${name} is not tern's`);
    }
  }
  return out.length <= MAX_REPORTED
    ? out
    : [...out.slice(0, MAX_REPORTED), `and ${out.length - MAX_REPORTED} more differences`];
}

interface Listed {
  chains: Map<string, { type?: unknown; hook?: unknown; prio?: unknown; policy?: unknown }>;
  /** Chain → the shape of each rule, in order. */
  rules: Map<string, string[]>;
  /** Set or map name → its elements as listed. */
  sets: Map<string, unknown[]>;
  maps: Map<string, unknown[]>;
}

function readListing(listing: unknown): Listed {
  const out: Listed = { chains: new Map(), rules: new Map(), sets: new Map(), maps: new Map() };
  const objects = (listing as { nftables?: unknown })?.nftables;
  for (const object of Array.isArray(objects) ? objects : []) {
    if (object === null || typeof object !== "object") continue;
    const o = object as Record<string, Record<string, unknown> | undefined>;
    if (o.chain !== undefined && typeof o.chain.name === "string") {
      const { type, hook, prio, policy } = o.chain;
      out.chains.set(o.chain.name, { type, hook, prio, policy });
    } else if (o.rule !== undefined && typeof o.rule.chain === "string") {
      const list = out.rules.get(o.rule.chain) ?? [];
      list.push(listedShape(Array.isArray(o.rule.expr) ? o.rule.expr : []));
      out.rules.set(o.rule.chain, list);
    } else if (o.set !== undefined && typeof o.set.name === "string") {
      out.sets.set(o.set.name, Array.isArray(o.set.elem) ? o.set.elem : []);
    } else if (o.map !== undefined && typeof o.map.name === "string") {
      out.maps.set(o.map.name, Array.isArray(o.map.elem) ? o.map.elem : []);
    }
  }
  return out;
}

/** Compares one set or map's elements (key → verdict, "" for a set) and reports what differs. */
function compareElements(
  out: string[],
  what: string,
  listed: unknown[] | undefined,
  at: { want: ReadonlyMap<string, string>; parse: (e: unknown) => [string, string] | undefined },
): void {
  if (listed === undefined) {
    out.push(`${what} is missing`);
    return;
  }
  const have = new Map<string, string>();
  let unreadable = 0;
  for (const e of listed) {
    const parsed = at.parse(e);
    if (parsed === undefined) unreadable++;
    else have.set(parsed[0], parsed[1]);
  }
  const missing = [...at.want.keys()].filter((k) => !have.has(k));
  const extra = [...have.keys()].filter((k) => !at.want.has(k));
  const changed = [...at.want].filter(([k, v]) => have.has(k) && have.get(k) !== v);
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`${missing.length} missing (${sample(missing)})`);
  if (extra.length > 0) parts.push(`${extra.length} not tern's (${sample(extra)})`);
  if (changed.length > 0) {
    parts.push(
      `${changed.length} with another verdict (${
        sample(changed.map(([k, v]) => `${k}: ${have.get(k)} instead of ${v}`))
      })`,
    );
  }
  if (unreadable > 0) parts.push(`${unreadable} unreadable`);
  if (parts.length > 0) out.push(`${what}: elements ${parts.join(", ")}`);
}

function sample(list: string[]): string {
  return list.length <= 2 ? list.join(", ") : `${list.slice(0, 2).join(", ")}, …`;
}

/** `accept`, `return`, `jump p_…`, `goto d_…`, from a listed verdict object. */
function verdictText(value: unknown): string {
  if (value === null || typeof value !== "object") return String(value);
  const [kind, body] = Object.entries(value)[0] ?? ["?", undefined];
  const target = (body as { target?: unknown } | null)?.target;
  return typeof target === "string" ? `${kind} ${target}` : kind;
}

/**
 * The shape of a rendered rule: the interface group it compares, the sets and maps it reads,
 * limit, log prefix, counter and verdict, in order (other matches on fixed values are left out:
 * nft may drop implied ones).
 */
function textShape(rule: string): string {
  const prefix = /log prefix "([^"]*)"/.exec(rule)?.[1];
  const bare = rule.replace(/"[^"]*"/g, '""');
  const out: string[] = [];
  const pattern =
    /@(\w+)|\blimit rate (\d+)\/(\w+)|\b(log)\b|\b(counter)\b|\b(accept|drop|return)\b|\b(jump|goto) (\w+)|\bmeta ([io]ifgroup) (!=|==) (\d+)/g;
  for (const m of bare.matchAll(pattern)) {
    if (m[9] !== undefined) out.push(`${m[9]} ${m[10]} ${m[11]}`);
    else if (m[1] !== undefined) out.push(`@${m[1]}`);
    else if (m[2] !== undefined) out.push(`limit ${m[2]}/${m[3]}`);
    else if (m[4] !== undefined) out.push(`log ${prefix ?? ""}`);
    else if (m[5] !== undefined) out.push("counter");
    else if (m[6] !== undefined) out.push(m[6]);
    else if (m[7] !== undefined) out.push(`${m[7]} ${m[8]}`);
  }
  return out.join(" ");
}

/** The shape of a listed rule, as {@linkcode textShape} gives it for the rendered one. */
function listedShape(expr: unknown[]): string {
  const out: string[] = [];
  for (const statement of expr) {
    if (statement === null || typeof statement !== "object") continue;
    const [kind, body] = Object.entries(statement)[0] ?? ["", undefined];
    const b = (body ?? {}) as Record<string, unknown>;
    switch (kind) {
      case "match": {
        if (typeof b.right === "string" && b.right.startsWith("@")) out.push(b.right);
        const key = (b.left as { meta?: { key?: unknown } } | undefined)?.meta?.key;
        if ((key === "iifgroup" || key === "oifgroup") && typeof b.right === "number") {
          out.push(`${key} ${b.op} ${b.right}`);
        }
        break;
      }
      case "vmap":
        if (typeof b.data === "string") out.push(b.data);
        break;
      case "limit":
        out.push(`limit ${b.rate}/${b.per}`);
        break;
      case "log":
        out.push(`log ${typeof b.prefix === "string" ? b.prefix : ""}`);
        break;
      case "counter":
      case "accept":
      case "drop":
      case "return":
        out.push(kind);
        break;
      case "jump":
      case "goto":
        out.push(`${kind} ${b.target}`);
        break;
    }
  }
  return out.join(" ");
}

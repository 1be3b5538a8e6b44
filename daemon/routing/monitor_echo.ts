/**
 * Telling tern's own changes from everybody else's in `ip monitor` output, so that a batch the
 * daemon just applied does not trigger another pass. Before applying, the reconciler and the
 * host dataplane register each line's expected echo (`+route 254 10.244.2.0/24`,
 * `-rule 512 all 10.244.1.7`); an event whose key matches an expectation — and that carries
 * tern's protocol — is consumed silently, anything else triggers a pass. Expectations of lines
 * that failed are dropped at once, the others after `ttlMs`, since a change that alters nothing
 * (a `route replace` with the same attributes, a rule that exists) has no echo. Link events of
 * tern's own veths are ignored too: a pod's veth appearing is followed by its programming, which
 * installs what it needs, and one disappearing takes its host route with it, which nothing but
 * the pod's DEL or the sweep can settle. The parsers are pure.
 * @module
 */
import { VETH_PREFIX } from "../../src/names.ts";
import { ROUTE_TYPE_NAMES } from "../../src/routing/parse.ts";

const ROUTE_TYPES = new Set(ROUTE_TYPE_NAMES);
const TABLES: Record<string, number> = { main: 254, local: 255, default: 253 };

/** `10.244.1.7/32` → `10.244.1.7`, `0.0.0.0/0` → `default`, as `ip` prints them. */
function shown(cidr: string): string {
  if (cidr === "0.0.0.0/0") return "default";
  return cidr.endsWith("/32") ? cidr.slice(0, -3) : cidr;
}

/** The echo key of one of tern's `ip -batch` lines, or undefined for a line it does not know. */
export function echoKeyOfLine(line: string): string | undefined {
  const words = line.trim().split(/\s+/);
  const opt = (name: string) => {
    const at = words.indexOf(name);
    return at >= 0 ? words[at + 1] : undefined;
  };
  const [what, verb] = words;
  const sign = verb === "del" ? "-" : "+";
  if (what === "route" && (verb === "replace" || verb === "add" || verb === "del")) {
    let at = 2;
    if (ROUTE_TYPES.has(words[at] ?? "")) at++;
    const dst = words[at];
    if (dst === undefined) return undefined;
    return `${sign}route ${opt("table") ?? 254} ${shown(dst)}`;
  }
  if (what === "rule" && (verb === "add" || verb === "del")) {
    const priority = opt("priority");
    if (priority === undefined) return undefined;
    const from = opt("from");
    const to = opt("to");
    return `${sign}rule ${priority} ${from ? shown(from) : "all"} ${to ? shown(to) : "all"}`;
  }
  return undefined;
}

/**
 * The echo key of an `ip -N monitor route rule` event that carries `protocol`, or undefined
 * for an event that does not (another protocol, a link event, anything unreadable).
 */
export function echoKeyOfEvent(line: string, protocol: number): string | undefined {
  let words = line.replace(/^(\[[A-Z]+\]\s*)+/, "").trim().split(/\s+/); // "[ROUTE]" banners
  let sign = "+";
  if (words[0] === "Deleted") {
    sign = "-";
    words = words.slice(1);
  }
  const at = words.indexOf("proto");
  if (at < 0 || words[at + 1] !== String(protocol)) return undefined;
  const opt = (name: string) => {
    const i = words.indexOf(name);
    return i >= 0 ? words[i + 1] : undefined;
  };
  const head = words[0] ?? "";
  if (/^\d+:$/.test(head)) {
    const from = opt("from");
    if (from === undefined) return undefined;
    return `${sign}rule ${head.slice(0, -1)} ${from} ${opt("to") ?? "all"}`;
  }
  let i = 0;
  if (ROUTE_TYPES.has(words[i]!) || /^\d+$/.test(words[i]!)) i++;
  const dst = words[i];
  if (dst === undefined) return undefined;
  const table = opt("table") ?? "254";
  return `${sign}route ${TABLES[table] ?? table} ${dst}`;
}

/** Whether an event is about a link whose name carries tern's prefix (`12: tern0a1b…@if3: …`). */
export function isOwnLinkEvent(line: string): boolean {
  const match = /^(?:Deleted\s+)?\d+:\s+([^:@\s]+)[@:]/.exec(line.trim());
  return match !== null && match[1]!.startsWith(VETH_PREFIX);
}

/** Expected echoes of tern's own changes. */
export class EchoFilter {
  readonly #protocol: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Key → expiry times, one per expected event. */
  readonly #expected = new Map<string, number[]>();

  /** `options.ttlMs` (default 2000) bounds how long an expectation waits for its event. */
  constructor(protocol: number, options: { ttlMs?: number; now?: () => number } = {}) {
    this.#protocol = protocol;
    this.#ttlMs = options.ttlMs ?? 2_000;
    this.#now = options.now ?? Date.now;
  }

  /** Registers the echoes of `lines`, about to be applied (and drops expired ones). */
  expect(lines: readonly string[]): void {
    const now = this.#now();
    for (const [key, list] of this.#expected) {
      const live = list.filter((until) => until >= now);
      if (live.length === 0) this.#expected.delete(key);
      else if (live.length !== list.length) this.#expected.set(key, live);
    }
    const until = now + this.#ttlMs;
    for (const line of lines) {
      const key = echoKeyOfLine(line);
      if (key !== undefined) this.#expected.set(key, [...(this.#expected.get(key) ?? []), until]);
    }
  }

  /** Drops the expectations of `lines`, which failed. */
  forget(lines: readonly string[]): void {
    for (const line of lines) {
      const key = echoKeyOfLine(line);
      const list = key === undefined ? undefined : this.#expected.get(key);
      if (list === undefined) continue;
      list.shift();
      if (list.length === 0) this.#expected.delete(key!);
    }
  }

  /**
   * Whether `event` needs a pass: false for an expected echo (consumed) and for tern's own
   * veths' link events, true for anything else.
   */
  needsPass(event: string): boolean {
    if (isOwnLinkEvent(event)) return false;
    const key = echoKeyOfEvent(event, this.#protocol);
    if (key === undefined) return true;
    const now = this.#now();
    const list = (this.#expected.get(key) ?? []).filter((until) => until >= now);
    if (list.length === 0) {
      this.#expected.delete(key);
      return true;
    }
    list.shift();
    if (list.length === 0) this.#expected.delete(key);
    else this.#expected.set(key, list);
    return false;
  }

  /** How many echoes are expected (expired ones included until looked up). */
  get size(): number {
    let n = 0;
    for (const list of this.#expected.values()) n += list.length;
    return n;
  }
}

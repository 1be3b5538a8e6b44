/**
 * The benches' eye on a node's policy: when does a change reach the kernel? It follows nftables
 * commits in the node's namespace over netlink, as ternd does ({@linkcode NftGeneration}), and
 * after each commit lists one of tern's per-pod layers' address/port maps (`nft -j list map inet
 * tern p_…_exact`, then `p_…_l4`: a box of a few addresses is a hash element per address, the
 * others interval elements, src/policy/render.ts) and looks for the element it waits for. This replaced `nft monitor`, which in nftables 1.0.6 prints
 * these interval maps' elements with raw memory for their ends, keeps a transaction's last lines
 * in stdio's buffer when writing to a pipe, and dies on large transactions.
 *
 * The time given is that of the commit that holds the element, bounded from above: the
 * generation id is read before and after each listing; when no other commit came between, the
 * element was in the commit just seen, and the time is when the commit was seen (within a
 * millisecond of it); when one did, the listing's end is taken instead and the sample is counted
 * as bounded only. The pure part, {@linkcode mapAdmits}, reads the listing and is unit-tested.
 * @module
 */
import { NftGeneration } from "../src/nft_generation.ts";

/** When a waited-for element reached the kernel. */
export interface ProbeHit {
  /** `performance.now()` of the commit that holds it (an upper bound unless `exact`). */
  at: number;
  /** No other commit came while the map was listed: `at` is the commit's own time. */
  exact: boolean;
}

/** Runs `nft` with `args` in the probe's namespace; resolves its stdout. */
export type NftRun = (args: string[]) => Promise<string>;

/** Follows commits in one namespace and lists one map after each; {@linkcode close} it. */
export class NftMapProbe {
  readonly #generation: NftGeneration;
  readonly #run: NftRun;
  readonly #maps: readonly string[];

  /**
   * A probe of maps `maps` of `inet tern` in namespace `netns` (a name under /run/netns), listed
   * in turn (nftables 1.0.6 lists one map per command). `run` defaults to `ip netns exec <netns>
   * nft …`. Throws when the netlink sockets cannot be opened.
   */
  constructor(netns: string, maps: readonly string[], run: NftRun = nftIn(netns)) {
    this.#generation = new NftGeneration({ netns });
    this.#run = run;
    this.#maps = maps;
  }

  /**
   * The first commit after this call whose map admits TCP `port` from `ip`, or undefined after
   * `timeoutMs`. Call it after the write that should cause the change: a listing that started
   * before the write could not count it. One caller at a time.
   */
  async waitFor(ip: string, port: number, timeoutMs: number): Promise<ProbeHit | undefined> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (await this.#generation.commit(signal)) {
      const before = this.#generation.read();
      const at = performance.now();
      let admits = false;
      for (const map of this.#maps) {
        const listing = await this.#run(["-j", "list", "map", "inet", "tern", map]);
        admits = mapAdmits(listing, ip, port);
        if (admits) break;
      }
      if (!admits) continue;
      if (this.#generation.read() === before) return { at, exact: true };
      return { at: performance.now(), exact: false };
    }
    return undefined;
  }

  /** Closes the netlink sockets. */
  async close(): Promise<void> {
    await this.#generation.close();
  }
}

/**
 * The names of tern's ingress interval address/port maps (`s_…_in_np_l4` for a pod's last layer,
 * `p_…_in_np_l4` for an earlier one; each has a hash sibling, `…_in_np_exact`) in `nft -j -t
 * list maps` output (pure).
 */
export function ingressL4Maps(listing: string): string[] {
  const out: string[] = [];
  for (const item of (JSON.parse(listing) as NftJson).nftables ?? []) {
    const map = item.map;
    if (map?.table === "tern" && /^[ps]_\w+_in_np_l4$/.test(map.name ?? "")) out.push(map.name!);
  }
  return out.sort();
}

/**
 * Whether the `nft -j list map` output `listing` has an element that admits TCP `port` from
 * `ip`: its address part (an address, a prefix or a range) holds `ip`, its protocol is TCP, its
 * port part (a port or a range) holds `port`, and its verdict is not a `goto`/`jump` to a deny
 * chain (`d_…`). Pure.
 */
export function mapAdmits(listing: string, ip: string, port: number): boolean {
  const want = ipNumber(ip);
  for (const item of (JSON.parse(listing) as NftJson).nftables ?? []) {
    for (const pair of item.map?.elem ?? []) {
      const [key, verdict] = pair as [NftElemKey, Record<string, unknown>];
      const parts = key?.elem?.val?.concat ?? (key as { concat?: unknown[] })?.concat;
      if (!Array.isArray(parts) || parts.length !== 3) continue;
      const [address, protocol, service] = parts;
      if (protocol !== "tcp" && protocol !== 6) continue;
      if (!inAddress(address, want) || !inPorts(service, port)) continue;
      const target = (verdict?.goto ?? verdict?.jump) as { target?: string } | undefined;
      if (target?.target?.startsWith("d_")) continue;
      return true;
    }
  }
  return false;
}

interface NftJson {
  nftables?: { map?: { name?: string; table?: string; elem?: unknown[] } }[];
}

interface NftElemKey {
  elem?: { val?: { concat?: unknown[] } };
}

function inAddress(part: unknown, ip: number): boolean {
  if (typeof part === "string") return ipNumber(part) === ip;
  const p = part as { prefix?: { addr: string; len: number }; range?: [string, string] };
  if (p?.prefix !== undefined) {
    const len = p.prefix.len;
    const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
    return ((ipNumber(p.prefix.addr) & mask) >>> 0) === ((ip & mask) >>> 0);
  }
  if (p?.range !== undefined) {
    return ipNumber(p.range[0]) <= ip && ip <= ipNumber(p.range[1]);
  }
  return false;
}

function inPorts(part: unknown, port: number): boolean {
  if (typeof part === "number") return part === port;
  const range = (part as { range?: [number, number] })?.range;
  return range !== undefined && range[0] <= port && port <= range[1];
}

function ipNumber(text: string): number {
  const o = text.split(".").map(Number);
  if (o.length !== 4 || o.some((n) => !(n >= 0 && n <= 255))) return NaN;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

function nftIn(netns: string): NftRun {
  return async (args) => {
    const out = await new Deno.Command("ip", {
      args: ["netns", "exec", netns, "nft", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot run nft ${args.join(" ")} in ${netns}: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return new TextDecoder().decode(out.stdout);
  };
}

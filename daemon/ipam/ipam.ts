/**
 * IP address management on Deno KV, per DESIGN.md. The identity of an attachment is
 * (containerID, ifname). Keys: `["owner", containerID, ifname]` → {@linkcode Endpoint},
 * `["ip", addr]` → {@linkcode AttachmentId}, `["released", addr]` → release time (ms). Every
 * claim is one atomic commit that checks that both the address and the identity are unclaimed,
 * so no address is handed out twice, even by two daemons on one database or across crashes.
 *
 * An in-memory index (used addresses, release times, a next-fit cursor) is loaded once and kept
 * in step with this instance's own commits, so that picking a candidate never lists the
 * database; the atomic check stays the truth, and a lost race only costs another candidate.
 * @module
 */
import type { AllocateRequest, AttachmentId, Endpoint, PoolStatus } from "../../src/api.ts";
import { type Cidr, contains, formatIp, parseCidr, parseIp, usableRange } from "../../src/cidr.ts";
import type { AddressRecord } from "../../src/ipam/ipam_check.ts";
import { KvGroupCommit } from "./kv_group_commit.ts";

/** The KV key of an attachment's endpoint record. */
export function ownerKey(id: AttachmentId): Deno.KvKey {
  return ["owner", id.containerID, id.ifname];
}

/** The KV key that records which attachment holds an address. */
export function ipKey(ip: string): Deno.KvKey {
  return ["ip", ip];
}

/** The KV key that records when an address was last released (ms since the epoch). */
export function releasedKey(ip: string): Deno.KvKey {
  return ["released", ip];
}

/** No address is free in any of the node's pod CIDRs (or blocks, and no block could be claimed). */
export class IpamExhaustedError extends Error {
  /** How full each pool was. */
  readonly pools: readonly PoolStatus[];

  /** Builds the message from the pools' counts; `why` says why no block could be added. */
  constructor(pools: readonly PoolStatus[], why?: string) {
    const counts = pools.map((p) => `${p.cidr} has ${p.used} of ${p.capacity} in use`).join(", ");
    super(
      why === undefined
        ? `No free address in pod CIDRs: ${counts}`
        : `No free address in this node's blocks: ${counts || "none owned"}: ${why}`,
    );
    this.name = "IpamExhaustedError";
    this.pools = pools;
  }
}

/** The request contradicts what the attachment already holds (another network, another address). */
export class IpamConflictError extends Error {
  /** Wraps the message. */
  constructor(message: string) {
    super(message);
    this.name = "IpamConflictError";
  }
}

/** No endpoint exists for the attachment. */
export class IpamNotFoundError extends Error {
  /** Names the attachment. */
  constructor(id: AttachmentId) {
    super(`No endpoint for attachment: containerID ${id.containerID}, ifname ${id.ifname}`);
    this.name = "IpamNotFoundError";
  }
}

/** Options of {@linkcode Ipam.open}. */
export interface IpamOptions {
  /** The node's pod CIDRs (canonical `a.b.c.d/len`). */
  podCIDRs: readonly string[];
  /** How long a released address rests before reuse, unless nothing else is free. Default 30 000. */
  releaseCooldownMs?: number;
  /** The clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Lost races tolerated per call before giving up. Default 64. */
  maxAttempts?: number;
  /**
   * `ipam.mode: blocks`: the pools are the node's blocks, added and retired as they are claimed
   * and released ({@linkcode Ipam.addPool}, {@linkcode Ipam.retirePool}); `podCIDRs` may be
   * empty, and every address of a block is handed out (pods get /32 routes). Default false.
   */
  blocks?: boolean;
  /**
   * Blocks mode: called when no address is free, to add a block; `allocate()` then tries again
   * once. Its error becomes the {@linkcode IpamExhaustedError}'s reason.
   */
  onExhausted?: () => Promise<void>;
  /** Called after each address handed out or freed (the warm pool looks again). */
  onChange?: () => void;
  /**
   * Blocks mode: addresses that are not in the pools yet but can be had by a claim (0 once the
   * cluster's pools ran out), so STATUS does not call an idle node without blocks exhausted.
   */
  headroom?: () => number;
}

/** Exhaustion re-reads the index from KV at most this often. */
const RELOAD_INTERVAL_MS = 1_000;
/** Lost races in one `allocate()` after which the index is read again from KV. */
const RELOAD_AFTER_LOST_RACES = 8;

interface Pool {
  cidr: Cidr;
  text: string;
  first: number;
  last: number;
  /** Position of `first` in the concatenation of all pools. */
  offset: number;
}

/** Fields the host side fills in when it programs an endpoint. */
export interface ProgramFields {
  /** The address the caller believes the attachment holds; refused when it does not. */
  ip: string;
  network: string;
  netns: string;
  hostVeth: string;
  podMac: string;
}

/**
 * Options of {@linkcode Ipam.allocate} for ADD's one request: the record is committed already
 * programmed, and the kernel work runs beside its commit.
 */
export interface ClaimWork<T> {
  /** The host side, recorded with state `programmed` in the claim's commit. */
  programmed: { hostVeth: string; podMac: string };
  /**
   * The kernel work for the endpoint about to be claimed, run while the claim commits; its value
   * is returned with the claim. When it fails, what it did is undone and a committed claim is
   * released again.
   */
  during: (endpoint: Endpoint) => Promise<T>;
  /** Undoes `during` (after a lost race, a failed commit or a failure of its own). */
  undo: (endpoint: Endpoint) => Promise<void>;
}

/** The node's address pools in Deno KV. Create with {@linkcode Ipam.open}. */
export class Ipam {
  readonly #kv: Deno.Kv;
  /** Claims, releases and programmed marks: a burst's commits share one (kv_group_commit.ts). */
  readonly #commits: KvGroupCommit;
  #pools: Pool[] = [];
  #total = 0;
  readonly #blocks: boolean;
  readonly #onExhausted: (() => Promise<void>) | undefined;
  readonly #onChange: () => void;
  readonly #headroom: () => number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  readonly #maxAttempts: number;
  /** Addresses held in KV, as far as this instance knows (all of them, in pools or not). */
  #used = new Set<number>();
  /** Addresses some call of this instance is committing right now. */
  readonly #pending = new Set<number>();
  /** Release time of addresses that are free again. */
  #released = new Map<number, number>();
  /** Next-fit position in the concatenated pools. */
  #cursor = 0;
  /** When the index was last read from KV. */
  #reloadedAt = -Infinity;
  /**
   * While some reload lists KV: this instance's claims and releases since, in order (a release
   * with its time), replayed onto the listing, which may have read each key before or after it.
   */
  #changesDuringReload: { addr: number; freedAt?: number }[] | undefined;
  #reloads = 0;

  private constructor(kv: Deno.Kv, options: IpamOptions) {
    this.#kv = kv;
    this.#commits = new KvGroupCommit(kv);
    this.#cooldownMs = options.releaseCooldownMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#maxAttempts = options.maxAttempts ?? 64;
    this.#blocks = options.blocks ?? false;
    this.#onExhausted = options.onExhausted;
    this.#onChange = options.onChange ?? (() => {});
    this.#headroom = options.headroom ?? (() => 0);
    this.#setPools(options.podCIDRs);
  }

  #setPools(texts: readonly string[]): void {
    let offset = 0;
    this.#pools = texts.map((text) => {
      const cidr = parseCidr(text);
      const { first, last } = this.#blocks
        ? { first: cidr.network, last: cidr.network + 2 ** (32 - cidr.prefix) - 1 }
        : usableRange(cidr);
      const pool = { cidr, text, first, last, offset };
      offset += last - first + 1;
      return pool;
    });
    this.#total = offset;
    this.#cursor = this.#total === 0 ? 0 : this.#cursor % this.#total;
  }

  /** The pools handed out from now (canonical CIDRs). */
  get pools(): string[] {
    return this.#pools.map((p) => p.text);
  }

  /**
   * KV commits of claims, releases and programmed marks so far, and the operations they carried:
   * a burst's claims share commits ({@linkcode KvGroupCommit}).
   */
  commitStats(): { commits: number; operations: number } {
    return this.#commits.stats();
  }

  /** Blocks mode: hands out the addresses of `cidr` from now on (no-op when it already does). */
  addPool(cidr: string): void {
    if (this.#pools.some((p) => p.text === cidr)) return;
    this.#setPools([...this.#pools.map((p) => p.text), cidr]);
  }

  /**
   * Blocks mode: stops handing out the addresses of `cidr`, unless one of them is held or being
   * claimed (then false, and it stays). With `force`, it stops even then: the addresses held
   * stay held, and no new one is handed out (another node owns the block).
   */
  retirePool(cidr: string, options: { force?: boolean } = {}): boolean {
    const pool = this.#pools.find((p) => p.text === cidr);
    if (pool === undefined) return true;
    if (!options.force && this.#inUse(pool.first, pool.last) > 0) return false;
    this.#setPools(this.#pools.filter((p) => p !== pool).map((p) => p.text));
    return true;
  }

  /** Addresses held or being claimed in each CIDR (whether a pool or not), from the index. */
  usage(cidrs: readonly string[]): Map<string, number> {
    return new Map(cidrs.map((text) => {
      const cidr = parseCidr(text);
      return [text, this.#inUse(cidr.network, cidr.network + 2 ** (32 - cidr.prefix) - 1)];
    }));
  }

  #inUse(first: number, last: number): number {
    let n = 0;
    for (const addr of this.#used) if (addr >= first && addr <= last) n++;
    for (const addr of this.#pending) if (addr >= first && addr <= last) n++;
    return n;
  }

  /** Opens the pools on `kv` and loads the in-memory index from it. */
  static async open(kv: Deno.Kv, options: IpamOptions): Promise<Ipam> {
    if (options.podCIDRs.length === 0 && !options.blocks) {
      throw new TypeError("Cannot open IPAM: no pod CIDRs");
    }
    const ipam = new Ipam(kv, options);
    await ipam.reload();
    return ipam;
  }

  /** Re-reads the index from KV; needed only when another writer may have changed it. */
  async reload(): Promise<void> {
    const changes = this.#changesDuringReload ??= [];
    this.#reloads++;
    try {
      const used = new Set<number>();
      for await (const entry of this.#kv.list<AttachmentId>({ prefix: ["ip"] })) {
        used.add(parseIp(String(entry.key[1])));
      }
      const released = new Map<number, number>();
      for await (const entry of this.#kv.list<number>({ prefix: ["released"] })) {
        released.set(parseIp(String(entry.key[1])), entry.value);
      }
      // A claim that committed while the listing ran may be missing from it: without this, the
      // address would be picked again, programmed over its holder's route, and undone when the
      // second claim lost (a burst's shared commit lands many claims at once).
      for (const change of changes) {
        if (change.freedAt === undefined) {
          used.add(change.addr);
          released.delete(change.addr);
        } else {
          used.delete(change.addr);
          released.set(change.addr, change.freedAt);
        }
      }
      this.#used = used;
      this.#released = released;
      this.#reloadedAt = this.#now();
    } finally {
      if (--this.#reloads === 0) this.#changesDuringReload = undefined;
    }
  }

  #markUsed(addr: number): void {
    this.#used.add(addr);
    this.#released.delete(addr);
    this.#changesDuringReload?.push({ addr });
  }

  #markFree(addr: number, at: number): void {
    this.#used.delete(addr);
    this.#released.set(addr, at);
    this.#changesDuringReload?.push({ addr, freedAt: at });
  }

  /**
   * Claims an address for the attachment, or returns the one it already holds
   * (`created: false`, and `work` is not run). Throws {@linkcode IpamExhaustedError} when no
   * address is free and {@linkcode IpamConflictError} when the attachment is held for another
   * network. With `work`, the claim's record is programmed and `work.during` runs beside the
   * commit; the answer waits for both (see {@linkcode ClaimWork}).
   */
  async allocate<T = undefined>(
    req: AllocateRequest,
    work?: ClaimWork<T>,
  ): Promise<{ endpoint: Endpoint; created: boolean; done?: T }> {
    const id = { containerID: req.containerID, ifname: req.ifname };
    const existing = await this.#kv.get<Endpoint>(ownerKey(id));
    if (existing.value) return { endpoint: this.#sameNetwork(existing.value, req), created: false };
    const tried = new Set<number>();
    let reloaded = false;
    let grown = false;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const now = this.#now();
      let addr = this.#pick(now, tried);
      if (addr === undefined && !reloaded && now - this.#reloadedAt >= RELOAD_INTERVAL_MS) {
        // The index may be stale if another writer released addresses: look once more, but
        // not on every call of a retry storm against a full pool.
        reloaded = true;
        await this.reload();
        addr = this.#pick(now, tried);
      }
      if (addr === undefined && this.#onExhausted !== undefined && !grown) {
        // Blocks mode: the warm pool is empty; wait for one claim (shared by a burst).
        grown = true;
        try {
          await this.#onExhausted();
        } catch (err) {
          throw new IpamExhaustedError(
            this.stats(),
            err instanceof Error ? err.message : String(err),
          );
        }
        addr = this.#pick(this.#now(), tried);
      }
      if (addr === undefined) throw new IpamExhaustedError(this.stats());
      const ip = formatIp(addr);
      const endpoint = this.#newEndpoint(req, ip, now);
      if (work !== undefined) {
        Object.assign(endpoint, work.programmed, { state: "programmed" });
      }
      this.#pending.add(addr);
      try {
        const committing = this.#commits.commit({
          checks: [
            { key: ownerKey(id), versionstamp: null },
            { key: ipKey(ip), versionstamp: null },
          ],
          mutations: [
            { type: "set", key: ownerKey(id), value: endpoint },
            { type: "set", key: ipKey(ip), value: id },
            { type: "delete", key: releasedKey(ip) },
          ],
        });
        const { result, done } = work === undefined
          ? { result: await committing, done: undefined }
          : await this.#commitBeside(committing, work, endpoint);
        if (result.ok) {
          this.#markUsed(addr);
          this.#onChange();
          if (done !== undefined && "error" in done) {
            // The claim goes with the work that failed: nothing of the request is left.
            await this.release(id).catch(() => {});
            throw done.error;
          }
          return { endpoint, created: true, ...(done !== undefined ? { done: done.value } : {}) };
        }
        const [owner, holder] = await this.#kv.getMany<[Endpoint, AttachmentId]>([
          ownerKey(id),
          ipKey(ip),
        ]);
        if (owner.value) return { endpoint: this.#sameNetwork(owner.value, req), created: false };
        if (holder.value) this.#markUsed(addr);
        tried.add(addr);
        // Several lost races in one call mean the index is stale (another writer has been
        // claiming): read it again rather than discovering the other's claims one at a time.
        if (tried.size % RELOAD_AFTER_LOST_RACES === 0) await this.reload();
      } finally {
        this.#pending.delete(addr);
      }
    }
    throw new Error(
      `Cannot allocate an address for containerID ${id.containerID}, ifname ${id.ifname}: lost ${this.#maxAttempts} races for candidates`,
    );
  }

  /**
   * Waits for the claim's commit and `work.during` together; undoes the work when it failed or
   * the claim was not committed. A commit that throws is thrown (after the undo).
   */
  async #commitBeside<T>(
    committing: Promise<Deno.KvCommitResult | Deno.KvCommitError>,
    work: ClaimWork<T>,
    endpoint: Endpoint,
  ): Promise<{
    result: Deno.KvCommitResult | Deno.KvCommitError;
    done: { value: T } | { error: unknown };
  }> {
    const [commit, during] = await Promise.allSettled([committing, work.during(endpoint)]);
    const done = during.status === "fulfilled"
      ? { value: during.value }
      : { error: during.reason as unknown };
    const committed = commit.status === "fulfilled" && commit.value.ok;
    if (!committed || "error" in done) {
      try {
        await work.undo(endpoint);
      } catch (err) {
        // A failed undo leaves kernel state without a record: the reconciler removes it.
        if (!("error" in done)) throw err;
      }
    }
    if (commit.status === "rejected") throw commit.reason;
    if (!commit.value.ok && "error" in done) throw done.error;
    return { result: commit.value, done };
  }

  /** The endpoint of an attachment, or undefined. */
  async get(id: AttachmentId): Promise<Endpoint | undefined> {
    return (await this.#kv.get<Endpoint>(ownerKey(id))).value ?? undefined;
  }

  /** Every endpoint in KV, ordered by containerID then ifname. */
  async list(): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for await (const entry of this.#kv.list<Endpoint>({ prefix: ["owner"] })) out.push(entry.value);
    return out;
  }

  /**
   * Frees the attachment's address in one atomic commit (both keys deleted, release time set)
   * and returns the endpoint it held, or undefined when there was none. With `options.network`,
   * an attachment of another network is left alone (undefined). Idempotent.
   */
  async release(
    id: AttachmentId,
    options: { network?: string } = {},
  ): Promise<Endpoint | undefined> {
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const owner = await this.#kv.get<Endpoint>(ownerKey(id));
      if (!owner.value) return undefined;
      if (options.network !== undefined && owner.value.network !== options.network) {
        return undefined;
      }
      const ip = owner.value.ip;
      const holder = await this.#kv.get<AttachmentId>(ipKey(ip));
      const ours = holder.value?.containerID === id.containerID &&
        holder.value.ifname === id.ifname;
      const now = this.#now();
      const mutations: Deno.KvMutation[] = [{ type: "delete", key: ownerKey(id) }];
      // An address record naming someone else would be corruption; never free it on their behalf.
      if (ours) {
        mutations.push({ type: "delete", key: ipKey(ip) }, {
          type: "set",
          key: releasedKey(ip),
          value: now,
        });
      }
      const result = await this.#commits.commit({ checks: [owner, holder], mutations });
      if (result.ok) {
        if (ours) {
          const addr = parseIp(ip);
          this.#markFree(addr, now);
          this.#onChange();
        }
        return owner.value;
      }
    }
    throw new Error(
      `Cannot release containerID ${id.containerID}, ifname ${id.ifname}: lost ${this.#maxAttempts} races`,
    );
  }

  /**
   * Both kinds of record as KV holds them, read afresh (not from the index): the endpoints
   * (`["owner", …]`) and the address records (`["ip", addr]`). For `tern ipam check`.
   */
  async records(): Promise<{ owners: Endpoint[]; addresses: AddressRecord[] }> {
    const addresses: AddressRecord[] = [];
    for await (const entry of this.#kv.list<AttachmentId>({ prefix: ["ip"] })) {
      addresses.push({ ip: String(entry.key[1]), holder: entry.value });
    }
    return { owners: await this.list(), addresses };
  }

  /**
   * Writes back the address record of an attachment that holds `ip` but has none, in one commit
   * that checks the attachment is unchanged and the address unclaimed; false when either moved.
   */
  async restoreAddressRecord(id: AttachmentId, ip: string): Promise<boolean> {
    const owner = await this.#kv.get<Endpoint>(ownerKey(id));
    if (owner.value?.ip !== ip) return false;
    const result = await this.#kv.atomic()
      .check(owner)
      .check({ key: ipKey(ip), versionstamp: null })
      .set(ipKey(ip), { containerID: id.containerID, ifname: id.ifname })
      .delete(releasedKey(ip))
      .commit();
    if (result.ok) this.#markUsed(parseIp(ip));
    return result.ok;
  }

  /**
   * Deletes the endpoint of an attachment that claims `ip` while the address record names
   * another attachment (two owners of one address): only its own record goes, the address stays
   * held. False when the records moved meanwhile.
   */
  async releaseDuplicate(id: AttachmentId, ip: string): Promise<boolean> {
    const [owner, holder] = await this.#kv.getMany<[Endpoint, AttachmentId]>([
      ownerKey(id),
      ipKey(ip),
    ]);
    if (owner.value?.ip !== ip || holder.value === null) return false;
    if (holder.value.containerID === id.containerID && holder.value.ifname === id.ifname) {
      return false;
    }
    const result = await this.#kv.atomic().check(owner).check(holder).delete(ownerKey(id)).commit();
    return result.ok;
  }

  /**
   * Frees an address whose record names `holder` while `holder` has no endpoint holding it, in
   * one commit that checks both are unchanged; false when either moved.
   */
  async dropAddressRecord(ip: string, holder: AttachmentId): Promise<boolean> {
    const [record, owner] = await this.#kv.getMany<[AttachmentId, Endpoint]>([
      ipKey(ip),
      ownerKey(holder),
    ]);
    if (
      record.value === null || record.value.containerID !== holder.containerID ||
      record.value.ifname !== holder.ifname || owner.value?.ip === ip
    ) {
      return false;
    }
    const now = this.#now();
    const result = await this.#kv.atomic()
      .check(record)
      .check(owner)
      .delete(ipKey(ip))
      .set(releasedKey(ip), now)
      .commit();
    if (result.ok) {
      const addr = parseIp(ip);
      this.#markFree(addr, now);
      this.#onChange();
    }
    return result.ok;
  }

  /**
   * Records that the host side is programmed: host veth, pod MAC, state `programmed`, guarded
   * by the record's versionstamp. Throws {@linkcode IpamNotFoundError} for an unknown attachment
   * and {@linkcode IpamConflictError} when it holds another address or belongs to another network.
   */
  async markProgrammed(id: AttachmentId, fields: ProgramFields): Promise<Endpoint> {
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const owner = await this.#kv.get<Endpoint>(ownerKey(id));
      if (!owner.value) throw new IpamNotFoundError(id);
      this.checkOwns(owner.value, fields);
      const updated: Endpoint = {
        ...owner.value,
        netns: fields.netns,
        hostVeth: fields.hostVeth,
        podMac: fields.podMac,
        state: "programmed",
        updatedAt: this.#now(),
      };
      const result = await this.#commits.commit({
        checks: [owner],
        mutations: [{ type: "set", key: ownerKey(id), value: updated }],
      });
      if (result.ok) return updated;
    }
    throw new Error(
      `Cannot update containerID ${id.containerID}, ifname ${id.ifname}: lost ${this.#maxAttempts} races`,
    );
  }

  /** Throws {@linkcode IpamConflictError} unless `endpoint` holds `want.ip` on `want.network`. */
  checkOwns(endpoint: Endpoint, want: { ip: string; network: string }): void {
    if (endpoint.network !== want.network) {
      throw new IpamConflictError(
        `Attachment belongs to another network: containerID ${endpoint.containerID}, ifname ${endpoint.ifname} is on "${endpoint.network}", not "${want.network}"`,
      );
    }
    if (endpoint.ip !== want.ip) {
      throw new IpamConflictError(
        `Attachment does not own ${want.ip}: containerID ${endpoint.containerID}, ifname ${endpoint.ifname} holds ${endpoint.ip}`,
      );
    }
  }

  /** Capacity, used and free addresses of each pool, from the index. */
  stats(): PoolStatus[] {
    return this.#pools.map((pool) => {
      let used = 0;
      for (const addr of this.#used) if (addr >= pool.first && addr <= pool.last) used++;
      const capacity = pool.last - pool.first + 1;
      return { cidr: pool.text, capacity, used, free: capacity - used };
    });
  }

  /** Addresses a claim could add (blocks mode); 0 in node-cidr mode. */
  headroom(): number {
    return this.#headroom();
  }

  /** How many addresses are held, in the pools or not, from the index. */
  get usedCount(): number {
    return this.#used.size;
  }

  /** Live allocations whose address is in none of the configured pod CIDRs. */
  async outsidePools(): Promise<Endpoint[]> {
    const all = await this.list();
    return all.filter((ep) => {
      const addr = parseIp(ep.ip);
      return !this.#pools.some((pool) => contains(pool.cidr, addr));
    });
  }

  #sameNetwork(endpoint: Endpoint, req: AllocateRequest): Endpoint {
    if (endpoint.network !== req.network) {
      throw new IpamConflictError(
        `Attachment belongs to another network: containerID ${req.containerID}, ifname ${req.ifname} is on "${endpoint.network}", not "${req.network}"`,
      );
    }
    return endpoint;
  }

  #newEndpoint(req: AllocateRequest, ip: string, now: number): Endpoint {
    const addr = parseIp(ip);
    const pool = this.#pools.find((p) => addr >= p.first && addr <= p.last)!;
    const endpoint: Endpoint = {
      containerID: req.containerID,
      ifname: req.ifname,
      network: req.network,
      netns: req.netns,
      ip,
      podCIDR: pool.text,
      hostVeth: "",
      podMac: "",
      state: "allocated",
      createdAt: now,
      updatedAt: now,
    };
    if (req.podNamespace !== undefined) endpoint.podNamespace = req.podNamespace;
    if (req.podName !== undefined) endpoint.podName = req.podName;
    return endpoint;
  }

  #addressAt(position: number): number {
    for (const pool of this.#pools) {
      const size = pool.last - pool.first + 1;
      if (position < pool.offset + size) return pool.first + (position - pool.offset);
    }
    throw new RangeError(`Pool position out of range: ${position}`);
  }

  /**
   * Next fit from the cursor: the first address neither held, being claimed, tried nor cooling
   * down; failing that, the free address released longest ago; failing that, undefined.
   */
  #pick(now: number, tried: ReadonlySet<number>): number | undefined {
    let oldest: number | undefined;
    let oldestAt = Infinity;
    for (let i = 0; i < this.#total; i++) {
      const position = (this.#cursor + i) % this.#total;
      const addr = this.#addressAt(position);
      if (this.#used.has(addr) || this.#pending.has(addr) || tried.has(addr)) continue;
      const releasedAt = this.#released.get(addr);
      if (releasedAt !== undefined && now - releasedAt < this.#cooldownMs) {
        if (releasedAt < oldestAt) {
          oldest = addr;
          oldestAt = releasedAt;
        }
        continue;
      }
      this.#cursor = (position + 1) % this.#total;
      return addr;
    }
    return oldest;
  }
}

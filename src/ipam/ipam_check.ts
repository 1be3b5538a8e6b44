/**
 * `tern ipam check`, the pure part: from the facts of one node — its allocations in KV (both
 * kinds of record), its kernel (tern's veths and host routes), and, when a cluster source is
 * configured, its pods and the cluster's IPAMBlocks — the problems, each with the repair that is
 * safe for it or the reason there is none. Nothing here reads the kernel, KV or the API: the
 * daemon gathers the facts (`daemon/ipam/ipam_facts.ts`) and applies the repairs
 * (`daemon/ipam/ipam_repair.ts`), and a test or an audit can run the same judgement on facts of
 * its own.
 *
 * The one rule of repair: never free an address that something on the node still uses (a tern
 * veth whose name the allocation gives, or a tern route to the address). Every repair below
 * keeps that rule; what would need a judgement about a live pod is reported, not repaired.
 * @module
 */
import type { AttachmentId, Endpoint } from "../api.ts";
import { contains, parseCidr, parseIp } from "../cidr.ts";

/** An `["ip", addr]` record: which attachment holds the address. */
export interface AddressRecord {
  ip: string;
  holder: AttachmentId;
}

/** An `["owner", containerID, ifname]` record, with the name of its host veth. */
export interface OwnerFact {
  endpoint: Endpoint;
  /** The veth recorded when programmed, else the one its identity names. */
  veth: string;
}

/** One of tern's host routes: `ip/32 dev veth proto <tern's>` in the main table. */
export interface HostRouteFact {
  ip: string;
  dev: string;
}

/** An IPAMBlock of the cluster (blocks mode). */
export interface BlockFact {
  cidr: string;
  node: string;
  /** When it was created, ms since the epoch (0: unknown). */
  createdAt: number;
}

/** What the check judges: one node's state at one moment. */
export interface IpamFacts {
  node: string;
  mode: "node-cidr" | "blocks";
  /** When the facts were gathered, ms since the epoch. */
  now: number;
  /**
   * Allocations and blocks younger than this are not judged: an ADD in flight has its address
   * before its veth, and a block is claimed before the allocator uses it.
   */
  graceMs: number;
  /** The CIDRs the allocator hands out from: the pod CIDRs, or the node's blocks. */
  pools: string[];
  owners: OwnerFact[];
  addresses: AddressRecord[];
  /** Names of the links that carry tern's prefix. */
  veths: string[];
  /**
   * When the daemon first listed each veth (ms since the epoch; `VethSightings`). A veth no
   * allocation names that was first listed less than `graceMs` ago is not judged: ADD makes its
   * veth pair just before it claims the address. A veth absent here is judged.
   */
  vethFirstSeen?: Record<string, number>;
  routes: HostRouteFact[];
  /**
   * The pods the cluster source has on this node (namespace/name); absent without a cluster
   * source or before its first list, and then no allocation is judged by its pod.
   */
  pods?: string[];
  /** Blocks mode: every IPAMBlock of the cluster; absent before the first list. */
  blocks?: BlockFact[];
}

/** What a problem is. */
export type IpamProblemKind =
  | "leaked"
  | "address_record_missing"
  | "two_owners"
  | "orphan_address_record"
  | "unallocated_route"
  | "orphan_veth"
  | "pod_gone"
  | "outside_pools"
  | "block_not_in_cluster"
  | "block_of_other_node"
  | "block_not_used";

/** The repair the checker judged safe; `none` when no repair is. */
export type IpamRepair =
  | "release"
  | "restore_address_record"
  | "release_duplicate"
  | "drop_address_record"
  | "delete_veth"
  | "none";

/** One problem. */
export interface IpamProblem {
  kind: IpamProblemKind;
  /** The address concerned, when there is one. */
  ip?: string;
  /** The attachment concerned, when there is one. */
  containerID?: string;
  ifname?: string;
  veth?: string;
  /** `namespace/name`, when the allocation names its pod. */
  pod?: string;
  block?: string;
  /** What is wrong, for people. */
  message: string;
  repair: IpamRepair;
  /** Why the repair is safe, or, for `none`, what to do instead. */
  advice: string;
}

/** The report: what was looked at, and the problems, most serious first. */
export interface IpamCheckReport {
  node: string;
  mode: "node-cidr" | "blocks";
  checkedAt: number;
  counts: {
    allocations: number;
    addressRecords: number;
    veths: number;
    routes: number;
    /** Allocations, and veths no allocation names, younger than the grace period: not judged. */
    young: number;
    /** Pods of this node in the cluster source; absent without one. */
    pods?: number;
    /** IPAMBlocks of this node; absent outside blocks mode. */
    blocks?: number;
  };
  problems: IpamProblem[];
}

/** What one repair did. */
export interface IpamRepairOutcome {
  problem: IpamProblem;
  /** `repaired`; `skipped` when the records moved meanwhile (nothing done); `failed`. */
  result: "repaired" | "skipped" | "failed";
  error?: string;
}

/** `POST /v1/ipam/repair`: the check that was acted on, what each repair did, and a check after. */
export interface IpamRepairResponse {
  before: IpamCheckReport;
  repairs: IpamRepairOutcome[];
  after: IpamCheckReport;
}

const ORDER: readonly IpamProblemKind[] = [
  "two_owners",
  "address_record_missing",
  "unallocated_route",
  "block_of_other_node",
  "block_not_in_cluster",
  "outside_pools",
  "leaked",
  "orphan_address_record",
  "orphan_veth",
  "pod_gone",
  "block_not_used",
];

const idText = (id: AttachmentId) => `containerID ${id.containerID}, ifname ${id.ifname}`;
const sameId = (a: AttachmentId, b: AttachmentId) =>
  a.containerID === b.containerID && a.ifname === b.ifname;

function podOf(ep: Endpoint): string | undefined {
  return ep.podName === undefined ? undefined : `${ep.podNamespace ?? "default"}/${ep.podName}`;
}

function about(fact: OwnerFact): Partial<IpamProblem> {
  const ep = fact.endpoint;
  const out: Partial<IpamProblem> = {
    ip: ep.ip,
    containerID: ep.containerID,
    ifname: ep.ifname,
    veth: fact.veth,
  };
  const pod = podOf(ep);
  if (pod !== undefined) out.pod = pod;
  return out;
}

function inAny(ip: string, cidrs: readonly string[]): boolean {
  const addr = parseIp(ip);
  return cidrs.some((c) => contains(parseCidr(c), addr));
}

/** Judges `facts` (pure). */
export function checkIpam(facts: IpamFacts): IpamCheckReport {
  const problems: IpamProblem[] = [];
  const add = (p: IpamProblem) => problems.push(p);
  const veths = new Set(facts.veths);
  const routeTo = new Map(facts.routes.map((r) => [r.ip, r.dev]));
  const holderOf = new Map(facts.addresses.map((a) => [a.ip, a.holder]));
  const ownersOf = new Map<string, OwnerFact[]>();
  for (const o of facts.owners) {
    ownersOf.set(o.endpoint.ip, [...(ownersOf.get(o.endpoint.ip) ?? []), o]);
  }
  const young = (o: OwnerFact) => facts.now - o.endpoint.updatedAt < facts.graceMs;
  /** Whether the node still uses what this allocation names. */
  const inUse = (o: OwnerFact) => veths.has(o.veth) || routeTo.get(o.endpoint.ip) === o.veth;
  const pods = facts.pods === undefined ? undefined : new Set(facts.pods);
  let youngCount = 0;

  for (const [ip, owners] of ownersOf) {
    const holder = holderOf.get(ip);
    if (owners.length > 1) {
      const names = owners.map((o) => idText(o.endpoint)).join("; ");
      for (const o of owners) {
        if (holder !== undefined && sameId(holder, o.endpoint)) continue;
        const free = !inUse(o) && !young(o);
        add({
          kind: "two_owners",
          ...about(o),
          message:
            `${ip} is claimed by ${owners.length} attachments (${names}); the address record names ${
              holder ? idText(holder) : "none of them"
            }`,
          repair: free && holder !== undefined ? "release_duplicate" : "none",
          advice: free && holder !== undefined
            ? `safe: ${o.veth} and any route via it are gone, and only this attachment's record is deleted: the address stays held by ${
              idText(holder)
            }`
            : `both may be in use: delete the pod that should not have ${ip} (its runtime then runs DEL), then run the check again`,
        });
      }
    }
    for (const o of owners) {
      const ep = o.endpoint;
      if (holder === undefined && owners.length === 1) {
        add({
          kind: "address_record_missing",
          ...about(o),
          message: `${ip} is allocated to ${
            idText(ep)
          } but has no address record: it could be handed out again`,
          repair: "restore_address_record",
          advice: "safe: the record is written back for the attachment that holds the address, " +
            "in one commit that fails if anyone claimed the address meanwhile",
        });
      }
      if (young(o)) {
        youngCount++;
        continue;
      }
      if (!veths.has(o.veth) && !routeTo.has(ip)) {
        if (owners.length > 1) continue; // reported above, with the repair that fits
        add({
          kind: "leaked",
          ...about(o),
          message: `${ip} is allocated to ${
            idText(ep)
          } (${ep.state}) but neither its veth ${o.veth} nor a route to it exists`,
          repair: "release",
          advice:
            "safe: nothing on the node uses the address (no veth, no route); it is released as DEL would",
        });
        continue;
      }
      const pod = podOf(ep);
      if (pods !== undefined && pod !== undefined && !pods.has(pod)) {
        add({
          kind: "pod_gone",
          ...about(o),
          message:
            `${ip} is allocated to pod ${pod}, which the cluster no longer has on ${facts.node}`,
          repair: "none",
          advice: `not repaired: its veth ${o.veth}${
            routeTo.has(ip) ? " and route" : ""
          } still exist; the runtime should delete the pod's sandbox (crictl rmp), and the sweep releases it once its netns and veth are gone`,
        });
      }
    }
  }

  for (const { ip, holder } of facts.addresses) {
    const owners = ownersOf.get(ip) ?? [];
    if (owners.some((o) => sameId(o.endpoint, holder))) continue;
    const used = routeTo.has(ip);
    add({
      kind: "orphan_address_record",
      ip,
      containerID: holder.containerID,
      ifname: holder.ifname,
      message: `${ip} is held by ${idText(holder)}, which has no allocation${
        owners.length ? ` (${owners.length} other attachment(s) claim it)` : ""
      }: the address can never be handed out`,
      repair: used || owners.length > 0 ? "none" : "drop_address_record",
      advice: used
        ? `not repaired: a route to ${ip} via ${
          routeTo.get(ip)
        } still exists; find its pod and delete it`
        : owners.length > 0
        ? "not repaired: repair the attachments that claim it first (two_owners), then run the check again"
        : "safe: no allocation claims the address and no route leads to it; the record is deleted",
    });
  }

  const owned = new Set(facts.owners.map((o) => o.veth));
  for (const route of facts.routes) {
    if (holderOf.has(route.ip) || ownersOf.has(route.ip)) continue;
    add({
      kind: "unallocated_route",
      ip: route.ip,
      veth: route.dev,
      message:
        `${route.ip} is routed to ${route.dev} but no allocation holds it: it could be handed out to a second pod`,
      repair: "none",
      advice:
        `not repaired: a pod may still use ${route.ip} through ${route.dev}; find it (ip -n <netns> addr), delete the pod so its runtime adds it again, or if none uses it: ip link del ${route.dev}`,
    });
  }
  const routedVia = new Set(facts.routes.map((r) => r.dev));
  for (const veth of facts.veths) {
    if (owned.has(veth) || routedVia.has(veth)) continue;
    const seen = facts.vethFirstSeen?.[veth];
    if (seen !== undefined && facts.now - seen < facts.graceMs) {
      youngCount++;
      continue;
    }
    add({
      kind: "orphan_veth",
      veth,
      message: `${veth} is a tern veth that no allocation names`,
      repair: "delete_veth",
      advice:
        "safe: no allocation names it and no route leads to it, so no pod is reachable through it; " +
        "it is deleted only if that still holds when the repair runs",
    });
  }

  for (const o of facts.owners) {
    if (young(o)) continue;
    const ep = o.endpoint;
    if (facts.mode === "node-cidr") {
      if (facts.pools.length > 0 && !inAny(ep.ip, facts.pools)) {
        add({
          kind: "outside_pools",
          ...about(o),
          message: `${ep.ip} (${idText(ep)}) is in none of the node's pod CIDRs ${
            facts.pools.join(", ")
          }`,
          repair: "none",
          advice:
            "not repaired: the pod CIDRs changed under a live pod; delete the pod, or restart ternd with --release-outside-pools",
        });
      }
    } else if (facts.blocks !== undefined) {
      const mine = facts.blocks.filter((b) => b.node === facts.node).map((b) => b.cidr);
      if (!inAny(ep.ip, mine)) {
        add({
          kind: "outside_pools",
          ...about(o),
          message: `${ep.ip} (${idText(ep)}) is in no block the cluster gives ${facts.node}`,
          repair: "none",
          advice:
            "not repaired: restart ternd to reconcile its blocks with the API (it claims the block again when it is free), or delete the pod",
        });
      }
    }
  }

  if (facts.mode === "blocks" && facts.blocks !== undefined) {
    const byCidr = new Map(facts.blocks.map((b) => [b.cidr, b]));
    for (const pool of facts.pools) {
      const block = byCidr.get(pool);
      if (block === undefined) {
        add({
          kind: "block_not_in_cluster",
          block: pool,
          message: `${facts.node} hands out addresses of ${pool}, which has no IPAMBlock`,
          repair: "none",
          advice:
            "not repaired: restart ternd; at start it creates the block again when addresses of it are in use",
        });
      } else if (block.node !== facts.node) {
        add({
          kind: "block_of_other_node",
          block: pool,
          message:
            `${facts.node} hands out addresses of ${pool}, whose IPAMBlock belongs to ${block.node}`,
          repair: "none",
          advice:
            "not repaired: restart ternd; at start it stops handing out addresses of a block another node owns",
        });
      }
    }
    const pools = new Set(facts.pools);
    for (const block of facts.blocks) {
      if (block.node !== facts.node || pools.has(block.cidr)) continue;
      if (facts.now - block.createdAt < facts.graceMs) continue;
      add({
        kind: "block_not_used",
        block: block.cidr,
        message:
          `the IPAMBlock ${block.cidr} belongs to ${facts.node}, which does not hand out its addresses`,
        repair: "none",
        advice:
          "not repaired: restart ternd; at start it adopts the block, and gives it back after ipam.blocks.releaseCooldown if it stays empty",
      });
    }
  }

  problems.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  const counts: IpamCheckReport["counts"] = {
    allocations: facts.owners.length,
    addressRecords: facts.addresses.length,
    veths: facts.veths.length,
    routes: facts.routes.length,
    young: youngCount,
  };
  if (facts.pods !== undefined) counts.pods = facts.pods.length;
  if (facts.blocks !== undefined) {
    counts.blocks = facts.blocks.filter((b) => b.node === facts.node).length;
  }
  return { node: facts.node, mode: facts.mode, checkedAt: facts.now, counts, problems };
}

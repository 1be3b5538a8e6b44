/**
 * The ready mark of tern's host veths: a veth whose policy is programmed carries interface group
 * {@linkcode READY_GROUP}; every other `tern*` veth is in any other group (a new veth is in 0,
 * `default`). The policy table's forward chain drops the traffic of a `tern*` veth without the
 * mark ("no traffic before policy"), with a compare of the interface's group instead of a set
 * lookup, which cost each forwarded packet about 4 % here (docs/benchmarks.md).
 *
 * The order keeps the mark honest: the {@linkcode PolicyManager} clears it before the transaction
 * that takes a pod's policy out of the table, and sets it after the transaction that programs
 * it, so a marked veth always has its policy in the table. The table check also lists the marks
 * and restores them. Only links whose name carries tern's prefix are looked at or changed.
 * @module
 */
import type { Ip, Where } from "../../src/ip.ts";
import { VETH_PREFIX } from "../../src/names.ts";
import { READY_GROUP } from "../../src/policy/render.ts";
import { applyLines } from "../../src/batch_apply.ts";
import type { HostNetlink } from "../../src/host_netlink.ts";
import { errorMessage } from "../../src/lib/errors.ts";

/** The interface groups of tern's host veths, read and set. */
export interface VethGroups {
  /**
   * tern's veths now, by name, with their group number (`default` is 0; a group that
   * /etc/iproute2/group names, which `ip` prints by name, is NaN: not tern's mark).
   */
  list(): Promise<Map<string, number>>;
  /** Gives each veth its group; a veth that no longer exists is skipped. */
  set(groups: ReadonlyMap<string, number>): Promise<void>;
}

/**
 * The changes that make exactly the veths in `ready`, among the veths `have` lists, carry
 * {@linkcode READY_GROUP}: the mark for a ready veth without it, group 0 for any other veth with
 * it. Veths in `ready` that do not exist are left out. Pure.
 */
export function groupChanges(
  have: ReadonlyMap<string, number>,
  ready: ReadonlySet<string>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [veth, group] of have) {
    if (ready.has(veth) && group !== READY_GROUP) out.set(veth, READY_GROUP);
    else if (!ready.has(veth) && group === READY_GROUP) out.set(veth, 0);
  }
  return out;
}

/** {@linkcode groupChanges} as the table check reports them, one short line each. Pure. */
export function describeGroupChanges(changes: ReadonlyMap<string, number>): string[] {
  return [...changes].map(([veth, group]) =>
    group === READY_GROUP
      ? `veth ${veth} has programmed policy but not the ready group ${READY_GROUP}`
      : `veth ${veth} has the ready group ${READY_GROUP} but no programmed policy`
  );
}

/** The `ip -batch` line that puts `veth` in `group`. Pure. */
export function renderGroupSet(veth: string, group: number): string {
  return `link set dev ${veth} group ${group}`;
}

/** {@linkcode VethGroups} on an {@linkcode Ip}, in the node's namespace (`where`, default this one). */
export class IpVethGroups implements VethGroups {
  readonly #ip: Ip;
  readonly #where: Where;

  constructor(ip: Ip, where: Where = {}) {
    this.#ip = ip;
    this.#where = where;
  }

  async list(): Promise<Map<string, number>> {
    const links = await this.#ip.json<{ ifname?: string; group?: string | number }>([
      "link",
      "show",
      "type",
      "veth",
    ], this.#where);
    const out = new Map<string, number>();
    for (const link of links) {
      if (typeof link.ifname !== "string" || !link.ifname.startsWith(VETH_PREFIX)) continue;
      out.set(link.ifname, parseGroup(link.group));
    }
    return out;
  }

  async set(groups: ReadonlyMap<string, number>): Promise<void> {
    const lines = [...groups].map(([veth, group]) => renderGroupSet(veth, group));
    const result = await applyLines(this.#ip, lines, this.#where);
    if (result.failed.length > 0) {
      const first = result.failed[0]!;
      throw new Error(
        `Cannot set the interface group of ${result.failed.length} veth(s): ${first.line}: ${first.error}`,
      );
    }
  }
}

/**
 * {@linkcode VethGroups} that set groups over rtnetlink in-process (an ADD's ready mark costs no
 * exec) and list them through `list`'s {@linkcode VethGroups} (the table check's, off the
 * critical path).
 */
export class NetlinkVethGroups implements VethGroups {
  readonly #lister: VethGroups;
  readonly #netlink: HostNetlink;

  constructor(lister: VethGroups, netlink: HostNetlink) {
    this.#lister = lister;
    this.#netlink = netlink;
  }

  list(): Promise<Map<string, number>> {
    return this.#lister.list();
  }

  set(groups: ReadonlyMap<string, number>): Promise<void> {
    const failed: string[] = [];
    for (const [veth, group] of groups) {
      try {
        this.#netlink.setGroup(veth, group); // false: the veth is gone, and needs no mark
      } catch (err) {
        failed.push(`${renderGroupSet(veth, group)}: ${errorMessage(err)}`);
      }
    }
    if (failed.length === 0) return Promise.resolve();
    return Promise.reject(
      new Error(`Cannot set the interface group of ${failed.length} veth(s): ${failed[0]}`),
    );
  }
}

/** A group as `ip -json link` prints it: `default`, a number as a string, or a name (NaN). */
export function parseGroup(group: unknown): number {
  if (group === undefined || group === "default") return 0;
  if (typeof group === "number") return group;
  return typeof group === "string" && /^\d+$/.test(group) ? Number(group) : NaN;
}

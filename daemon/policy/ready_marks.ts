/**
 * The ready marks of the host veths, kept in step with the policy table: a veth is marked (its
 * interface group is `READY_GROUP`) only while the table holds its pod's policy. Around a
 * transaction the marks of the pods that leave come off before it and those of the pods that
 * enter go on after it; a whole table lists every tern veth's group and corrects all of them, so
 * do the table check and a repeated ADD (a veth made anew carries group 0). The kernel edge is
 * {@linkcode VethGroups}; this file decides which marks change when.
 * @module
 */
import type { PolicyModel } from "../../src/policy/model.ts";
import { READY_GROUP } from "../../src/policy/render.ts";
import { describeGroupChanges, groupChanges, type VethGroups } from "./veth_groups.ts";

/** The veths of the pods whose policy `model` programs: those that carry the ready mark. */
export function readyVeths(model: PolicyModel): Set<string> {
  return new Set(model.pods.map((p) => p.ifname));
}

/** Decides and sets the ready marks around the policy transactions. */
export class ReadyMarks {
  readonly #groups: VethGroups;

  /** `groups` lists and sets the veths' interface groups. */
  constructor(groups: VethGroups) {
    this.#groups = groups;
  }

  /**
   * Takes the marks off before a transaction that moves the table from `previous` to the model
   * whose ready veths are `ready`: when the whole table goes in, every listed mark outside
   * `ready`; else the veths of the pods that leave the model.
   */
  async clearBefore(
    previous: PolicyModel | undefined,
    ready: ReadonlySet<string>,
    whole: boolean,
  ): Promise<void> {
    if (whole) return await this.#groups.set(await this.#listedChanges(ready, { clearOnly: true }));
    const out = new Map<string, number>();
    for (const pod of previous?.pods ?? []) {
      if (!ready.has(pod.ifname)) out.set(pod.ifname, 0);
    }
    await this.#groups.set(out);
  }

  /**
   * Puts the marks on after the transaction: when the whole table went in, every change the
   * listed marks need (clearing too: after an update fell back to the whole table, only the
   * leaving pods' marks were cleared before it; clearing a veth without policy is safe at any
   * time), else the veths of the pods that entered the model.
   */
  async markAfter(
    previous: PolicyModel | undefined,
    ready: ReadonlySet<string>,
    whole: boolean,
  ): Promise<void> {
    if (whole) return await this.#groups.set(await this.#listedChanges(ready));
    const out = new Map<string, number>();
    const before = new Set(previous?.pods.map((p) => p.ifname) ?? []);
    for (const veth of ready) if (!before.has(veth)) out.set(veth, READY_GROUP);
    await this.#groups.set(out);
  }

  /** Marks one veth (a repeated ADD may have made it anew, in group 0). */
  async mark(ifname: string): Promise<void> {
    await this.#groups.set(new Map([[ifname, READY_GROUP]]));
  }

  /** Lists the marks and describes how they differ from `ready` (empty when they agree). */
  async differences(ready: ReadonlySet<string>): Promise<string[]> {
    return describeGroupChanges(groupChanges(await this.#groups.list(), ready));
  }

  /** Lists the marks again and corrects them for `ready`. */
  async correct(ready: ReadonlySet<string>): Promise<void> {
    await this.#groups.set(await this.#listedChanges(ready));
  }

  /** What the kernel's marks, listed now, need for `ready` ({@linkcode groupChanges}). */
  async #listedChanges(
    ready: ReadonlySet<string>,
    options: { clearOnly?: boolean } = {},
  ): Promise<Map<string, number>> {
    const changes = groupChanges(await this.#groups.list(), ready);
    if (options.clearOnly) {
      for (const [veth, group] of changes) if (group === READY_GROUP) changes.delete(veth);
    }
    return changes;
  }
}

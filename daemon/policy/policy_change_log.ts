/**
 * What a new policy model means to people: a pod held closed is warned about once (until it
 * leaves the held list), a held pod that gets its policy is reported, policy problems are logged
 * when they appear and when they are resolved. Also remembers since when each pod is held, for
 * status.
 * @module
 */
import type { Logger } from "../../src/log.ts";
import type { PolicyModel } from "../../src/policy/model.ts";

/** Logs the changes between successive models and tracks held pods. */
export class PolicyChangeLog {
  readonly #log: Logger;
  readonly #pendingSince = new Map<string, number>();
  readonly #warnedPending = new Set<string>();

  /** Lines go to `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Since when the pod behind `ifname` is held, ms since the epoch; undefined when it is not. */
  pendingSince(ifname: string): number | undefined {
    return this.#pendingSince.get(ifname);
  }

  /** `next` replaced `previous` in the kernel at `now`. */
  record(previous: PolicyModel | undefined, next: PolicyModel, now: number): void {
    this.#trackPending(next, now);
    this.#logChanges(previous, next);
  }

  #trackPending(model: PolicyModel, now: number): void {
    const current = new Set(model.pending.map((p) => p.ifname));
    for (const ifname of [...this.#pendingSince.keys()]) {
      if (!current.has(ifname)) {
        this.#pendingSince.delete(ifname);
        this.#warnedPending.delete(ifname);
      }
    }
    for (const p of model.pending) {
      if (!this.#pendingSince.has(p.ifname)) this.#pendingSince.set(p.ifname, now);
    }
  }

  #logChanges(previous: PolicyModel | undefined, next: PolicyModel): void {
    const before = new Set(previous?.pending.map((p) => p.ifname) ?? []);
    for (const p of next.pending) {
      if (before.has(p.ifname) || this.#warnedPending.has(p.ifname)) continue;
      this.#warnedPending.add(p.ifname);
      this.#log.warn("Pod held closed: its veth drops everything", {
        pod: `${p.namespace}/${p.name}`,
        ifname: p.ifname,
        reason: p.reason,
      });
    }
    for (const p of next.pods) {
      if (before.has(p.ifname)) {
        this.#log.info("Pod policy programmed after being held", {
          pod: `${p.namespace}/${p.name}`,
          ifname: p.ifname,
        });
      }
    }
    const oldProblems = new Set(previous?.problems.map((p) => p.message) ?? []);
    const newProblems = new Set(next.problems.map((p) => p.message));
    for (const p of next.problems) {
      if (!oldProblems.has(p.message)) this.#log.warn(p.message, { severity: p.severity });
    }
    for (const message of oldProblems) {
      if (!newProblems.has(message)) this.#log.info("Policy problem resolved", { was: message });
    }
  }
}

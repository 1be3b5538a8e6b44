/**
 * Enforces policy on this node, in the manner of the routing reconciler: whatever changes (an
 * endpoint programmed or released, a cluster or policy manifest) only marks the policy dirty;
 * a run, `debounceMs` after the first request of a burst, compiles the model from the current
 * inputs (the pure core in `src/policy`) and applies the difference to the kernel's `inet tern`
 * table as one `nft -f -` transaction (`renderPolicyUpdate`). The new model is kept only when
 * nft accepted it. An incremental transaction that fails is followed at once by the whole table
 * (`renderPolicyTable`, which replaces any table atomically); a whole table that fails is tried
 * again with exponential backoff. Runs never overlap. At start the whole table is applied.
 *
 * The daemon owns only `inet tern`: a periodic check lists it and compares it with the model
 * (`checkPolicyTable`); a table that was deleted or changed is logged and applied whole again.
 * The check's period is `intervalMs`, stretched so that listing a large table costs at most
 * about 2% of the time. A check does not hold up runs (listing 10k elements takes ~0.3 s); a
 * listing that a transaction overlapped is not judged. `nft monitor` events about the table ({@linkcode PolicyManager.tableEvent})
 * bring a check forward to ~100 ms, unless they echo one of tern's own transactions. {@linkcode PolicyManager.programmed} lets the API answer ADD only once
 * the pod's veth is ready with its chains.
 *
 * Ready is the veth's interface group (daemon/veth_groups.ts): a run clears the mark of the veths
 * whose pods leave the model before its transaction and sets it on those that enter after it (a
 * whole table lists every tern veth's group and corrects all of them), so a marked veth always has
 * its policy in the table; the table check compares the marks too and corrects marks alone when
 * the table agrees. A mark that cannot be set or cleared fails the run like a refused transaction
 * (a mark that cannot be set after the transaction leaves the new table as the model and the
 * whole table due).
 * @module
 */
import type { PolicyApplyStatus, PolicyEnforcement, PolicyPendingPod } from "../src/api.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { type Logger, silentLogger } from "../src/log.ts";
import type { Nft } from "../src/nft.ts";
import { type PolicyCounters, policyCounters } from "../src/policy/counters.ts";
import type { PolicyModel } from "../src/policy/model.ts";
import { PolicyCompiler } from "../src/policy/policy_compiler.ts";
import {
  READY_GROUP,
  RenderCache,
  renderPolicyTable,
  renderPolicyUpdate,
} from "../src/policy/render.ts";
import { checkPolicyTable } from "../src/policy/table_check.ts";
import { type PolicyInputs, type PolicyView, PolicyViewBuilder } from "./policy_view.ts";
import { RetryBackoff } from "./retry_backoff.ts";
import { describeGroupChanges, groupChanges, type VethGroups } from "./veth_groups.ts";

/** What the manager works with. */
export interface PolicyManagerDeps {
  /** Applies and lists `inet tern`. */
  nft: Pick<Nft, "apply" | "listTableJson">;
  /** The inputs now: cluster state, `policy.dir`, this node's endpoints. */
  inputs: () => PolicyInputs;
  /** The ready marks of the host veths (their interface group). */
  groups: VethGroups;
  /** Default `silentLogger`. */
  log?: Logger;
}

/** Knobs; every field documents its default. */
export interface PolicyManagerOptions {
  /** Drop log lines per second per rule; 0 logs nothing. */
  logRate: number;
  /** The table check's period (the daemon passes `reconcile.interval`). */
  intervalMs: number;
  /** Delay of a run after the first request of a burst. Default 20. */
  debounceMs?: number;
  /** Retry waits after a failed whole table: default 1 s doubling up to 60 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** The clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** A pod's policy after {@linkcode PolicyManager.programmed}. */
export type ProgrammedState =
  | { state: "ready" }
  | { state: "pending"; reason: string }
  | { state: "absent" };

interface Waiter {
  generation: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const TABLE = { family: "inet", name: "tern" } as const;

/** A table event this soon after one of tern's own transactions is taken as its echo. */
const ECHO_MS = 500;

/** Delay of a check after a table event, so a burst of events makes one check. */
const EVENT_CHECK_MS = 100;

/** The share of time the periodic table check may spend listing (see the module doc). */
const CHECK_DUTY = 50;

/** Compiles, applies, checks and restores `inet tern`. */
export class PolicyManager {
  readonly #nft: Pick<Nft, "apply" | "listTableJson">;
  readonly #inputs: () => PolicyInputs;
  readonly #groups: VethGroups;
  readonly #log: Logger;
  readonly #logRate: number;
  readonly #intervalMs: number;
  readonly #debounceMs: number;
  readonly #now: () => number;
  readonly #backoff: RetryBackoff;
  readonly #compiler = new PolicyCompiler();
  /** Pods' rendered objects, kept while the compiler hands back the same pod objects. */
  readonly #render = { cache: new RenderCache() };
  readonly #views = new PolicyViewBuilder();

  #chain: Promise<unknown> = Promise.resolve();
  #started = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due: number | undefined;
  #checkTimer: ReturnType<typeof setTimeout> | undefined;
  #eventTimer: ReturnType<typeof setTimeout> | undefined;
  #applying = false;
  /** Checks in flight (outside the chain): {@linkcode PolicyManager.stop} waits for them. */
  #checking = new Set<Promise<string[]>>();
  /** Transactions started so far: a table check judges only a listing no transaction overlapped. */
  #transactions = 0;
  #echoUntil = 0;
  #reasons = new Set<string>();
  #wanted = 0;
  #applied = 0;
  #needWhole = true;
  #model: PolicyModel | undefined;
  #view: PolicyView | undefined;
  #waiters: Waiter[] = [];
  #appliedListeners = new Set<() => void>();
  #pendingSince = new Map<string, number>();
  #warnedPending = new Set<string>();

  #applies = 0;
  #wholeApplies = 0;
  #lastApply: PolicyApplyStatus | undefined;
  #lastError: { at: number; error: string } | undefined;
  #checks = 0;
  #restores = 0;
  #lastCheck: number | undefined;
  #lastCheckMs = 0;
  #lastRestore: { at: number; differences: string[] } | undefined;

  /** `deps` are the edges, `options` the knobs. Call {@linkcode PolicyManager.start}. */
  constructor(deps: PolicyManagerDeps, options: PolicyManagerOptions) {
    this.#nft = deps.nft;
    this.#inputs = deps.inputs;
    this.#groups = deps.groups;
    this.#log = deps.log ?? silentLogger;
    this.#logRate = options.logRate;
    this.#intervalMs = options.intervalMs;
    this.#debounceMs = options.debounceMs ?? 20;
    this.#now = options.now ?? Date.now;
    this.#backoff = new RetryBackoff(options.backoff);
  }

  /**
   * Applies the whole table for the current inputs and starts serving requests and the periodic
   * check. Throws when nft refuses the table (the daemon cannot enforce anything then).
   */
  async start(): Promise<void> {
    this.#stopped = false;
    const result = await this.#enqueue(() => this.#run("start"));
    if (result !== undefined) throw new Error(`Cannot program the policy table: ${result}`);
    this.#started = true;
    this.#armCheck();
    if (this.#wanted > this.#applied) this.#arm(this.#now() + this.#debounceMs);
  }

  /** Stops timers, waits for a run in progress; waiters are told the daemon is stopping. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#checkTimer);
    clearTimeout(this.#eventTimer);
    this.#timer = undefined;
    this.#checkTimer = undefined;
    this.#eventTimer = undefined;
    await this.#chain;
    await Promise.allSettled([...this.#checking]);
    for (const w of this.#waiters.splice(0)) {
      w.reject(new Error("Policy not programmed: the daemon is stopping"));
    }
  }

  /**
   * Marks the policy dirty: a run follows `delayMs` (default `debounceMs`) after the first
   * request of a burst. `reason` is logged with the run.
   */
  request(reason: string, delayMs: number = this.#debounceMs): void {
    this.#wanted++;
    this.#reasons.add(reason);
    if (this.#started && !this.#stopped) this.#arm(this.#now() + Math.max(0, delayMs));
  }

  /**
   * Waits until every change requested so far is applied, then reports the pod behind host
   * veth `ifname`: `ready` (its chains and its `ready` entry are in the kernel), `pending`
   * (held closed: it waits up to `options.waitMs`, default 0, for it to become ready), or
   * `absent` (no such endpoint). Throws when nft refused the transaction that carried it.
   */
  async programmed(ifname: string, options: { waitMs?: number } = {}): Promise<ProgrammedState> {
    const generation = this.#wanted;
    if (this.#applied < generation) {
      // An ADD waits on this: a debounced run is brought forward, the change is applied now.
      if (this.#started && !this.#stopped) this.#arm(this.#now());
      await new Promise<void>((resolve, reject) =>
        this.#waiters.push({ generation, resolve, reject })
      );
    }
    const deadline = this.#now() + (options.waitMs ?? 0);
    while (true) {
      const state = this.#stateOf(ifname);
      if (state.state !== "pending" || this.#now() >= deadline || this.#stopped) {
        if (state.state === "ready") await this.#ensureMarked(ifname);
        return state;
      }
      await this.#nextApply(deadline - this.#now());
    }
  }

  /** The model in the kernel (the last one nft accepted); undefined before the first. */
  get model(): PolicyModel | undefined {
    return this.#model;
  }

  /** The view the last model was compiled from (cluster, `policy.dir`, endpoints). */
  view(): PolicyView {
    return this.#view ?? this.#views.build(this.#inputs());
  }

  /** Lists the table and attributes its counters to policies, rules and pods. */
  counters(): Promise<PolicyCounters> {
    return this.#enqueue(async () => {
      const model = this.#model;
      if (model === undefined) throw new Error("No policy programmed yet");
      const listing = await this.#nft.listTableJson(TABLE.family, TABLE.name);
      if (listing === undefined) {
        throw new Error("Table inet tern is missing: it is being restored");
      }
      return policyCounters(model, listing);
    });
  }

  /**
   * Compares the kernel's table with the model now; restores it when they differ. Not queued
   * behind runs, nor runs behind it: listing a 10k-element table takes ~0.3 s, which a change
   * must not wait for. A listing that overlapped a transaction is not judged (the next check is).
   */
  check(): Promise<string[]> {
    const check = this.#check();
    this.#checking.add(check);
    const forget = () => this.#checking.delete(check);
    check.then(forget, forget);
    return check;
  }

  /**
   * A line of `nft monitor`: a change of `inet tern` that is not the echo of tern's own
   * transaction (none in flight, none ended within 500 ms) brings the table check forward to
   * 100 ms from now. Other lines are ignored.
   */
  tableEvent(line: string): void {
    if (!/\binet tern\b/.test(line)) return;
    if (this.#applying || performance.now() < this.#echoUntil) return;
    this.checkSoon();
  }

  /** Checks the table ~100 ms from now (a burst of calls makes one check). */
  checkSoon(): void {
    if (!this.#started || this.#stopped || this.#eventTimer !== undefined) return;
    this.#eventTimer = setTimeout(() => {
      this.#eventTimer = undefined;
      if (this.#stopped) return;
      void this.check().catch((err) =>
        this.#log.warn("Cannot check the policy table", { error: String(err) })
      );
    }, EVENT_CHECK_MS);
  }

  /** Enforcement state for `GET /v1/policy/status` and `tern status`. */
  status(): PolicyEnforcement {
    const now = this.#now();
    const model = this.#model;
    const pending: PolicyPendingPod[] = (model?.pending ?? []).map((p) => ({
      namespace: p.namespace,
      name: p.name,
      ifname: p.ifname,
      ip: p.ip,
      reason: p.reason,
      sinceMs: Math.max(0, now - (this.#pendingSince.get(p.ifname) ?? now)),
    }));
    const failing = this.#backoff.entries()[0]?.[1];
    const out: PolicyEnforcement = {
      enabled: true,
      table: "inet tern",
      logRate: this.#logRate,
      pods: model?.pods.length ?? 0,
      pending,
      problems: model?.problems.length ?? 0,
      applies: this.#applies,
      wholeApplies: this.#wholeApplies,
      upToDate: this.#applied === this.#wanted && failing === undefined,
      checks: this.#checks,
      restores: this.#restores,
    };
    if (this.#lastApply) out.lastApply = { ...this.#lastApply };
    if (this.#lastError) out.lastError = { ...this.#lastError };
    if (failing) {
      out.failing = {
        error: failing.error,
        attempts: failing.attempts,
        since: failing.since,
        retryAt: failing.retryAt,
      };
    }
    if (this.#lastCheck !== undefined) out.lastCheck = this.#lastCheck;
    if (this.#lastRestore) out.lastRestore = { ...this.#lastRestore };
    return out;
  }

  /** Calls `listener` after every successful apply; returns the function that unsubscribes. */
  onApplied(listener: () => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  #stateOf(ifname: string): ProgrammedState {
    const model = this.#model;
    if (model?.pods.some((p) => p.ifname === ifname)) return { state: "ready" };
    const pending = model?.pending.find((p) => p.ifname === ifname);
    if (pending) return { state: "pending", reason: pending.reason };
    return { state: "absent" };
  }

  /**
   * Gives a ready pod's veth the ready mark, every time an ADD asks: a repeated ADD may have made
   * the veth anew (same name, group 0) without any change to the model, so no run would. Queued
   * like a run, and only while the pod is in the model that is in the kernel and no whole table is
   * due, so it never marks a veth whose policy a run has taken away (a whole table marks what it
   * must). Counted as a transaction, so a table check that overlaps it is not judged.
   */
  async #ensureMarked(ifname: string): Promise<void> {
    await this.#enqueue(async () => {
      if (this.#needWhole || this.#stateOf(ifname).state !== "ready") return;
      this.#transactions++;
      await this.#groups.set(new Map([[ifname, READY_GROUP]]));
    });
  }

  #nextApply(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      const unsubscribe = this.onApplied(done);
    });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task, task);
    this.#chain = run.catch(() => {});
    return run;
  }

  #arm(due: number): void {
    if (this.#timer !== undefined && this.#due !== undefined && this.#due <= due) return;
    clearTimeout(this.#timer);
    this.#due = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#due = undefined;
      if (this.#stopped) return;
      const trigger = [...this.#reasons].sort().join(",") || "request";
      this.#reasons.clear();
      void this.#enqueue(() => this.#run(trigger));
    }, Math.max(0, due - this.#now()));
  }

  #armCheck(): void {
    clearTimeout(this.#checkTimer);
    if (this.#stopped) return;
    const wait = Math.max(this.#intervalMs, this.#lastCheckMs * CHECK_DUTY);
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = undefined;
      if (this.#stopped) return;
      void this.check().catch((err) =>
        this.#log.warn("Cannot check the policy table", { error: String(err) })
      ).finally(() => this.#armCheck());
    }, wait);
  }

  /** One run: compile, render, apply; returns the error that remains, if any. */
  async #run(trigger: string): Promise<string | undefined> {
    const generation = this.#wanted;
    const t0 = performance.now();
    let next: PolicyModel;
    try {
      const view = this.#views.build(this.#inputs());
      next = this.#compiler.compile(view.view, {
        endpoints: view.endpoints,
        logRate: this.#logRate,
      });
      for (const p of next.pending) {
        const reason = view.held.get(p.ifname);
        if (reason !== undefined) p.reason = reason;
      }
      this.#view = view;
    } catch (err) {
      // A compiler bug must not leave ADDs waiting: report it like a failed apply.
      return this.#failed({ generation, trigger, error: errorMessage(err), t0, whole: true });
    }
    const computeMs = performance.now() - t0;
    const whole = this.#needWhole || this.#model === undefined;
    let text = whole
      ? renderPolicyTable(next, this.#render)
      : renderPolicyUpdate(this.#model!, next, this.#render);
    let applyAsWhole = whole;
    const ready = readyVeths(next);
    this.#applying = true;
    this.#transactions++;
    try {
      // The marks of veths whose policy goes come off before the transaction takes it away.
      try {
        await this.#groups.set(await this.#clearing(ready, whole));
      } catch (err) {
        return this.#failed({ generation, trigger, error: errorMessage(err), t0, whole: true });
      }
      try {
        if (text !== "") await this.#nft.apply(text);
      } catch (err) {
        if (whole) {
          return this.#failed({ generation, trigger, error: errorMessage(err), t0, whole: true });
        }
        this.#log.warn("Policy update failed; applying the whole table", {
          trigger,
          error: errorMessage(err),
        });
        text = renderPolicyTable(next, this.#render);
        applyAsWhole = true;
        try {
          await this.#nft.apply(text);
        } catch (err2) {
          return this.#failed({ generation, trigger, error: errorMessage(err2), t0, whole: true });
        }
      }
      // The marks of veths whose policy came go on after the transaction put it in place.
      try {
        await this.#groups.set(await this.#marking(ready, applyAsWhole));
      } catch (err) {
        // The table is next's: keep it as the model, so nothing (#ensureMarked) marks a veth by
        // the old one; the whole table that follows lists and corrects every mark.
        this.#model = next;
        return this.#failed({ generation, trigger, error: errorMessage(err), t0, whole: true });
      }
    } finally {
      this.#applying = false;
      this.#echoUntil = performance.now() + ECHO_MS;
    }
    this.#succeeded({ generation, trigger, next, whole: applyAsWhole, text, t0, computeMs });
    return undefined;
  }

  /**
   * The marks to clear before a run's transaction: every marked tern veth outside `ready` when
   * the whole table goes in (the kernel's marks are listed), else the veths of the pods that
   * leave the model.
   */
  async #clearing(ready: ReadonlySet<string>, whole: boolean): Promise<Map<string, number>> {
    if (whole) return await this.#listedChanges(ready, { clearOnly: true });
    const out = new Map<string, number>();
    for (const pod of this.#model?.pods ?? []) {
      if (!ready.has(pod.ifname)) out.set(pod.ifname, 0);
    }
    return out;
  }

  /**
   * The marks to set after a run's transaction: when the whole table went in, every change the
   * listed marks need (clearing too: after an update fell back to the whole table, only the
   * leaving pods' marks were cleared before it; clearing a veth without policy is safe at any
   * time), else the veths of the pods that entered the model.
   */
  async #marking(ready: ReadonlySet<string>, whole: boolean): Promise<Map<string, number>> {
    if (whole) return await this.#listedChanges(ready);
    const out = new Map<string, number>();
    const before = new Set(this.#model?.pods.map((p) => p.ifname) ?? []);
    for (const veth of ready) if (!before.has(veth)) out.set(veth, READY_GROUP);
    return out;
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

  #succeeded(
    at: {
      generation: number;
      trigger: string;
      next: PolicyModel;
      whole: boolean;
      text: string;
      t0: number;
      computeMs: number;
    },
  ): void {
    const { generation, trigger, next, whole, text, t0, computeMs } = at;
    const previous = this.#model;
    this.#model = next;
    this.#applied = Math.max(this.#applied, generation);
    this.#needWhole = false;
    this.#backoff.succeeded("table");
    const durationMs = round(performance.now() - t0);
    if (text !== "") {
      this.#applies++;
      if (whole) this.#wholeApplies++;
    }
    this.#lastApply = {
      at: this.#now(),
      trigger,
      kind: text === "" ? "none" : whole ? "whole" : "incremental",
      durationMs,
      computeMs: round(computeMs),
      lines: text === "" ? 0 : text.split("\n").length - 1,
      pods: next.pods.length,
      pending: next.pending.length,
    };
    this.#trackPending(next);
    this.#logChanges(previous, next);
    const fields = { ...this.#lastApply, compiled: this.#compiler.stats.computed };
    if (text === "") this.#log.debug("Policy unchanged", fields);
    else if (whole) this.#log.info("Applied the whole policy table", fields);
    else this.#log.debug("Applied a policy update", fields);
    for (const w of this.#waiters.filter((w) => w.generation <= generation)) w.resolve();
    this.#waiters = this.#waiters.filter((w) => w.generation > generation);
    for (const listener of [...this.#appliedListeners]) listener();
  }

  #failed(
    at: { generation: number; trigger: string; error: string; t0: number; whole: boolean },
  ): string {
    const { generation, trigger, error } = at;
    const now = this.#now();
    this.#needWhole = true;
    this.#lastError = { at: now, error };
    const entry = this.#backoff.failed("table", error, now);
    this.#lastApply = {
      at: now,
      trigger,
      kind: "failed",
      durationMs: round(performance.now() - at.t0),
      computeMs: 0,
      lines: 0,
      pods: this.#model?.pods.length ?? 0,
      pending: this.#model?.pending.length ?? 0,
      error,
    };
    this.#log.error("Cannot apply the policy table", {
      trigger,
      error,
      attempts: entry.attempts,
      retryInMs: entry.retryAt - now,
    });
    const failure = new Error(`Cannot program policy: ${error}`);
    for (const w of this.#waiters.filter((w) => w.generation <= generation)) w.reject(failure);
    this.#waiters = this.#waiters.filter((w) => w.generation > generation);
    if (this.#started && !this.#stopped) {
      this.#reasons.add("retry");
      this.#arm(entry.retryAt);
    }
    return error;
  }

  async #check(): Promise<string[]> {
    const model = this.#model;
    if (model === undefined || this.#needWhole || this.#applying) return [];
    const transactions = this.#transactions;
    const t0 = performance.now();
    const listing = await this.#nft.listTableJson(TABLE.family, TABLE.name);
    const groups = await this.#groups.list();
    this.#lastCheckMs = performance.now() - t0;
    this.#checks++;
    this.#lastCheck = this.#now();
    // A transaction during the listing: the table may be half old, half new; not judged.
    if (this.#model !== model || this.#applying || this.#transactions !== transactions) return [];
    const ready = readyVeths(model);
    const tableDifferences = checkPolicyTable(model, listing, this.#render);
    const differences = [
      ...tableDifferences,
      ...describeGroupChanges(groupChanges(groups, ready)),
    ];
    if (differences.length === 0) return [];
    this.#restores++;
    this.#lastRestore = { at: this.#now(), differences };
    if (tableDifferences.length === 0) {
      // Only marks differ: correct them, not the whole table (its counters survive).
      this.#log.warn("Ready marks changed outside tern; correcting them", {
        differences: differences.join("; "),
      });
      await this.#enqueue(() => this.#correctMarks(model));
      return differences;
    }
    this.#log.warn("Policy table changed outside tern; applying it whole again", {
      differences: differences.join("; "),
    });
    this.#needWhole = true;
    this.request("restore", 0);
    return differences;
  }

  /** Lists the marks again and corrects them for `model`, if it is still the kernel's. */
  async #correctMarks(model: PolicyModel): Promise<void> {
    if (this.#model !== model || this.#needWhole) return; // a run took over
    this.#transactions++;
    try {
      await this.#groups.set(await this.#listedChanges(readyVeths(model)));
    } catch (err) {
      this.#log.warn("Cannot correct the ready marks; applying the whole table", {
        error: errorMessage(err),
      });
      this.#needWhole = true;
      this.request("restore", 0);
    }
  }

  #trackPending(model: PolicyModel): void {
    const now = this.#now();
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
    const wasPending = new Set(previous?.pending.map((p) => p.ifname) ?? []);
    for (const p of next.pods) {
      if (wasPending.has(p.ifname)) {
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

/** The veths of the pods whose policy `model` programs: those that carry the ready mark. */
function readyVeths(model: PolicyModel): Set<string> {
  return new Set(model.pods.map((p) => p.ifname));
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

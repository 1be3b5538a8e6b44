/**
 * Enforces policy on this node, in the manner of the routing reconciler: whatever changes (an
 * endpoint programmed or released, a cluster or policy manifest) only marks the policy dirty;
 * a run, `debounceMs` after the first request of a burst (the shared {@linkcode Scheduler}),
 * compiles the model from the current inputs (the pure core in `src/policy`) and applies the
 * difference to the kernel's `inet tern` table with its ready marks as one transaction
 * (`policy_transaction.ts`). The new model is kept only when nft accepted it. A whole table that
 * fails is tried again with exponential backoff. Runs never overlap. At start the whole table is
 * applied.
 *
 * The manager assembles its parts, one concept each: the scheduler (when runs happen), the
 * transaction (`policy_transaction.ts`), the ready marks (`ready_marks.ts`: a marked veth always
 * has its policy in the table), the table audit (`policy_table_audit.ts`: a table deleted or
 * changed outside tern is restored), the waiters ({@linkcode PolicyManager.programmed} lets the
 * API answer ADD only once the pod's veth is ready with its chains, `programmed_waiters.ts`) and
 * the change log (`policy_change_log.ts`). What stays here is the run and status.
 * @module
 */
import type { PolicyApplyStatus, PolicyEnforcement, PolicyPendingPod } from "../../src/api.ts";
import { type Clock, realClock } from "../../src/clock.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { Scheduler } from "../../src/lib/scheduler.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { Nft } from "../../src/nft.ts";
import type { GenerationWatch } from "../../src/nft_generation.ts";
import { type PolicyCounters, policyCounters } from "../../src/policy/counters.ts";
import type { PolicyModel } from "../../src/policy/model.ts";
import type { PolicyDelta } from "../../src/policy/policy_changes.ts";
import { PolicyCompiler } from "../../src/policy/policy_compiler.ts";
import { RenderCache } from "../../src/policy/render.ts";
import { PolicyChangeLog } from "./policy_change_log.ts";
import { applyPolicyTransaction } from "./policy_transaction.ts";
import { POLICY_TABLE, TableAudit } from "./policy_table_audit.ts";
import { type PolicyInputs, type PolicyView, PolicyViewBuilder } from "./policy_view.ts";
import { ProgrammedWaiters } from "./programmed_waiters.ts";
import { ReadyMarks, readyVeths } from "./ready_marks.ts";
import { RetryBackoff } from "../../src/lib/retry_backoff.ts";
import type { VethGroups } from "./veth_groups.ts";

/** What the manager works with. */
export interface PolicyManagerDeps {
  /** Applies and lists `inet tern`. */
  nft: Pick<Nft, "apply" | "listTableJson">;
  /** The inputs now: cluster state, `policy.dir`, this node's endpoints. */
  inputs: () => PolicyInputs;
  /**
   * What changed in the inputs' states since the last call (a `PolicyChanges` journal's
   * `take()`), so that a run updates what the compiler keeps from the changes alone; undefined
   * from it, or no function: every pod is compared (O(pods) a run).
   */
  delta?: () => PolicyDelta | undefined;
  /** The ready marks of the host veths (their interface group). */
  groups: VethGroups;
  /**
   * The nftables generation id and its commits (an `NftGeneration`), so that someone else's
   * change of the table is checked at once. Absent: only the periodic check finds it.
   */
  generation?: GenerationWatch;
  /** Default `silentLogger`. */
  log?: Logger;
  /**
   * Told of every run when it ends (the metrics): what it did, and for a run that applied, how
   * long since the oldest change it carried was requested (change to kernel). Default: nobody.
   */
  onApply?: (
    apply: PolicyApplyStatus,
    changeToKernelMs: number | undefined,
    stages?: PolicyRunStages,
  ) => void;
}

/**
 * Where a run that applied spent its time, in milliseconds, stage by stage: the change waiting
 * for the run, building the view, compiling, rendering the text, and the kernel work (the marks
 * and the `nft` transaction). A cluster change asks for a run as soon as the source hands it over
 * (the triggers call {@linkcode PolicyManager.request} on the change), so `waitMs` counts from the
 * event received.
 */
export interface PolicyRunStages {
  /**
   * From the oldest change the run carries being requested to the run starting (the debounce and
   * any run in progress then); undefined for a run no change asked for (a retry, a check).
   */
  waitMs: number | undefined;
  viewMs: number;
  compileMs: number;
  renderMs: number;
  nftMs: number;
}

/**
 * A run whose oldest change took longer than this to reach the kernel is logged at info with its
 * stages (issue 11's goal for an event's way to the kernel); faster ones at debug.
 */
export const SLOW_POLICY_RUN_MS = 100;

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
  /** Time and timers. Default {@linkcode realClock}. */
  clock?: Clock;
}

/** A pod's policy after {@linkcode PolicyManager.programmed}. */
export type ProgrammedState =
  | { state: "ready" }
  | { state: "pending"; reason: string }
  | { state: "absent" };

/** Compiles, applies, checks and restores `inet tern`. */
export class PolicyManager {
  readonly #nft: Pick<Nft, "apply" | "listTableJson">;
  readonly #inputs: () => PolicyInputs;
  readonly #delta: () => PolicyDelta | undefined;
  readonly #log: Logger;
  readonly #logRate: number;
  readonly #clock: Clock;
  readonly #backoff: RetryBackoff;
  readonly #compiler = new PolicyCompiler();
  /** Pods' rendered objects, shared by the transactions and the table audit. */
  readonly #render = new RenderCache();
  readonly #views = new PolicyViewBuilder();
  readonly #marks: ReadyMarks;
  readonly #runs: Scheduler<string | undefined>;
  readonly #audit: TableAudit;
  readonly #waiters: ProgrammedWaiters;
  readonly #changes: PolicyChangeLog;
  readonly #onApply: NonNullable<PolicyManagerDeps["onApply"]>;

  /** Reasons of requests made before start: served by a run right after it. */
  #early = new Set<string>();
  #stopped = false;
  #needWhole = true;
  #model: PolicyModel | undefined;
  #view: PolicyView | undefined;
  #applies = 0;
  #wholeApplies = 0;
  #lastApply: PolicyApplyStatus | undefined;
  #lastError: { at: number; error: string } | undefined;
  /** When the oldest change not yet in the kernel was requested; undefined when none waits. */
  #dirtySince: number | undefined;

  /** `deps` are the edges, `options` the knobs. Call {@linkcode PolicyManager.start}. */
  constructor(deps: PolicyManagerDeps, options: PolicyManagerOptions) {
    this.#nft = deps.nft;
    this.#inputs = deps.inputs;
    this.#delta = deps.delta ?? (() => undefined);
    this.#log = deps.log ?? silentLogger;
    this.#logRate = options.logRate;
    this.#clock = options.clock ?? realClock;
    this.#backoff = new RetryBackoff(options.backoff);
    this.#marks = new ReadyMarks(deps.groups);
    this.#waiters = new ProgrammedWaiters(this.#clock);
    this.#changes = new PolicyChangeLog(this.#log);
    this.#onApply = deps.onApply ?? (() => {});
    this.#runs = new Scheduler((trigger) => this.#run(trigger), {
      clock: this.#clock,
      delayMs: options.debounceMs ?? 20,
    });
    this.#audit = new TableAudit({
      nft: this.#nft,
      marks: this.#marks,
      model: () => this.#needWhole ? undefined : this.#model,
      restore: () => this.#restore(),
      correctMarks: (model) => this.#runs.serial(() => this.#correctMarks(model)),
      ...(deps.generation !== undefined ? { generation: deps.generation } : {}),
      log: this.#log,
      clock: this.#clock,
      cache: this.#render,
    }, { intervalMs: options.intervalMs });
  }

  /**
   * Applies the whole table for the current inputs and starts serving requests and the periodic
   * check. Throws when nft refuses the table (the daemon cannot enforce anything then).
   */
  async start(): Promise<void> {
    this.#stopped = false;
    const result = await this.#runs.runNow("start");
    if (result !== undefined) throw new Error(`Cannot program the policy table: ${result}`);
    this.#runs.start();
    this.#audit.start();
    const early = [...this.#early];
    this.#early.clear();
    if (!this.#waiters.upToDate) { for (const reason of early) this.#runs.request(reason); }
  }

  /** Stops timers, waits for a run in progress; waiters are told the daemon is stopping. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#runs.stop();
    await this.#audit.stop();
    this.#waiters.rejectAll(new Error("Policy not programmed: the daemon is stopping"));
  }

  /**
   * Marks the policy dirty: a run follows `delayMs` (default `debounceMs`) after the first
   * request of a burst. `reason` is logged with the run.
   */
  request(reason: string, delayMs?: number): void {
    this.#dirtySince ??= this.#clock.now();
    this.#waiters.want();
    if (this.#runs.started) this.#runs.request(reason, delayMs);
    else this.#early.add(reason);
  }

  /**
   * Waits until every change requested so far is applied, then reports the pod behind host
   * veth `ifname`: `ready` (its chains and its `ready` entry are in the kernel), `pending`
   * (held closed: it waits up to `options.waitMs`, default 0, for it to become ready), or
   * `absent` (no such endpoint). Throws when nft refused the transaction that carried it.
   */
  async programmed(ifname: string, options: { waitMs?: number } = {}): Promise<ProgrammedState> {
    const generation = this.#waiters.wanted;
    const applied = this.#waiters.wait(generation);
    // An ADD waits on this: a debounced run is brought forward, the change is applied now.
    if (!this.#waiters.upToDate) this.#runs.hurry();
    await applied;
    const deadline = this.#clock.now() + (options.waitMs ?? 0);
    while (true) {
      const state = this.#stateOf(ifname);
      if (state.state !== "pending" || this.#clock.now() >= deadline || this.#stopped) {
        if (state.state === "ready") await this.#ensureMarked(ifname);
        return state;
      }
      await this.#waiters.nextApply(deadline - this.#clock.now());
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
    return this.#runs.serial(async () => {
      const model = this.#model;
      if (model === undefined) throw new Error("No policy programmed yet");
      const listing = await this.#nft.listTableJson(POLICY_TABLE.family, POLICY_TABLE.name);
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
    return this.#audit.check();
  }

  /** Enforcement state for `GET /v1/policy/status` and `tern status`. */
  status(): PolicyEnforcement {
    const now = this.#clock.now();
    const model = this.#model;
    const pending: PolicyPendingPod[] = (model?.pending ?? []).map((p) => ({
      namespace: p.namespace,
      name: p.name,
      ifname: p.ifname,
      ip: p.ip,
      reason: p.reason,
      sinceMs: Math.max(0, now - (this.#changes.pendingSince(p.ifname) ?? now)),
    }));
    const failing = this.#backoff.entries()[0]?.[1];
    const audit = this.#audit.status();
    const out: PolicyEnforcement = {
      enabled: true,
      table: "inet tern",
      logRate: this.#logRate,
      pods: model?.pods.length ?? 0,
      pending,
      problems: model?.problems.length ?? 0,
      applies: this.#applies,
      wholeApplies: this.#wholeApplies,
      upToDate: this.#waiters.upToDate && failing === undefined,
      checks: audit.checks,
      restores: audit.restores,
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
    if (audit.lastCheck !== undefined) out.lastCheck = audit.lastCheck;
    if (audit.lastRestore) out.lastRestore = audit.lastRestore;
    return out;
  }

  /** Calls `listener` after every successful apply; returns the function that unsubscribes. */
  onApplied(listener: () => void): () => void {
    return this.#waiters.onApplied(listener);
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
    await this.#runs.serial(async () => {
      if (this.#needWhole || this.#stateOf(ifname).state !== "ready") return;
      await this.#audit.during(() => this.#marks.mark(ifname));
    });
  }

  /** Lists the marks again and corrects them for `model`, if it is still the kernel's. */
  async #correctMarks(model: PolicyModel): Promise<void> {
    if (this.#model !== model || this.#needWhole) return; // a run took over
    try {
      await this.#audit.during(() => this.#marks.correct(readyVeths(model)));
    } catch (err) {
      this.#log.warn("Cannot correct the ready marks; applying the whole table", {
        error: errorMessage(err),
      });
      this.#restore();
    }
  }

  /** The table is not what tern put there: the whole table goes in at once. */
  #restore(): void {
    this.#needWhole = true;
    this.request("restore", 0);
  }

  /** One run: compile, render, apply; returns the error that remains, if any. */
  async #run(trigger: string): Promise<string | undefined> {
    const generation = this.#waiters.wanted;
    // The run reads the inputs as they are now: it carries every change requested so far.
    const since = this.#dirtySince;
    this.#dirtySince = undefined;
    const t0 = performance.now();
    const waitMs = since === undefined ? undefined : Math.max(0, this.#clock.now() - since);
    let next: PolicyModel;
    let viewMs: number;
    try {
      const view = this.#views.build(this.#inputs());
      viewMs = performance.now() - t0;
      next = this.#compiler.compile(view.view, {
        endpoints: view.endpoints,
        logRate: this.#logRate,
        changes: this.#delta(),
      });
      for (const p of next.pending) {
        const reason = view.held.get(p.ifname);
        if (reason !== undefined) p.reason = reason;
      }
      this.#view = view;
    } catch (err) {
      // A compiler bug must not leave ADDs waiting: report it like a failed apply.
      return this.#failed({ generation, trigger, error: errorMessage(err), t0, since });
    }
    const computeMs = performance.now() - t0;
    const result = await this.#audit.during(() =>
      applyPolicyTransaction({
        nft: this.#nft,
        marks: this.#marks,
        log: this.#log,
        cache: this.#render,
      }, {
        previous: this.#model,
        next,
        whole: this.#needWhole,
        trigger,
      })
    );
    if (!result.ok) {
      // The table is next's: keep it as the model, so nothing (#ensureMarked) marks a veth by
      // the old one; the whole table that follows lists and corrects every mark.
      if (result.tableIsNext) this.#model = next;
      return this.#failed({ generation, trigger, error: result.error, t0, since });
    }
    this.#succeeded({
      generation,
      trigger,
      next,
      whole: result.whole,
      text: result.text,
      t0,
      computeMs,
      since,
      stages: {
        waitMs,
        viewMs,
        compileMs: computeMs - viewMs,
        renderMs: result.renderMs,
        nftMs: result.nftMs,
      },
    });
    return undefined;
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
      /** When the oldest change this run carried was requested. */
      since: number | undefined;
      stages: PolicyRunStages;
    },
  ): void {
    const { generation, trigger, next, whole, text, t0, computeMs, since, stages } = at;
    const previous = this.#model;
    this.#model = next;
    this.#needWhole = false;
    this.#backoff.succeeded("table");
    const durationMs = round(performance.now() - t0);
    if (text !== "") {
      this.#applies++;
      if (whole) this.#wholeApplies++;
    }
    this.#lastApply = {
      at: this.#clock.now(),
      trigger,
      kind: text === "" ? "none" : whole ? "whole" : "incremental",
      durationMs,
      computeMs: round(computeMs),
      lines: text === "" ? 0 : text.split("\n").length - 1,
      pods: next.pods.length,
      pending: next.pending.length,
    };
    this.#changes.record(previous, next, this.#clock.now());
    const changeToKernelMs = since === undefined ? undefined : this.#clock.now() - since;
    const fields = {
      ...this.#lastApply,
      compiled: this.#compiler.stats.computed,
      changeToKernelMs,
      waitMs: stages.waitMs === undefined ? undefined : round(stages.waitMs),
      viewMs: round(stages.viewMs),
      compileMs: round(stages.compileMs),
      renderMs: round(stages.renderMs),
      nftMs: round(stages.nftMs),
      // The process's clock (V8's --trace-gc counts from about the same origin): a run's span.
      startedAtMs: Math.round(t0),
    };
    const slow = changeToKernelMs !== undefined && changeToKernelMs > SLOW_POLICY_RUN_MS;
    if (text === "") this.#log.debug("Policy unchanged", fields);
    else if (whole) this.#log.info("Applied the whole policy table", fields);
    else if (slow) this.#log.info("Applied a slow policy update", fields);
    else this.#log.debug("Applied a policy update", fields);
    this.#onApply(this.#lastApply, changeToKernelMs, stages);
    this.#waiters.applied(generation);
  }

  #failed(
    at: {
      generation: number;
      trigger: string;
      error: string;
      t0: number;
      since: number | undefined;
    },
  ): string {
    const { generation, trigger, error, since } = at;
    const now = this.#clock.now();
    // Its changes are still not in the kernel: the run that gets them there measures from here.
    if (since !== undefined) this.#dirtySince = Math.min(since, this.#dirtySince ?? since);
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
    this.#onApply(this.#lastApply, undefined);
    this.#log.error("Cannot apply the policy table", {
      trigger,
      error,
      attempts: entry.attempts,
      retryInMs: entry.retryAt - now,
    });
    this.#waiters.failed(generation, new Error(`Cannot program policy: ${error}`));
    this.#runs.requestAt("retry", entry.retryAt);
    return error;
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

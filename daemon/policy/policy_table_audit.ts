/**
 * The daemon owns `inet tern`: the audit lists it and compares it with the model in the kernel
 * (`checkPolicyTable`), with the ready marks too; a table that was deleted or changed is logged
 * and a whole table asked for, marks that alone differ are corrected alone (the table's counters
 * survive). Checks run on their own {@linkcode Scheduler}, apart from the policy runs: listing a
 * 10k-element table takes ~0.3 s, which a change must not wait for. So the audit must know when a
 * transaction runs ({@linkcode TableAudit.during}): a listing that a transaction overlapped is not
 * judged (the next check is). The periodic check's period is `intervalMs`, stretched so that
 * listing a large table costs at most about 2% of the time. Between checks, the audit waits for
 * nftables commits (`src/nft_generation.ts`: the kernel tells of each one, and bumps the
 * ruleset's generation id): a commit while no transaction of tern's ran is someone else's and
 * brings the check forward to now. A commit of any table counts, so such checks are spaced to
 * keep them under about 10% of the time (a node whose other tables change often must not list a
 * large table back to back). Tern's own transactions commit too, at most once each: the
 * generation id read after them is taken as tern's, and a window of transactions that moved it
 * further than their number also saw someone else's commit.
 * @module
 */
import { type Clock, realClock } from "../../src/clock.ts";
import { Scheduler } from "../../src/lib/scheduler.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { Nft } from "../../src/nft.ts";
import type { GenerationWatch } from "../../src/nft_generation.ts";
import type { PolicyModel } from "../../src/policy/model.ts";
import type { RenderCache } from "../../src/policy/render.ts";
import { checkPolicyTable } from "../../src/policy/table_check.ts";
import { type ReadyMarks, readyVeths } from "./ready_marks.ts";

/** The table tern owns. */
export const POLICY_TABLE = { family: "inet", name: "tern" } as const;

/** The periodic check's period is at least this many times the last check's duration. */
const CHECK_DUTY = 50;

/** A check for a foreign commit follows the last one by at least this many times its duration. */
const FOREIGN_CHECK_DUTY = 10;

/** What the audit works with. */
export interface TableAuditDeps {
  nft: Pick<Nft, "listTableJson">;
  marks: ReadyMarks;
  /** The model in the kernel; undefined when there is nothing to judge (none yet, or a whole table is due). */
  model: () => PolicyModel | undefined;
  /** The table differs: apply it whole again. */
  restore: () => void;
  /** Only the marks differ: correct them for `model` (in line with the runs), if it is still the kernel's. */
  correctMarks: (model: PolicyModel) => Promise<void>;
  /**
   * The nftables generation id and its commits (an `NftGeneration`). Absent: only the periodic
   * check finds foreign changes.
   */
  generation?: GenerationWatch;
  /** Default `silentLogger`. */
  log?: Logger;
  /** Default {@linkcode realClock}. */
  clock?: Clock;
  /** The rendered objects the transactions keep, so a check renders no pod twice. */
  cache?: RenderCache;
}

/** Counts for status. */
export interface TableAuditStatus {
  checks: number;
  restores: number;
  lastCheck?: number;
  lastRestore?: { at: number; differences: string[] };
}

/** Checks `inet tern` against the model, periodically and after foreign events. */
export class TableAudit {
  readonly #deps: TableAuditDeps;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #scheduler: Scheduler<string[]>;
  #applying = 0;
  /** Transactions started so far: a check judges only a listing no transaction overlapped. */
  #transactions = 0;
  #lastCheckMs = 0;
  #lastCheckEnd = 0;
  /** The generation id last seen, and the one when the current window of transactions began. */
  #generation: number | undefined;
  #windowStart: number | undefined;
  /** Transactions begun in the current window (since `#applying` was last 0). */
  #inWindow = 0;
  /** Ends the wait for commits. */
  #watching: AbortController | undefined;
  #watch: Promise<void> = Promise.resolve();
  #watchBroken = false;
  #status: TableAuditStatus = { checks: 0, restores: 0 };

  /** `options.intervalMs` is the periodic check's shortest period. */
  constructor(deps: TableAuditDeps, options: { intervalMs: number }) {
    this.#deps = deps;
    this.#log = deps.log ?? silentLogger;
    this.#clock = deps.clock ?? realClock;
    this.#scheduler = new Scheduler(() => this.#check(), {
      clock: this.#clock,
      intervalMs: () => Math.max(options.intervalMs, this.#lastCheckMs * CHECK_DUTY),
      onError: (err) => this.#log.warn("Cannot check the policy table", { error: String(err) }),
    });
  }

  /** Starts the periodic check and the wait for commits. */
  start(): void {
    if (this.#scheduler.started) return;
    this.#scheduler.start();
    const generation = this.#deps.generation;
    if (generation === undefined) return;
    if (this.#applying === 0) this.#generation = this.#readGeneration();
    const watching = this.#watching = new AbortController();
    this.#watch = this.#watchCommits(generation, watching.signal);
  }

  /** Stops the timers and the wait for commits, and waits for a check in progress. */
  async stop(): Promise<void> {
    this.#watching?.abort();
    this.#watching = undefined;
    await this.#watch;
    await this.#scheduler.stop();
  }

  /**
   * Runs `transaction` (anything that changes the table or the marks; at most one nftables
   * commit) as one: checks that overlap it are not judged, and the generation id it moves is
   * taken as tern's own.
   */
  async during<T>(transaction: () => Promise<T>): Promise<T> {
    if (this.#applying++ === 0) {
      this.#windowStart = this.#readGeneration();
      this.#inWindow = 0;
    }
    this.#transactions++;
    this.#inWindow++;
    try {
      return await transaction();
    } finally {
      if (--this.#applying === 0) this.#endWindow();
    }
  }

  /** Compares the kernel's table with the model now; returns the differences it acted on. */
  check(): Promise<string[]> {
    return this.#scheduler.runNow("manual");
  }

  /** Checks and restores so far. */
  status(): TableAuditStatus {
    const out: TableAuditStatus = { checks: this.#status.checks, restores: this.#status.restores };
    if (this.#status.lastCheck !== undefined) out.lastCheck = this.#status.lastCheck;
    if (this.#status.lastRestore) out.lastRestore = { ...this.#status.lastRestore };
    return out;
  }

  async #check(): Promise<string[]> {
    const model = this.#deps.model();
    if (model === undefined || this.#applying > 0) return [];
    const transactions = this.#transactions;
    const ready = readyVeths(model);
    const t0 = performance.now();
    const listing = await this.#deps.nft.listTableJson(POLICY_TABLE.family, POLICY_TABLE.name);
    const markDifferences = await this.#deps.marks.differences(ready);
    this.#lastCheckMs = performance.now() - t0;
    this.#lastCheckEnd = this.#clock.now();
    this.#status.checks++;
    this.#status.lastCheck = this.#clock.now();
    // A transaction during the listing: the table may be half old, half new; not judged.
    if (
      this.#deps.model() !== model || this.#applying > 0 || this.#transactions !== transactions
    ) {
      return [];
    }
    const tableDifferences = checkPolicyTable(model, listing, { cache: this.#deps.cache });
    const differences = [...tableDifferences, ...markDifferences];
    if (differences.length === 0) return [];
    this.#status.restores++;
    this.#status.lastRestore = { at: this.#clock.now(), differences };
    if (tableDifferences.length === 0) {
      // Only marks differ: correct them, not the whole table (its counters survive).
      this.#log.warn("Ready marks changed outside tern; correcting them", {
        differences: differences.join("; "),
      });
      await this.#deps.correctMarks(model);
      return differences;
    }
    this.#log.warn("Policy table changed outside tern; applying it whole again", {
      differences: differences.join("; "),
    });
    this.#deps.restore();
    return differences;
  }

  /** The window of transactions ended: what moved the generation beyond them is foreign. */
  #endWindow(): void {
    const start = this.#windowStart;
    const end = this.#readGeneration();
    this.#windowStart = undefined;
    if (end === undefined) return;
    this.#generation = end;
    if (start !== undefined && generationsBetween(start, end) > this.#inWindow) {
      this.#foreignCommit();
    }
  }

  /** Until `signal` aborts: at each commit, one that is not tern's asks for a check. */
  async #watchCommits(generation: GenerationWatch, signal: AbortSignal): Promise<void> {
    for (;;) {
      let more: boolean;
      try {
        more = await generation.commit(signal);
      } catch (err) {
        this.#broken(err);
        return;
      }
      if (!more || signal.aborted || this.#watchBroken) return;
      // During tern's own transactions the window's end judges what moved.
      if (this.#applying > 0) continue;
      const now = this.#readGeneration();
      if (now !== undefined && now !== this.#generation) {
        this.#generation = now;
        this.#foreignCommit();
      }
    }
  }

  /** Someone else committed: check now, or as soon as the spacing of such checks allows. */
  #foreignCommit(): void {
    const earliest = this.#lastCheckEnd + this.#lastCheckMs * FOREIGN_CHECK_DUTY;
    this.#scheduler.requestAt("generation", Math.max(this.#clock.now(), earliest));
  }

  /** The generation id, or undefined when it cannot be read (said once; then only periodic). */
  #readGeneration(): number | undefined {
    if (this.#deps.generation === undefined || this.#watchBroken) return undefined;
    try {
      return this.#deps.generation.read();
    } catch (err) {
      this.#broken(err);
      return undefined;
    }
  }

  #broken(err: unknown): void {
    if (this.#watchBroken) return;
    this.#watchBroken = true;
    this.#log.warn(
      "Cannot follow nftables commits; only the periodic check finds foreign changes",
      {
        error: String(err),
      },
    );
  }
}

/** Commits from generation `from` to `to` (the kernel's counter is 32 bits and wraps). */
export function generationsBetween(from: number, to: number): number {
  return (to - from) >>> 0;
}

/**
 * The daemon owns `inet tern`: the audit lists it and compares it with the model in the kernel
 * (`checkPolicyTable`), with the ready marks too; a table that was deleted or changed is logged
 * and a whole table asked for, marks that alone differ are corrected alone (the table's counters
 * survive). Checks run on their own {@linkcode Scheduler}, apart from the policy runs: listing a
 * 10k-element table takes ~0.3 s, which a change must not wait for. So the audit must know when a
 * transaction runs ({@linkcode TableAudit.during}): a listing that a transaction overlapped is not
 * judged (the next check is), and an `nft monitor` event within 500 ms of tern's own transaction
 * is its echo. The periodic check's period is `intervalMs`, stretched so that listing a large
 * table costs at most about 2% of the time; a foreign event brings the check forward to ~100 ms.
 * @module
 */
import { type Clock, realClock } from "../../src/clock.ts";
import { Scheduler } from "../../src/lib/scheduler.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { Nft } from "../../src/nft.ts";
import type { PolicyModel } from "../../src/policy/model.ts";
import type { RenderCache } from "../../src/policy/render.ts";
import { checkPolicyTable } from "../../src/policy/table_check.ts";
import { type ReadyMarks, readyVeths } from "./ready_marks.ts";

/** The table tern owns. */
export const POLICY_TABLE = { family: "inet", name: "tern" } as const;

/** A table event this soon after one of tern's own transactions is taken as its echo. */
const ECHO_MS = 500;

/** Delay of a check after a table event, so a burst of events makes one check. */
const EVENT_CHECK_MS = 100;

/** The share of time the periodic table check may spend listing (see the module doc). */
const CHECK_DUTY = 50;

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
  #echoUntil = 0;
  #lastCheckMs = 0;
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

  /** Starts the periodic check and serving events. */
  start(): void {
    this.#scheduler.start();
  }

  /** Stops the timers and waits for a check in progress. */
  stop(): Promise<void> {
    return this.#scheduler.stop();
  }

  /**
   * Runs `transaction` (anything that changes the table or the marks) as one: checks that
   * overlap it are not judged, and table events until 500 ms after it are its echo.
   */
  async during<T>(transaction: () => Promise<T>): Promise<T> {
    this.#applying++;
    this.#transactions++;
    try {
      return await transaction();
    } finally {
      this.#applying--;
      this.#echoUntil = this.#clock.now() + ECHO_MS;
    }
  }

  /** Compares the kernel's table with the model now; returns the differences it acted on. */
  check(): Promise<string[]> {
    return this.#scheduler.runNow("manual");
  }

  /**
   * A line of `nft monitor`: a change of `inet tern` that is not the echo of tern's own
   * transaction (none in flight, none ended within 500 ms) brings the check forward to 100 ms
   * from now. Other lines are ignored.
   */
  tableEvent(line: string): void {
    if (!/\binet tern\b/.test(line)) return;
    if (this.#applying > 0 || this.#clock.now() < this.#echoUntil) return;
    this.checkSoon();
  }

  /** Checks the table ~100 ms from now (a burst of calls makes one check). */
  checkSoon(): void {
    this.#scheduler.request("event", EVENT_CHECK_MS);
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
}

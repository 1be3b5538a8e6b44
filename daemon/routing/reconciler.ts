/**
 * The routing reconciler, in the manner of Calico's felix: whatever asks for a pass only marks
 * the state dirty; a pass lists what the kernel has (`ip -json`, tern's protocol only), computes
 * what is wanted (a pure function of endpoints, cluster state and config), diffs, and applies
 * the difference with one `ip -force -batch` (see `batch_apply.ts`). A change that fails stays
 * wanted and is retried with exponential backoff without blocking the others; a change nobody
 * wants any more is forgotten. When passes run is the {@linkcode Scheduler}'s business: requests
 * are coalesced (the earliest due time wins, `debounceMs` by default), passes never overlap, a
 * retry is a request at the backoff's time, and a periodic pass runs `intervalMs` after the last
 * one, so drift nobody reported is found too. Only entries carrying tern's protocol are ever
 * listed, hence ever deleted.
 * @module
 */
import type {
  ReconcileFailure,
  ReconcilePass,
  ReconcileStatus,
  RoutingProblem,
} from "../../src/api.ts";
import type { Ip } from "../../src/ip.ts";
import { type Clock, realClock } from "../../src/clock.ts";
import { Scheduler } from "../../src/lib/scheduler.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { applyLines } from "../../src/batch_apply.ts";
import type { EchoFilter } from "./monitor_echo.ts";
import type { DesiredState } from "../../src/routing/desired_state.ts";
import { planChanges } from "../../src/routing/reconcile_plan.ts";
import { RetryBackoff } from "../../src/lib/retry_backoff.ts";
import { parseRoutes, parseRules, routeListArgs, ruleListArgs } from "../../src/routing/parse.ts";
import type { PeerInfo } from "../../src/routing/peer_routes.ts";

/** What a pass changed of one kind of object. */
export interface ObjectChanges {
  added: number;
  replaced: number;
  deleted: number;
  failed: number;
}

/** A pass as status shows it, plus where its time went (for logs and the benchmark). */
export interface PassResult extends ReconcilePass {
  /** The changes by kind of object (the metrics count them). */
  objects: { route: ObjectChanges; rule: ObjectChanges };
  /** Listing the kernel (both listings run in parallel). */
  listMs: number;
  /** Desired state, diff and rendering. */
  computeMs: number;
  /** Applying the changes. */
  applyMs: number;
  /** `ip` processes that applied changes. */
  applyRuns: number;
  /** Wanted routes and rules. */
  wantedRoutes: number;
  wantedRules: number;
}

/** A pass of `trigger` started at `startedAt` that has done nothing yet: every count is 0. */
export function emptyPass(trigger: string, startedAt: number): PassResult {
  const none = () => ({ added: 0, replaced: 0, deleted: 0, failed: 0 });
  return {
    trigger,
    startedAt,
    durationMs: 0,
    added: 0,
    replaced: 0,
    deleted: 0,
    failed: 0,
    deferred: 0,
    listMs: 0,
    computeMs: 0,
    applyMs: 0,
    applyRuns: 0,
    wantedRoutes: 0,
    wantedRules: 0,
    objects: { route: none(), rule: none() },
  };
}

/** What the reconciler works with. */
export interface ReconcilerDeps {
  ip: Ip;
  /** The desired state now; called after the kernel is listed, in every pass. */
  desired: () => DesiredState;
  /** Default `silentLogger`. */
  log?: Logger;
  /** Told what is about to be applied, and what failed, so `ip monitor` echoes are known. */
  echo?: EchoFilter;
  /** Told of every pass when it ends (the metrics). Default: nobody. */
  onPass?: (pass: PassResult) => void;
}

/** Knobs; every field documents its default. */
export interface ReconcilerOptions {
  /** tern's route protocol. */
  protocol: number;
  /** The periodic pass runs this long after the previous pass. */
  intervalMs: number;
  /** Delay of a pass after a request that names none. Default 50. */
  debounceMs?: number;
  /** Retry waits for failing changes: default 1 s doubling up to 60 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Time and timers. Default {@linkcode realClock}. */
  clock?: Clock;
}

/** Runs passes on request, periodically and for retries. */
export class Reconciler {
  readonly #ip: Ip;
  readonly #desired: () => DesiredState;
  readonly #log: Logger;
  readonly #echo: EchoFilter | undefined;
  readonly #onPass: (pass: PassResult) => void;
  readonly #protocol: number;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #backoff: RetryBackoff;
  readonly #passBackoff: RetryBackoff;
  readonly #scheduler: Scheduler<PassResult>;

  #passes = 0;
  #lastPass: PassResult | undefined;
  #lastChange: PassResult | undefined;
  #ownedRoutes = 0;
  #ownedRules = 0;
  #problems: RoutingProblem[] = [];
  #peers: PeerInfo[] = [];

  /** `deps` are the edges; `options` the timing. Call {@linkcode Reconciler.start} to run. */
  constructor(deps: ReconcilerDeps, options: ReconcilerOptions) {
    this.#ip = deps.ip;
    this.#desired = deps.desired;
    this.#log = deps.log ?? silentLogger;
    this.#echo = deps.echo;
    this.#onPass = deps.onPass ?? (() => {});
    this.#protocol = options.protocol;
    this.#intervalMs = options.intervalMs;
    this.#clock = options.clock ?? realClock;
    this.#backoff = new RetryBackoff(options.backoff);
    this.#passBackoff = new RetryBackoff(options.backoff);
    this.#scheduler = new Scheduler((trigger) => this.#run(trigger), {
      clock: this.#clock,
      delayMs: options.debounceMs ?? 50,
      intervalMs: options.intervalMs,
    });
  }

  /**
   * Runs one pass now (after the one in progress, if any) and returns what it did. It never
   * throws: a pass that cannot list the kernel records the error and is retried with backoff.
   */
  pass(trigger = "manual"): Promise<PassResult> {
    return this.#scheduler.runNow(trigger);
  }

  /**
   * Asks for a pass `delayMs` from now (default `debounceMs`), or sooner if one is already due
   * sooner; `reason` is recorded as the pass's trigger. Ignored until started and after stop.
   */
  request(reason: string, delayMs?: number): void {
    this.#scheduler.request(reason, delayMs);
  }

  /** Starts the periodic pass and serving requests. */
  start(): void {
    this.#scheduler.start();
  }

  /** Stops timers and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.#scheduler.stop();
  }

  /** Status, without the monitor's state (the daemon adds it). */
  status(): Omit<ReconcileStatus, "monitor"> & { problems: RoutingProblem[]; peers: PeerInfo[] } {
    const failing: ReconcileFailure[] = this.#backoff.entries().map(([item, f]) => ({
      item,
      error: f.error,
      attempts: f.attempts,
      since: f.since,
      retryAt: f.retryAt,
    }));
    const out: Omit<ReconcileStatus, "monitor"> & {
      problems: RoutingProblem[];
      peers: PeerInfo[];
    } = {
      passes: this.#passes,
      intervalMs: this.#intervalMs,
      ownedRoutes: this.#ownedRoutes,
      ownedRules: this.#ownedRules,
      failing,
      problems: this.#problems,
      peers: this.#peers,
    };
    if (this.#lastPass) out.lastPass = publicPass(this.#lastPass);
    if (this.#lastChange) out.lastChange = publicPass(this.#lastChange);
    return out;
  }

  async #run(trigger: string): Promise<PassResult> {
    const startedAt = this.#clock.now();
    const t0 = performance.now();
    const result = emptyPass(trigger, startedAt);
    try {
      await this.#reconcile(result, t0);
      this.#passBackoff.succeeded("pass");
    } catch (err) {
      result.error = errorMessage(err);
      const retry = this.#passBackoff.failed("pass", result.error, this.#clock.now());
      this.#log.error("Reconcile pass failed", {
        trigger,
        error: result.error,
        retryInMs: retry.retryAt - this.#clock.now(),
      });
    } finally {
      result.durationMs = Math.round((performance.now() - t0) * 100) / 100;
      this.#passes++;
      this.#lastPass = result;
      if (result.added + result.replaced + result.deleted > 0) this.#lastChange = result;
      this.#requestRetry();
      this.#onPass(result);
    }
    return result;
  }

  async #reconcile(result: PassResult, t0: number): Promise<void> {
    const protocol = this.#protocol;
    // The kernel first, the wanted state second: an endpoint is registered before its routes
    // are installed, so whatever the listing shows of it, the registry read after knows.
    const [routeJson, ruleJson] = await Promise.all([
      this.#ip.json<unknown>(routeListArgs(protocol)),
      this.#ip.json<unknown>(ruleListArgs()),
    ]);
    const have = {
      routes: parseRoutes(routeJson, { protocol }),
      rules: parseRules(ruleJson, { protocol }),
    };
    const t1 = performance.now();
    result.listMs = round(t1 - t0);
    const want = this.#desired();
    const plan = planChanges(have, want, { protocol });
    result.wantedRoutes = want.routes.length;
    result.wantedRules = want.rules.length;
    this.#peers = want.peers;
    this.#reportProblems(want.problems);

    const now = this.#clock.now();
    this.#backoff.retain(new Set(plan.items.map((i) => i.line)));
    // A netlink event means the kernel changed (a device came up, an address was added): what
    // kept failing may work now, so its backoff does not hold it back this time.
    const eager = result.trigger.split(",").includes("monitor");
    const attempt = plan.items.filter((i) => eager || this.#backoff.due(i.line, now));
    result.deferred = plan.items.length - attempt.length;
    const t2 = performance.now();
    result.computeMs = round(t2 - t1);

    const lines = attempt.map((i) => i.line);
    this.#echo?.expect(lines);
    const applied = await applyLines(this.#ip, lines);
    this.#echo?.forget(applied.failed.map((f) => f.line));
    result.applyRuns = applied.runs;
    result.applyMs = round(performance.now() - t2);
    const failed = new Map(applied.failed.map((f) => [f.index, f.error]));
    let loudFailures = 0;
    let routes = have.routes.length;
    let rules = have.rules.length;
    for (const [index, item] of attempt.entries()) {
      const error = failed.get(index);
      const counts = result.objects[item.what];
      if (error !== undefined) {
        result.failed++;
        counts.failed++;
        const entry = this.#backoff.failed(item.line, error, this.#clock.now());
        // A route to a veth a DEL has just deleted (the plugin deletes the pair, then asks the
        // daemon to forget the endpoint): expected for a moment, a warning only if it lasts.
        const level = missingDevice(error) && entry.attempts < MISSING_DEVICE_WARN_AFTER
          ? "debug"
          : "warn";
        if (level === "warn") loudFailures++;
        this.#log[level]("Cannot apply change", {
          item: item.line,
          error,
          attempts: entry.attempts,
          retryInMs: entry.retryAt - this.#clock.now(),
        });
        continue;
      }
      this.#backoff.succeeded(item.line);
      this.#log.debug("Applied change", { item: item.line });
      if (item.action === "add") {
        result.added++;
        counts.added++;
      } else if (item.action === "delete") {
        result.deleted++;
        counts.deleted++;
      } else if (item.delta >= 0) { // a changed rule's old side is not counted twice
        result.replaced++;
        counts.replaced++;
      }
      if (item.what === "route") routes += item.delta;
      else rules += item.delta;
    }
    this.#ownedRoutes = routes;
    this.#ownedRules = rules;
    const changed = result.added + result.replaced + result.deleted;
    const summary = {
      trigger: result.trigger,
      added: result.added,
      replaced: result.replaced,
      deleted: result.deleted,
      failed: result.failed,
      deferred: result.deferred,
      ownedRoutes: routes,
      ownedRules: rules,
      ms: round(performance.now() - t0),
    };
    if (changed > 0 || loudFailures > 0) this.#log.info("Reconciled", summary);
    else this.#log.debug("Reconciled", summary);
  }

  #reportProblems(problems: readonly RoutingProblem[]): void {
    const before = new Set(this.#problems.map((p) => p.message));
    const now = new Set(problems.map((p) => p.message));
    for (const p of problems) {
      if (!before.has(p.message)) this.#log.warn(p.message, { kind: p.kind });
    }
    for (const p of this.#problems) {
      if (!now.has(p.message)) this.#log.info("Problem resolved", { was: p.message });
    }
    this.#problems = problems.map(({ kind, message }) => ({ kind, message }));
  }

  /** Asks for a pass when the first failing change (or the failed pass) may be tried again. */
  #requestRetry(): void {
    const retryAt = [this.#backoff.nextRetryAt(), this.#passBackoff.nextRetryAt()]
      .filter((t): t is number => t !== undefined)
      .reduce<number | undefined>((a, b) => a === undefined ? b : Math.min(a, b), undefined);
    if (retryAt !== undefined) this.#scheduler.requestAt("retry", retryAt);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function publicPass(pass: PassResult): ReconcilePass {
  const out: ReconcilePass = {
    trigger: pass.trigger,
    startedAt: pass.startedAt,
    durationMs: pass.durationMs,
    added: pass.added,
    replaced: pass.replaced,
    deleted: pass.deleted,
    failed: pass.failed,
    deferred: pass.deferred,
  };
  if (pass.error !== undefined) out.error = pass.error;
  return out;
}

/** Failures of a change whose device is missing before they are warned about (~3 s of retries). */
export const MISSING_DEVICE_WARN_AFTER = 3;

/** Whether `ip` failed a change because its device does not exist (`Cannot find device "x"`). */
export function missingDevice(error: string): boolean {
  return /Cannot find device/.test(error);
}

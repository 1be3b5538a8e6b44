/**
 * "Mark dirty, apply later", written once: whatever notices a change calls
 * {@linkcode Scheduler.request} with a reason and a delay; requests are coalesced (the earliest
 * due time wins, the reasons ride along and become the run's trigger, sorted and joined by ",");
 * runs never overlap (a request made during a run is served after it, and
 * {@linkcode Scheduler.serial} puts other work in the same line); a periodic run follows
 * `intervalMs` after the last run, so drift nobody reported is found too. Retries are requests
 * too: a run that failed asks for the next attempt with {@linkcode Scheduler.requestAt} at the time
 * its backoff (`RetryBackoff`) names. Time comes from an injected {@linkcode Clock}, so tests
 * drive it with a `FakeClock` instead of sleeping. The routing reconciler, the policy manager (its
 * runs and its table checks) and the `files` cluster source each run on one.
 * @module
 */
import { type Clock, realClock, type TimerHandle } from "../clock.ts";

/** Knobs of a {@linkcode Scheduler}; every field documents its default. */
export interface SchedulerOptions {
  /** Timers and the time. Default {@linkcode realClock}. */
  clock?: Clock;
  /** Delay of a request that names none. Default 0. */
  delayMs?: number;
  /**
   * A periodic run follows this long after the end of the last run (read after every run, so it
   * may change). Default none: runs happen only on request.
   */
  intervalMs?: number | (() => number);
  /** The trigger of a periodic run. Default `"periodic"`. */
  periodicReason?: string;
  /** Told when a run started by a timer throws. Default: ignored. */
  onError?: (err: unknown) => void;
}

/** Runs `run(trigger)` on request, periodically and for retries, one run at a time. */
export class Scheduler<T = void> {
  readonly #run: (trigger: string) => Promise<T>;
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #intervalMs: (() => number) | undefined;
  readonly #periodicReason: string;
  readonly #onError: (err: unknown) => void;

  #tail: Promise<unknown> = Promise.resolve();
  #started = false;
  #running = 0;
  #reasons = new Set<string>();
  /** When the armed timer fires. */
  #due: number | undefined;
  /** The earliest request made during a run: armed when it ends. */
  #deferred: number | undefined;
  /** {@linkcode Scheduler.hurry} came during a run: the next run starts as that one ends. */
  #hurried = false;
  #timer: TimerHandle | undefined;
  #periodic: TimerHandle | undefined;

  /** `run` does the work; its argument is the trigger (the reasons of the requests it serves). */
  constructor(run: (trigger: string) => Promise<T>, options: SchedulerOptions = {}) {
    this.#run = run;
    this.#clock = options.clock ?? realClock;
    this.#delayMs = options.delayMs ?? 0;
    const interval = options.intervalMs;
    this.#intervalMs = typeof interval === "number" ? () => interval : interval;
    this.#periodicReason = options.periodicReason ?? "periodic";
    this.#onError = options.onError ?? (() => {});
  }

  /** Whether requests are served: after {@linkcode Scheduler.start}, until `stop()`. */
  get started(): boolean {
    return this.#started;
  }

  /** Whether a run or a serial task is in progress. */
  get running(): boolean {
    return this.#running > 0;
  }

  /** Starts serving requests and the periodic run. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#armPeriodic();
  }

  /** Stops the timers, forgets pending requests and waits for the run in progress. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#periodic !== undefined) this.#clock.clearTimeout(this.#periodic);
    this.#timer = undefined;
    this.#periodic = undefined;
    this.#due = undefined;
    this.#deferred = undefined;
    this.#hurried = false;
    this.#reasons.clear();
    await this.#tail;
  }

  /**
   * Asks for a run `delayMs` from now (default `delayMs` of the options), or sooner if one is
   * already due sooner. Ignored before `start()` and after `stop()`.
   */
  request(reason: string, delayMs: number = this.#delayMs): void {
    this.requestAt(reason, this.#clock.now() + Math.max(0, delayMs));
  }

  /** Asks for a run at `at` (ms since the epoch), or sooner if one is due sooner. */
  requestAt(reason: string, at: number): void {
    if (!this.#started) return;
    this.#reasons.add(reason);
    this.#arm(at);
  }

  /**
   * Brings a pending run forward to now (an ADD waits on it); without a pending request, nothing
   * happens. The run in progress, if any, still ends first. Started without a timer: a timer of
   * 0 ms fires ~2 ms later in Deno, on the critical path of every ADD.
   */
  hurry(): void {
    if (!this.#started || (this.#timer === undefined && this.#deferred === undefined)) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due = undefined;
    if (this.#running > 0) {
      this.#deferred = this.#clock.now();
      this.#hurried = true;
      return;
    }
    this.#deferred = undefined;
    this.#fire();
  }

  /**
   * Runs now, after the run in progress (if any), with `trigger`; returns what the run returned.
   * Pending requests stay pending: they may have come after what this run reads.
   */
  runNow(trigger: string): Promise<T> {
    return this.serial(() => this.#runAndRearm(trigger));
  }

  /** Runs `task` in the same line as the runs: never beside one. */
  serial<U>(task: () => Promise<U>): Promise<U> {
    const body = async () => {
      this.#running++;
      try {
        return await task();
      } finally {
        this.#running--;
        if (this.#running === 0) this.#afterRun();
      }
    };
    const result = this.#tail.then(body, body);
    this.#tail = result.catch(() => {});
    return result;
  }

  async #runAndRearm(trigger: string): Promise<T> {
    try {
      return await this.#run(trigger);
    } finally {
      this.#armPeriodic();
    }
  }

  #arm(due: number): void {
    if (this.#running > 0) {
      // Served when the run in progress ends.
      this.#deferred = this.#deferred === undefined ? due : Math.min(this.#deferred, due);
      return;
    }
    if (this.#timer !== undefined && this.#due !== undefined && this.#due <= due) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#due = due;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, due - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#due = undefined;
    if (!this.#started) return;
    this.#hurried = false;
    const trigger = [...this.#reasons].sort().join(",") || "request";
    this.#reasons.clear();
    this.runNow(trigger).catch(this.#onError);
  }

  #afterRun(): void {
    const deferred = this.#deferred;
    const hurried = this.#hurried;
    this.#deferred = undefined;
    this.#hurried = false;
    if (!this.#started || deferred === undefined) return;
    if (hurried) this.#fire();
    else this.#arm(deferred);
  }

  #armPeriodic(): void {
    if (this.#periodic !== undefined) this.#clock.clearTimeout(this.#periodic);
    this.#periodic = undefined;
    if (!this.#started || this.#intervalMs === undefined) return;
    this.#periodic = this.#clock.setTimeout(() => {
      this.#periodic = undefined;
      if (this.#started) this.runNow(this.#periodicReason).catch(this.#onError);
    }, this.#intervalMs());
  }
}

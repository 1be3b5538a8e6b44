/**
 * Request-level faults of the fake API server: `429 TooManyRequests` with `Retry-After` (what API
 * Priority and Fairness answers when a priority level's queues are full; the API conventions say a
 * client should wait that long), slow responses, and list responses cut halfway. Each applies to
 * the next N API requests, or (429 only) to a seeded random share of them. Watch faults live on
 * {@linkcode WatchHub}.
 * @module
 */

import { ApiError } from "./status.ts";
import { seededRandomFunction } from "../chaos/seeded_random.ts";

/** What a request is to suffer. */
export interface RequestFault {
  /** Wait this long before answering. */
  delayMs: number;
  /** Answer with this error instead. */
  reject?: ApiError;
  /** Cut a list body halfway. */
  cut: boolean;
}

/** Options of {@linkcode Faults.throttle}. */
export interface ThrottleOptions {
  /** The next `count` requests get a 429. */
  count?: number;
  /** Each request gets a 429 with this probability (0..1) until cleared. */
  rate?: number;
  /** The `Retry-After` header and `details.retryAfterSeconds` (default 1). */
  retryAfterSeconds?: number;
}

/** Options of {@linkcode Faults.slow}. */
export interface SlowOptions {
  /** Added latency. */
  delayMs: number;
  /** For the next `count` requests (default: until cleared). */
  count?: number;
}

/** The request faults in force; see the module documentation. */
export class Faults {
  #throttleCount = 0;
  #throttleRate = 0;
  #retryAfter = 1;
  #delayMs = 0;
  #delayCount = Infinity;
  #cutLists = 0;
  #random: () => number;
  /** How many requests got a 429 so far. */
  throttled = 0;

  /** `seed` makes the random share of {@linkcode throttle} reproducible (default 1). */
  constructor(seed = 1) {
    this.#random = seededRandomFunction(seed);
  }

  /** Answers 429 with Retry-After to the next `count` requests or a `rate` of them. */
  throttle(options: ThrottleOptions): void {
    this.#throttleCount = options.count ?? 0;
    this.#throttleRate = options.rate ?? 0;
    this.#retryAfter = options.retryAfterSeconds ?? 1;
  }

  /** Delays requests. */
  slow(options: SlowOptions): void {
    this.#delayMs = options.delayMs;
    this.#delayCount = options.count ?? Infinity;
  }

  /** Cuts the body of the next `count` list responses halfway (the connection breaks). */
  cutLists(count: number): void {
    this.#cutLists = count;
  }

  /** Removes every request fault. */
  clear(): void {
    this.#throttleCount =
      this.#throttleRate =
      this.#delayMs =
      this.#cutLists =
        0;
    this.#delayCount = Infinity;
  }

  /** Decides the fault of one request (consuming counts). */
  next(isList: boolean): RequestFault {
    const fault: RequestFault = { delayMs: 0, cut: false };
    if (this.#delayMs > 0 && this.#delayCount > 0) {
      fault.delayMs = this.#delayMs;
      if (--this.#delayCount === 0) this.#delayMs = 0;
    }
    let reject = false;
    if (this.#throttleCount > 0) {
      this.#throttleCount--;
      reject = true;
    } else if (this.#throttleRate > 0 && this.#random() < this.#throttleRate) reject = true;
    if (reject) {
      this.throttled++;
      fault.reject = new ApiError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        { retryAfterSeconds: this.#retryAfter },
        { "Retry-After": String(this.#retryAfter) },
      );
    } else if (isList && this.#cutLists > 0) {
      this.#cutLists--;
      fault.cut = true;
    }
    return fault;
  }
}

/**
 * Polling with a deadline, for kernel tests that wait on a condition another process brings
 * about (a daemon's reconcile pass, a watch event): never a fixed sleep. {@linkcode pollUntil}
 * retries a check until it returns a value other than `undefined` or `false`, and fails with the
 * last observed state when the deadline passes.
 * @module
 */

/** Thrown when the condition did not hold before the deadline. */
export class PollTimeoutError extends Error {
  /** What the last check saw, for the message. */
  readonly last: unknown;

  /** `what` names the condition; `last` is the last value seen. */
  constructor(what: string, timeoutMs: number, last: unknown) {
    super(`Timed out after ${timeoutMs} ms waiting for ${what}: last seen ${describe(last)}`);
    this.name = "PollTimeoutError";
    this.last = last;
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Calls `check` every `intervalMs` (default 50) until it returns something other than
 * `undefined` or `false`, and returns that value with the time it took. A check that throws
 * counts as "not yet" (its error is reported on timeout). `timeoutMs` defaults to 5000; `what`
 * names the condition in the error; `lastSeen` (optional) describes the state on timeout.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: { what: string; timeoutMs?: number; intervalMs?: number; lastSeen?: () => unknown },
): Promise<{ value: T; ms: number }> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 50;
  const start = performance.now();
  let last: unknown;
  while (true) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) {
        return { value: value as T, ms: performance.now() - start };
      }
      last = value;
    } catch (err) {
      last = err;
    }
    if (performance.now() - start >= timeoutMs) {
      throw new PollTimeoutError(
        options.what,
        timeoutMs,
        options.lastSeen ? await options.lastSeen() : last,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * What stops the daemon: SIGTERM, SIGINT, or (for tests) an `AbortSignal`. One signal aborts on
 * the first of them, with a reason that says so; `stop()` removes the signal listeners.
 * @module
 */

/** The daemon's stop switch. */
export interface StopSignals {
  /** Aborted by SIGTERM, SIGINT or the extra signal. */
  readonly signal: AbortSignal;
  /** Resolves with why the daemon stops, once it must. */
  readonly stopped: Promise<string>;
  /** Removes the signal listeners. */
  stop(): Promise<void>;
}

const SIGNALS: Deno.Signal[] = ["SIGTERM", "SIGINT"];

/** Listens for SIGTERM and SIGINT (and `extra`, when given). */
export function listenForStop(extra?: AbortSignal): StopSignals {
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error("Stopped by a signal during start-up"));
  for (const signal of SIGNALS) Deno.addSignalListener(signal, onSignal);
  extra?.addEventListener(
    "abort",
    () => controller.abort(new Error("Stopped during start-up")),
    { once: true },
  );
  const stopped = Promise.withResolvers<string>();
  if (controller.signal.aborted) stopped.resolve("signal");
  controller.signal.addEventListener("abort", () => stopped.resolve("signal"), { once: true });
  return {
    signal: controller.signal,
    stopped: stopped.promise,
    stop() {
      for (const signal of SIGNALS) Deno.removeSignalListener(signal, onSignal);
      return Promise.resolve();
    },
  };
}

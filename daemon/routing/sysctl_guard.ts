/**
 * Keeps the sysctls tern sets from drifting: IPv4 forwarding (every pod's traffic to or from
 * another node stops without it) and strict `rp_filter` on the host veths (which keeps a pod from
 * spoofing another's address). Turning them off raises no event that `ip monitor route rule link`
 * reports, so a periodic check puts them back, every `reconcile.interval`, beside the routing
 * reconciler's periodic pass; each repair is logged as a warning. The chaos battery's drift
 * scenario found both left off for good before this.
 * @module
 */
import { type Clock, realClock } from "../../src/clock.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { Scheduler } from "../../src/lib/scheduler.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { Dataplane } from "./dataplane.ts";

/** Starts the periodic check; `stop()` ends it and waits for a check in progress. */
export function startSysctlGuard(
  dataplane: Pick<Dataplane, "repairSysctls">,
  options: { intervalMs: number; clock?: Clock; log?: Logger },
): { stop(): Promise<void> } {
  const log = options.log ?? silentLogger;
  const scheduler = new Scheduler(async () => {
    try {
      const repaired = await dataplane.repairSysctls();
      if (repaired.length > 0) {
        log.warn("Repaired drifted sysctls", { sysctls: repaired.join(",") });
      }
    } catch (err) {
      log.warn("Cannot repair sysctls", { error: errorMessage(err) });
    }
  }, { intervalMs: options.intervalMs, clock: options.clock ?? realClock });
  scheduler.start();
  return { stop: () => scheduler.stop() };
}

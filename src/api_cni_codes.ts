/**
 * Which CNI error code the plugin returns when the daemon refuses a request for a given
 * {@linkcode ApiReason}: a transient condition (no free address, a daemon starting, stopping or
 * failing) is 11 so that the runtime retries; an attachment the daemon does not know is 3; a
 * refused request is 7. The plugin's `daemon_failure.ts` decides it; the daemon's metrics label
 * failed commands with the same code, and a test in `plugin/` keeps the two equal. Pure.
 * @module
 */
import type { ApiReason } from "./api.ts";
import { CniCode } from "./cni_error.ts";

/** The CNI error code the plugin returns for a request the daemon refused with `reason`. */
export function cniCodeOfReason(reason: ApiReason): number {
  switch (reason) {
    case "exhausted":
    case "unavailable":
    case "internal":
      return CniCode.TryAgainLater;
    case "not_found":
      return CniCode.UnknownContainer;
    case "exists":
      return CniCode.InvalidEnvironment;
    default:
      return CniCode.InvalidConfig;
  }
}

/**
 * How a failed daemon request becomes a CNI error. An unreachable daemon and an exhausted pool
 * are transient (code 11, so the runtime retries); a refused request keeps the daemon's message.
 * @module
 */
import { CniCode, CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { errorMessage } from "../src/lib/errors.ts";

/** The CNI error for `err`, thrown by the daemon client while doing `action` (`allocate`, …). */
export function daemonFailure(err: unknown, action: string): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof DaemonUnavailableError) {
    return new CniError(
      CniCode.TryAgainLater,
      `Daemon unavailable: ${err.message}`,
      `ternd must be running and listening on ${err.socketPath} (systemctl status ternd)`,
    );
  }
  if (err instanceof DaemonApiError) {
    switch (err.reason) {
      case "exhausted":
        return new CniError(
          CniCode.TryAgainLater,
          `No free pod address on this node: ${err.message}`,
          "every address of the node's pod CIDRs is in use; see `tern ipam ls`",
        );
      case "unavailable":
      case "internal":
        return new CniError(CniCode.TryAgainLater, `Daemon failed to ${action}: ${err.message}`);
      case "not_found":
        return new CniError(CniCode.UnknownContainer, `Daemon failed to ${action}: ${err.message}`);
      case "exists":
        // The identity the runtime passed is in use: its own message, as for a veth made here.
        return new CniError(
          CniCode.InvalidEnvironment,
          err.message,
          "DEL the attachment before adding it again",
        );
      default:
        return new CniError(CniCode.InvalidConfig, `Daemon refused to ${action}: ${err.message}`);
    }
  }
  return new CniError(
    CniCode.IoFailure,
    `Daemon failed to ${action}: ${errorMessage(err)}`,
  );
}

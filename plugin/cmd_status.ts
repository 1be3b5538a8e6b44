/**
 * CNI STATUS: whether the plugin is ready to ADD. Ready means the daemon answers, says it is
 * ready, and has at least one free address; otherwise code 50 (not available) or 51 (no
 * addresses).
 * @module
 */
import type { StatusResponse } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { DaemonUnavailableError } from "../src/daemon_client.ts";
import { errorMessage } from "../src/lib/errors.ts";
import type { CommandContext } from "./_context.ts";
import type { NetworkEnv } from "./env.ts";

/** Runs STATUS; resolves when ready, throws {@linkcode CniError} 50 or 51 otherwise. */
export async function cmdStatus(ctx: CommandContext<NetworkEnv>): Promise<void> {
  const { conf, daemon, log } = ctx;
  let status: StatusResponse;
  try {
    status = await daemon.status();
  } catch (err) {
    const text = errorMessage(err);
    throw new CniError(
      CniCode.PluginNotAvailable,
      err instanceof DaemonUnavailableError
        ? `Daemon not available: ${text}`
        : `Daemon not available: ternd at ${conf.daemonSocket} failed to report status: ${text}`,
    );
  }
  if (!status.ready) {
    const why = status.cluster?.refused ?? status.starting;
    throw new CniError(
      CniCode.PluginNotAvailable,
      `Daemon not available: ternd at ${conf.daemonSocket} is not ready${
        why !== undefined ? `: ${why}` : ""
      }`,
    );
  }
  if (status.free <= 0) {
    const pools = status.pools.map((p) => `${p.cidr} ${p.used}/${p.capacity} used`).join(", ");
    throw new CniError(
      CniCode.NoAddressesAvailable,
      `No pod addresses available on node ${status.node}: ${pools || "no pod CIDR configured"}`,
    );
  }
  log.debug("Status ready", { free: status.free, endpoints: status.endpoints });
}

/**
 * CNI DEL, idempotent: whatever is already gone (the netns, the veth, the daemon's record) is
 * success. The host veth goes first (deleting it removes its pod end and its host route), then
 * the daemon releases the attachment, so the address is never free while a route still points
 * at the old pod. An unreachable daemon still gets the veth deleted, then fails with code 11 so
 * the runtime retries and the address does not leak silently.
 * @module
 */
import type { ReleaseResponse } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { DaemonApiError } from "../src/daemon_client.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { hostVethName } from "../src/names.ts";
import type { CommandContext } from "./_context.ts";
import { daemonFailure } from "./daemon_failure.ts";
import type { DelEnv } from "./env.ts";

/** Runs DEL; resolves when the attachment is gone, throws a {@linkcode CniError} otherwise. */
export async function cmdDel(ctx: CommandContext<DelEnv>): Promise<void> {
  const { env, conf, links, daemon, log } = ctx;
  const hostVeth = await hostVethName(env.containerId, env.ifname);
  const fields = { containerID: env.containerId, ifname: env.ifname, hostVeth };
  let vethFailure: CniError | undefined;
  let daemonError: CniError | undefined;

  try {
    const deleted = await links.deleteHostVeth(hostVeth);
    if (deleted) log.debug("Deleted host veth", fields);
  } catch (err) {
    vethFailure = new CniError(CniCode.IoFailure, errorMessage(err));
  }

  let released: ReleaseResponse | undefined;
  try {
    released = await daemon.release({
      containerID: env.containerId,
      ifname: env.ifname,
      network: conf.name,
    });
  } catch (err) {
    if (!(err instanceof DaemonApiError && err.reason === "not_found")) {
      daemonError = daemonFailure(err, "release the attachment");
    }
  }

  // The daemon's error decides the code (11 asks the runtime to retry); a veth that could not
  // be deleted either is reported in the details.
  const failure = daemonError === undefined || vethFailure === undefined
    ? daemonError ?? vethFailure
    : new CniError(daemonError.code, daemonError.message, vethFailure.message);
  if (failure !== undefined) {
    log.error("Delete failed", { ...fields, error: failure.message });
    throw failure;
  }
  log.info("Deleted", { ...fields, ip: released?.released ? released.ip : undefined });
}

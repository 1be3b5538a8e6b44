/**
 * CNI DEL, idempotent: whatever is already gone (the netns, the veth, the daemon's record) is
 * success. One request asks the daemon to release the attachment: it deletes the host veth
 * (which removes its pod end and its host route) and only then frees the address, so the address
 * is never free while a route still points at the old pod. When the daemon has no record, or
 * cannot answer, the plugin deletes the veth itself. When the daemon cannot take the release
 * (unreachable, starting or stopping) and the veth is gone, the release goes into the durable
 * DEL queue that the daemon drains at start (`src/release_queue.ts`) and DEL succeeds, so a pod
 * never stays in Terminating because ternd is down. Anything else the daemon fails with is code
 * 11, for the runtime to retry.
 * @module
 */
import type { ReleaseResponse } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { hostVethName } from "../src/names.ts";
import { type QueuedRelease, writeQueuedRelease } from "../src/release_queue.ts";
import type { CommandContext } from "./_context.ts";
import { daemonFailure } from "./daemon_failure.ts";
import type { DelEnv } from "./env.ts";

/** Options of {@linkcode cmdDel}; the defaults are the real clock and queue. */
export interface DelOptions {
  /** Writes a queued release durably into `dir`. Default {@linkcode writeQueuedRelease}. */
  queueRelease?: (dir: string, record: QueuedRelease) => Promise<void>;
  /** ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** Whether `err` says the daemon cannot take a request now (rather than refusing or failing it). */
function daemonAway(err: unknown): boolean {
  return err instanceof DaemonUnavailableError ||
    (err instanceof DaemonApiError && err.reason === "unavailable");
}

/** Runs DEL; resolves when the attachment is gone, throws a {@linkcode CniError} otherwise. */
export async function cmdDel(ctx: CommandContext<DelEnv>, options: DelOptions = {}): Promise<void> {
  const { env, conf, links, daemon, log } = ctx;
  const started = performance.now();
  const hostVeth = await hostVethName(env.containerId, env.ifname);
  const fields = { containerID: env.containerId, ifname: env.ifname, hostVeth };
  const phases: Record<string, number> = {};

  // The daemon deletes the veth itself before it frees the address, and answers as soon as the
  // kernel has unlisted it: the kernel's request returns 15-25 ms later, and that wait stays in
  // the daemon (a process exits only once all its threads have, so the plugin could not leave
  // it behind).
  let t = performance.now();
  let released: ReleaseResponse | undefined;
  let daemonErr: unknown;
  try {
    released = await daemon.release({
      containerID: env.containerId,
      ifname: env.ifname,
      network: conf.name,
    });
  } catch (err) {
    if (err instanceof DaemonApiError && err.reason === "not_found") released = { released: false };
    else daemonErr = err;
  }
  phases.releaseMs = round(performance.now() - t);

  // The daemon had nothing to release (so deleted nothing), or could not answer: the veth is this
  // DEL's to delete.
  let vethFailure: CniError | undefined;
  if (released?.released !== true) {
    t = performance.now();
    try {
      const deleted = await links.deleteHostVeth(hostVeth);
      if (deleted) log.debug("Deleted host veth", fields);
    } catch (err) {
      vethFailure = new CniError(CniCode.IoFailure, errorMessage(err));
    }
    phases.vethMs = round(performance.now() - t);
  }

  let daemonError: CniError | undefined;
  if (daemonErr !== undefined) {
    if (daemonAway(daemonErr) && vethFailure === undefined) {
      // The veth, and with it the host route, is gone: the address may wait for the daemon.
      const record: QueuedRelease = {
        containerID: env.containerId,
        ifname: env.ifname,
        network: conf.name,
        queuedAt: (options.now ?? Date.now)(),
      };
      try {
        await (options.queueRelease ?? writeQueuedRelease)(conf.releaseQueueDir, record);
        log.warn("Daemon unavailable: release queued for its start", {
          ...fields,
          queue: conf.releaseQueueDir,
          error: errorMessage(daemonErr),
        });
        return;
      } catch (queueErr) {
        const failure = daemonFailure(daemonErr, "release the attachment");
        daemonError = new CniError(
          failure.code,
          failure.message,
          `Cannot queue the release in ${conf.releaseQueueDir}: ${errorMessage(queueErr)}`,
        );
      }
    } else {
      daemonError = daemonFailure(daemonErr, "release the attachment");
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
  // delMs: the whole command, the part of a CNI call after start-up (the bench reads it).
  phases.delMs = round(performance.now() - started);
  log.info("Deleted", {
    ...fields,
    ip: released?.released ? released.ip : undefined,
    ...phases,
  });
}

/** Milliseconds to a tenth. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * CNI GC: the runtime names every attachment that is still valid; the daemon releases the
 * network's other attachments (host route, veth, address) and tern logs each release.
 * @module
 */
import type { GcResponse } from "../src/api.ts";
import type { CommandContext } from "./_context.ts";
import { daemonFailure } from "./daemon_failure.ts";
import type { NetworkEnv } from "./env.ts";

/** Runs GC and returns what the daemon released. Throws a CniError (11 when the daemon is down). */
export async function cmdGc(ctx: CommandContext<NetworkEnv>): Promise<GcResponse> {
  const { conf, daemon, log } = ctx;
  const valid = conf.validAttachments ?? [];
  let response: GcResponse;
  try {
    response = await daemon.gc({ network: conf.name, valid });
  } catch (err) {
    throw daemonFailure(err, "collect garbage");
  }
  for (const item of response.released) {
    log.info("GC released a stale attachment", {
      network: conf.name,
      containerID: item.containerID,
      ifname: item.ifname,
      ip: item.ip,
    });
  }
  log.info("GC done", {
    network: conf.name,
    valid: valid.length,
    released: response.released.length,
  });
  return response;
}

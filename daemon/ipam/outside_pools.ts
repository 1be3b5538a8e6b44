/**
 * The start-up guard for pod CIDRs that changed under live pods: an address held outside the
 * configured podCIDRs means the config lost a CIDR that pods still use. The daemon refuses to
 * start, naming each allocation and what to do, unless the operator asked (with
 * `--release-outside-pools`) to release them, which tears each one down and logs it.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { HostDataplane } from "../routing/dataplane.ts";
import type { Ipam } from "./ipam.ts";

/** The flag that lets the daemon release allocations outside its pod CIDRs. */
export const RELEASE_OUTSIDE_POOLS_FLAG = "--release-outside-pools";

/** Live allocations lie outside the configured pod CIDRs and were not to be released. */
export class OutsidePoolsError extends Error {
  /** The allocations found. */
  readonly endpoints: readonly Endpoint[];

  /** Names each allocation, the pools, and the two ways out. */
  constructor(
    endpoints: readonly Endpoint[],
    options: { podCIDRs: readonly string[]; configFile: string },
  ) {
    const list = endpoints.map((ep) =>
      `${ep.ip} (containerID ${ep.containerID}, ifname ${ep.ifname})`
    ).join(", ");
    super(
      `Refusing to start: ${endpoints.length} live allocation${
        endpoints.length === 1 ? " is" : "s are"
      } outside podCIDRs ${options.podCIDRs.join(", ")}: ${list}: restore the podCIDRs that held ${
        endpoints.length === 1 ? "it" : "them"
      } in ${options.configFile}, or start once with ${RELEASE_OUTSIDE_POOLS_FLAG} to release ${
        endpoints.length === 1 ? "it" : "them"
      } (those pods lose their addresses)`,
    );
    this.name = "OutsidePoolsError";
    this.endpoints = endpoints;
  }
}

/**
 * Checks for allocations outside the pools. With `options.release` it tears each one down and
 * frees it, logging each, and returns them; otherwise it throws {@linkcode OutsidePoolsError}
 * when there is any.
 */
export async function checkOutsidePools(
  ipam: Ipam,
  options: {
    dataplane: HostDataplane;
    podCIDRs: readonly string[];
    configFile: string;
    release?: boolean;
    log?: Logger;
  },
): Promise<Endpoint[]> {
  const log = options.log ?? silentLogger;
  const outside = await ipam.outsidePools();
  if (outside.length === 0) return [];
  if (!options.release) throw new OutsidePoolsError(outside, options);
  for (const ep of outside) {
    await options.dataplane.removeEndpoint(ep);
    await ipam.release(ep);
    log.warn("Released address", {
      ip: ep.ip,
      containerID: ep.containerID,
      ifname: ep.ifname,
      reason: `outside podCIDRs (${RELEASE_OUTSIDE_POOLS_FLAG})`,
    });
  }
  return outside;
}

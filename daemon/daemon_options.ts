/**
 * What tests (and nothing else) inject into the daemon: the edges to the kernel and the system.
 * Every default is the real thing.
 * @module
 */
import type { GenerationWatch } from "../src/nft_generation.ts";
import type { Runner } from "../src/runner.ts";
import type { Spawner } from "../src/lib/process_monitor.ts";

/** Injection points for tests; the defaults are the real system. */
export interface DaemonOptions {
  /** Runs `ip`. Default: the real runner. */
  runner?: Runner;
  /** Runs `nft`. Default: `runner` when given, else the real runner. */
  nftRunner?: Runner;
  /** Where each veth's `rp_filter` is set. Default: `IPV4_CONF_DIR` of `dataplane.ts`. */
  rpFilterDir?: string;
  /** Starts `ip monitor`. Default: the real spawner. */
  spawn?: Spawner;
  /**
   * The nftables generation id and its commits (with `reconcile.monitor` and policy). Default:
   * an `NftGeneration` in the daemon's namespace.
   */
  nftGeneration?: GenerationWatch;
  /** The IPv4 forwarding switch. Default: `/proc/sys/net/ipv4/ip_forward`. */
  ipForwardPath?: string;
  /** Default node name when the config sets none. Default: `Deno.hostname`. */
  hostname?: () => string;
  /** Stops the daemon like SIGTERM does, in addition to the real signals. */
  stop?: AbortSignal;
  /** Called once the API is served (tests wait for it). */
  onReady?: () => void;
}

/**
 * `ternd`'s command line and its config: the flags, `--help`, and the config file loaded and
 * validated with the daemon's logger made from it. Errors are printed here, so the composition
 * root only learns whether to go on and with which exit code.
 * @module
 */
import { parseArgs } from "node:util";
import { createLogger, type Logger } from "../src/log.ts";
import { ConfigError, type DaemonConfig, DEFAULT_CONFIG_PATH, loadConfig } from "./config.ts";
import { RELEASE_OUTSIDE_POOLS_FLAG } from "./ipam/outside_pools.ts";
import { dirname } from "./ipam/start_ipam.ts";

/** `ternd --help`. */
export const USAGE = `Usage: ternd [--config FILE] [${RELEASE_OUTSIDE_POOLS_FLAG}]
       tern daemon [--config FILE] [${RELEASE_OUTSIDE_POOLS_FLAG}]

The tern node daemon: IPAM, host routes, routes between nodes, policy routing, network
policy (nftables table inet tern) and the API on a Unix socket. Runs in the foreground;
SIGTERM or SIGINT stops it.

Options:
  --config FILE              daemon config (default ${DEFAULT_CONFIG_PATH}); see docs/daemon.md
  ${RELEASE_OUTSIDE_POOLS_FLAG}    release allocations outside the configured podCIDRs instead
                             of refusing to start (their pods lose their addresses)
  -h, --help                 print this help
`;

/** The flags of a run. */
export interface DaemonArgs {
  /** The config file. */
  configFile: string;
  /** `--release-outside-pools`. */
  releaseOutsidePools: boolean;
}

/** The flags, or the exit code when there is nothing to run: 0 after `--help`, 2 on bad flags. */
export function parseDaemonArgs(args: string[]): DaemonArgs | number {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        config: { type: "string", default: DEFAULT_CONFIG_PATH },
        help: { type: "boolean", short: "h", default: false },
        "release-outside-pools": { type: "boolean", default: false },
      },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (err) {
    console.error(`Invalid arguments: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  return { configFile: flags.config, releaseOutsidePools: flags["release-outside-pools"] };
}

/** Loads the config and makes the logger it asks for; undefined (logged) when it is invalid. */
export async function loadDaemonConfig(
  configFile: string,
  options: { hostname?: () => string },
): Promise<{ config: DaemonConfig; log: Logger } | undefined> {
  let config;
  try {
    config = await loadConfig(configFile, options.hostname ? { hostname: options.hostname } : {});
  } catch (err) {
    createLogger({ component: "ternd" }).error(
      err instanceof ConfigError ? err.message : `Cannot load config: ${String(err)}`,
    );
    return undefined;
  }
  if (config.log.file !== undefined) {
    await Deno.mkdir(dirname(config.log.file), { recursive: true }).catch(() => {});
  }
  const log = createLogger({
    level: config.log.level,
    format: config.log.format,
    component: "ternd",
    ...(config.log.file !== undefined ? { file: config.log.file } : {}),
  });
  return { config, log };
}

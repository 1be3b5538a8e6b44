/**
 * `ternd`'s command line and its config: the flags, `--help`, and the config file loaded and
 * validated with the daemon's logger made from it. Errors are printed here, so the composition
 * root only learns whether to go on and with which exit code.
 * @module
 */
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

/** A command line that `ternd` does not take; the message says which argument and why. */
export class DaemonArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DaemonArgsError";
  }
}

/**
 * The flags of `args` (pure): `--config FILE` or `--config=FILE`, `--release-outside-pools`,
 * `-h`/`--help`; `help` says whether help was asked for. Throws {@linkcode DaemonArgsError} for
 * anything else. Written here rather than with `node:util`'s `parseArgs`: loading a `node:`
 * module makes Deno set up its Node compatibility layer, about 5 MiB of the resident daemon's
 * memory for three flags (docs/benchmarks.md, "idle").
 */
export function readDaemonFlags(args: readonly string[]): DaemonArgs & { help: boolean } {
  const out = { configFile: DEFAULT_CONFIG_PATH, releaseOutsidePools: false, help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === "--config") {
      const value = inline ?? args[++i];
      if (value === undefined || value === "" || (inline === undefined && value.startsWith("-"))) {
        throw new DaemonArgsError(`Option --config needs a file: --config FILE`);
      }
      out.configFile = value;
    } else if (inline !== undefined) {
      throw new DaemonArgsError(`Option ${name} takes no value: ${arg}`);
    } else if (arg === RELEASE_OUTSIDE_POOLS_FLAG) {
      out.releaseOutsidePools = true;
    } else if (arg === "-h" || arg === "--help") {
      out.help = true;
    } else if (arg.startsWith("-")) {
      throw new DaemonArgsError(`Unknown option: ${arg}`);
    } else {
      throw new DaemonArgsError(`Unexpected argument: ${arg} (ternd takes options only)`);
    }
  }
  return out;
}

/** The flags, or the exit code when there is nothing to run: 0 after `--help`, 2 on bad flags. */
export function parseDaemonArgs(args: string[]): DaemonArgs | number {
  let flags;
  try {
    flags = readDaemonFlags(args);
  } catch (err) {
    if (!(err instanceof DaemonArgsError)) throw err;
    console.error(`Invalid arguments: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  return { configFile: flags.configFile, releaseOutsidePools: flags.releaseOutsidePools };
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

/**
 * `ternd` (also `tern daemon`): the node daemon, in the foreground. Start-up reads and validates
 * the config, refuses to run beside a live daemon, opens the KV state, refuses allocations
 * outside the pod CIDRs, turns on IPv4 forwarding, resyncs (one sweep: host routes re-installed,
 * gone attachments timed), then serves the API on the Unix socket and sweeps every `gc.interval`.
 * SIGTERM or SIGINT stops serving, closes KV, removes the socket and exits 0.
 * @module
 */
import { parseArgs } from "node:util";
import { Ip } from "../src/ip.ts";
import { createLogger } from "../src/log.ts";
import { denoRunner, type Runner } from "../src/runner.ts";
import { TERN_VERSION } from "../src/version.ts";
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from "./config.ts";
import { Dataplane } from "./dataplane.ts";
import { formatDuration } from "./duration.ts";
import { createHandler } from "./handler.ts";
import { Ipam } from "./ipam.ts";
import { Mutex } from "./mutex.ts";
import { checkOutsidePools, RELEASE_OUTSIDE_POOLS_FLAG } from "./outside_pools.ts";
import { probeSocket, serveUnix, SocketInUseError } from "./server.ts";
import { Sweeper } from "./sweeper.ts";

/** `ternd --help`. */
export const USAGE = `Usage: ternd [--config FILE] [${RELEASE_OUTSIDE_POOLS_FLAG}]
       tern daemon [--config FILE] [${RELEASE_OUTSIDE_POOLS_FLAG}]

The tern node daemon: IPAM, host routes and the API on a Unix socket. Runs in the foreground;
SIGTERM or SIGINT stops it.

Options:
  --config FILE              daemon config (default ${DEFAULT_CONFIG_PATH}); see docs/daemon.md
  ${RELEASE_OUTSIDE_POOLS_FLAG}    release allocations outside the configured podCIDRs instead
                             of refusing to start (their pods lose their addresses)
  -h, --help                 print this help
`;

/** Injection points for tests; the defaults are the real system. */
export interface DaemonOptions {
  /** Runs `ip`. Default: the real runner. */
  runner?: Runner;
  /** The IPv4 forwarding switch. Default: `/proc/sys/net/ipv4/ip_forward`. */
  ipForwardPath?: string;
  /** Default node name when the config sets none. Default: `Deno.hostname`. */
  hostname?: () => string;
  /** Stops the daemon like SIGTERM does, in addition to the real signals. */
  stop?: AbortSignal;
  /** Called once the API is served (tests wait for it). */
  onReady?: () => void;
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/**
 * Runs the daemon until SIGTERM/SIGINT (or `options.stop`). Returns the exit code: 0 after a
 * clean stop or `--help`, 1 when it cannot start or fails, 2 on bad flags.
 */
export async function runDaemon(args: string[], options: DaemonOptions = {}): Promise<number> {
  const bootLog = createLogger({ component: "ternd" });
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
  const configFile = flags.config;
  const releaseOutside = flags["release-outside-pools"];

  let config;
  try {
    config = await loadConfig(configFile, options.hostname ? { hostname: options.hostname } : {});
  } catch (err) {
    bootLog.error(err instanceof ConfigError ? err.message : `Cannot load config: ${String(err)}`);
    return 1;
  }
  if (config.log.file !== undefined) {
    await Deno.mkdir(dirname(config.log.file), { recursive: true }).catch(() => {});
  }
  const log = createLogger({
    level: config.log.level,
    component: "ternd",
    ...(config.log.file !== undefined ? { file: config.log.file } : {}),
  });

  let kv: Deno.Kv | undefined;
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  let onSignal: (() => void) | undefined;
  try {
    // Before touching state or the kernel: a live daemon owns both.
    if (await probeSocket(config.socket) === "live") throw new SocketInUseError(config.socket);

    await Deno.mkdir(dirname(config.stateFile), { recursive: true, mode: 0o700 });
    kv = await Deno.openKv(config.stateFile);
    const ipam = await Ipam.open(kv, {
      podCIDRs: config.podCIDRs,
      releaseCooldownMs: config.ipam.releaseCooldownMs,
    });
    const dataplane = new Dataplane(new Ip(options.runner ?? denoRunner), {
      routeProtocol: config.routeProtocol,
      ...(options.ipForwardPath !== undefined ? { ipForwardPath: options.ipForwardPath } : {}),
    });
    const lock = new Mutex();

    await checkOutsidePools(ipam, {
      dataplane,
      podCIDRs: config.podCIDRs,
      configFile,
      release: releaseOutside,
      log,
    });
    if (await dataplane.enableIpForward()) log.info("Enabled IPv4 forwarding");

    const sweeper = new Sweeper({ ipam, dataplane, lock, log }, {
      gracePeriodMs: config.gc.gracePeriodMs,
      intervalMs: config.gc.intervalMs,
    });
    const resync = await sweeper.sweepOnce();

    let ready = false;
    const startedAt = Date.now();
    const handler = createHandler({
      ipam,
      dataplane,
      lock,
      log,
      node: config.nodeName,
      startedAt,
      isReady: () => ready,
    });
    const stopped = Promise.withResolvers<string>();
    onSignal = () => stopped.resolve("signal");
    for (const signal of signals) Deno.addSignalListener(signal, onSignal);
    options.stop?.addEventListener("abort", () => stopped.resolve("stop"), { once: true });

    const server = await serveUnix(handler, { path: config.socket, log });
    ready = true;
    sweeper.start();
    log.info("ternd started", {
      version: TERN_VERSION,
      node: config.nodeName,
      pools: config.podCIDRs.join(","),
      socket: config.socket,
      stateFile: config.stateFile,
      endpointsRestored: resync.endpoints - resync.released.length,
      routesInstalled: resync.routes.install.length,
      routesRemoved: resync.routes.remove.length,
      gcInterval: formatDuration(config.gc.intervalMs),
      gcGracePeriod: formatDuration(config.gc.gracePeriodMs),
    });
    options.onReady?.();

    const why = await Promise.race([
      stopped.promise,
      server.finished.then(() => "server stopped"),
    ]);
    log.info("Stopping", { why });
    ready = false;
    await sweeper.stop();
    await server.shutdown();
    log.info("ternd stopped");
    return why === "server stopped" ? 1 : 0;
  } catch (err) {
    log.error(err instanceof Error ? err.message : String(err));
    return 1;
  } finally {
    if (onSignal) { for (const signal of signals) Deno.removeSignalListener(signal, onSignal); }
    kv?.close();
  }
}

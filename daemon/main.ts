/**
 * `ternd` (also `tern daemon`): the node daemon, in the foreground. Start-up reads and validates
 * the config, refuses to run beside a live daemon, lists the cluster source (when configured)
 * and learns the node's pod CIDRs from its Node if the config gives none, opens the KV state,
 * refuses allocations outside the pod CIDRs, turns on IPv4 forwarding, sweeps once (gone
 * attachments), runs a first reconcile pass (routes and rules equal to the desired state),
 * applies the whole policy table (`inet tern`, unless `policy.enabled` is false) and publishes
 * the node's endpoints; then it serves the API on the Unix socket, sweeps every `gc.interval`,
 * reconciles on every change, netlink event and `reconcile.interval`, updates the policy table
 * on every change and checks it every `reconcile.interval`, and follows the cluster source and
 * `policy.dir`. SIGTERM or SIGINT stops serving, closes KV, removes the socket and exits 0.
 * @module
 */
import { parseArgs } from "node:util";
import type { ClusterStatus, RoutingStatus } from "../src/api.ts";
import { type FilesRead, FilesSource } from "../src/cluster/files_source.ts";
import { publishEndpoints } from "../src/cluster/publish_endpoints.ts";
import { ClusterState } from "../src/cluster/state.ts";
import type { PublishedEndpoint } from "../src/cluster/types.ts";
import { Ip } from "../src/ip.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { Nft } from "../src/nft.ts";
import { denoRunner, type Runner } from "../src/runner.ts";
import { TERN_VERSION } from "../src/version.ts";
import { ClusterFeed } from "./cluster_feed.ts";
import { affectsRouting, touchesOwnEndpoints } from "./cluster_triggers.ts";
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from "./config.ts";
import { Dataplane, IPV4_CONF_DIR } from "./dataplane.ts";
import { desiredState, endpointRules, type PodMetadata } from "./desired_state.ts";
import { formatDuration } from "./duration.ts";
import { EndpointPublisher } from "./endpoint_publisher.ts";
import { createHandler } from "./handler.ts";
import { denoSpawner, IpMonitor, type Spawner } from "./ip_monitor.ts";
import { Ipam } from "./ipam.ts";
import { type LocalEndpoint, LocalEndpoints } from "./local_endpoints.ts";
import { EchoFilter } from "./monitor_echo.ts";
import { Mutex } from "./mutex.ts";
import { checkOutsidePools, RELEASE_OUTSIDE_POOLS_FLAG } from "./outside_pools.ts";
import { type PodCIDRs, waitForPodCIDRs } from "./pod_cidrs.ts";
import { PolicyManager } from "./policy_manager.ts";
import { IpVethGroups } from "./veth_groups.ts";
import { managedPolicy } from "./policy_service.ts";
import { Reconciler } from "./reconciler.ts";
import { probeSocket, serveUnix, SocketInUseError } from "./server.ts";
import { Sweeper } from "./sweeper.ts";

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

/** Netlink events are coalesced for this long before they trigger a pass. */
const MONITOR_DEBOUNCE_MS = 100;

/**
 * A cluster or `policy.dir` change asks for a policy run this soon: its source already waited
 * for the writes to end and hands over all the changes of one read together, and a change that
 * arrives during a run is taken by the next one, so waiting longer only adds latency.
 */
const SOURCE_POLICY_DELAY_MS = 0;

/** Injection points for tests; the defaults are the real system. */
export interface DaemonOptions {
  /** Runs `ip`. Default: the real runner. */
  runner?: Runner;
  /** Runs `nft`. Default: `runner` when given, else the real runner. */
  nftRunner?: Runner;
  /** Where each veth's `rp_filter` is set. Default: {@linkcode IPV4_CONF_DIR}. */
  rpFilterDir?: string;
  /** Starts `ip monitor`. Default: the real spawner. */
  spawn?: Spawner;
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

function published(ep: LocalEndpoint): PublishedEndpoint {
  const out: PublishedEndpoint = { containerID: ep.containerID, ifname: ep.ifname, ip: ep.ip };
  if (ep.podNamespace !== undefined) out.podNamespace = ep.podNamespace;
  if (ep.podName !== undefined) out.podName = ep.podName;
  return out;
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
  const stopping = new AbortController();
  const onSignal = () => stopping.abort(new Error("Stopped by a signal during start-up"));
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  options.stop?.addEventListener(
    "abort",
    () => stopping.abort(new Error("Stopped during start-up")),
    { once: true },
  );
  const cleanups: (() => Promise<void>)[] = [];
  try {
    // Before touching state or the kernel: a live daemon owns both.
    if (await probeSocket(config.socket) === "live") throw new SocketInUseError(config.socket);

    const ip = new Ip(options.runner ?? denoRunner);
    const nodeName = config.nodeName;
    const cluster = config.cluster;
    const state = new ClusterState();
    let feed: ClusterFeed | undefined;
    let pools: PodCIDRs = { podCIDRs: config.podCIDRs, from: "config" };
    if (cluster !== undefined) {
      feed = new ClusterFeed(
        new FilesSource(cluster.dir, {
          settleMs: cluster.settleMs,
          debounceMs: cluster.debounceMs,
          onRead: readLogger(log, cluster.dir),
        }),
        state,
        { log },
      );
      await feed.list();
      feed.start();
      cleanups.push(() => feed!.stop());
      pools = await waitForPodCIDRs(state, {
        nodeName,
        configured: config.podCIDRs,
        source: feed.name,
        configFile,
        timeoutMs: cluster.podCIDRWaitMs,
        log,
        signal: stopping.signal,
      });
      if (pools.from === "node") {
        log.info("Learned pod CIDRs from this node's Node", {
          node: nodeName,
          podCIDRs: pools.podCIDRs.join(","),
        });
      }
    }
    const podCIDRs = pools.podCIDRs;

    await Deno.mkdir(dirname(config.stateFile), { recursive: true, mode: 0o700 });
    kv = await Deno.openKv(config.stateFile);
    const ipam = await Ipam.open(kv, {
      podCIDRs,
      releaseCooldownMs: config.ipam.releaseCooldownMs,
    });
    const endpoints = new LocalEndpoints();
    endpoints.load(await ipam.list());
    const routing = config.routing;
    const podMetadata = (namespace: string, name: string): PodMetadata | undefined =>
      state.pod(namespace, name);
    const echo = new EchoFilter(config.routeProtocol);
    const dataplane = new Dataplane(ip, {
      routeProtocol: config.routeProtocol,
      endpoints,
      echo,
      rulesFor: (ep) => endpointRules(ep, { routing, podCIDRs, pod: podMetadata }),
      ...(options.ipForwardPath !== undefined ? { ipForwardPath: options.ipForwardPath } : {}),
      rpFilterDir: options.rpFilterDir ?? IPV4_CONF_DIR,
    });
    const lock = new Mutex();
    // Endpoints programmed by an earlier daemon (or version) get strict rp_filter too.
    for (const ep of endpoints.list()) {
      await dataplane.setRpFilter(ep.hostVeth).catch((err) =>
        log.warn("Cannot set rp_filter", { hostVeth: ep.hostVeth, error: String(err) })
      );
    }

    await checkOutsidePools(ipam, {
      dataplane,
      podCIDRs,
      configFile: pools.from === "node" ? `Node ${nodeName} in ${feed!.name}` : configFile,
      release: releaseOutside,
      log,
    });
    if (await dataplane.enableIpForward()) log.info("Enabled IPv4 forwarding");

    const sweeper = new Sweeper({ ipam, dataplane, lock, log }, {
      gracePeriodMs: config.gc.gracePeriodMs,
      intervalMs: config.gc.intervalMs,
    });
    const resync = await sweeper.sweepOnce();

    const ownPodCIDRRoute = routing.ownPodCIDRRoute ??
      (cluster !== undefined ? "unreachable" : "none");
    const reconciler = new Reconciler({
      ip,
      log,
      echo,
      desired: () =>
        desiredState({
          nodeName,
          podCIDRs,
          endpoints: endpoints.list(),
          nodes: state.nodes(),
          pod: podMetadata,
          routing,
          ownPodCIDRRoute,
          cluster: cluster !== undefined,
        }),
    }, { protocol: config.routeProtocol, intervalMs: config.reconcile.intervalMs });
    cleanups.push(() => reconciler.stop());

    let publisher: EndpointPublisher | undefined;
    if (cluster?.publishEndpoints) {
      publisher = new EndpointPublisher(
        (list) => publishEndpoints(cluster.dir, { nodeName, endpoints: list }),
        () => endpoints.list().map(published),
        { log },
      );
      cleanups.push(() => publisher!.stop());
    }
    const isLocalPod = (namespace: string, name: string) =>
      endpoints.list().some((ep) => ep.podNamespace === namespace && ep.podName === name);
    endpoints.subscribe(() => {
      reconciler.request("endpoints");
      publisher?.markDirty();
    });
    state.subscribe((change) => {
      if (affectsRouting(change, { nodeName, isLocalPod })) reconciler.request("cluster");
      if (touchesOwnEndpoints(change, nodeName)) publisher?.markDirty();
    });

    let monitor: IpMonitor | undefined;
    if (config.reconcile.monitor) {
      monitor = new IpMonitor({
        spawn: options.spawn ?? denoSpawner,
        argv: [...ip.argv(), "-4", "-N", "monitor", "route", "rule", "link"],
        onEvent: (line) => {
          if (!echo.needsPass(line)) return;
          log.debug("Netlink event", { event: line });
          reconciler.request("monitor", MONITOR_DEBOUNCE_MS);
        },
        onRestart: () => reconciler.request("monitor"),
        log,
      });
      monitor.start();
      cleanups.push(() => monitor!.stop());
    }
    const first = await reconciler.pass("start");
    reconciler.start();

    // Policy: the whole table before the API answers, so no ADD can beat it.
    const nft = new Nft(options.nftRunner ?? options.runner ?? denoRunner);
    let policyState: ClusterState | undefined;
    let policyFeed: ClusterFeed | undefined;
    let policy: PolicyManager | undefined;
    if (config.policy.enabled) {
      if (config.policy.dir !== undefined) {
        policyState = new ClusterState();
        const watch = cluster !== undefined
          ? { settleMs: cluster.settleMs, debounceMs: cluster.debounceMs }
          : {};
        policyFeed = new ClusterFeed(
          new FilesSource(config.policy.dir, {
            ...watch,
            onRead: readLogger(log, config.policy.dir),
          }),
          policyState,
          { log },
        );
        await policyFeed.list();
        policyFeed.start();
        cleanups.push(() => policyFeed!.stop());
      }
      const manager = new PolicyManager({
        nft,
        groups: new IpVethGroups(ip),
        log,
        inputs: () => ({
          cluster: cluster !== undefined ? state : undefined,
          policyDir: policyState,
          endpoints: endpoints.list(),
          nodeName,
        }),
      }, { logRate: config.policy.logRate, intervalMs: config.reconcile.intervalMs });
      endpoints.subscribe(() => manager.request("endpoints"));
      state.subscribe((change) => {
        if (change.type !== "error") manager.request("cluster", SOURCE_POLICY_DELAY_MS);
      });
      policyState?.subscribe((change) => {
        if (change.type !== "error") manager.request("policy", SOURCE_POLICY_DELAY_MS);
      });
      await manager.start();
      cleanups.push(() => manager.stop());
      policy = manager;
      if (config.reconcile.monitor) {
        // Someone deleting or changing inet tern is seen within ~100 ms, not at the next check.
        const nftMonitor = new IpMonitor({
          spawn: options.spawn ?? denoSpawner,
          argv: [...nft.argv(), "monitor"],
          onEvent: (line) => manager.tableEvent(line),
          onRestart: () => manager.checkSoon(),
          log,
        });
        nftMonitor.start();
        cleanups.push(() => nftMonitor.stop());
      }
    } else {
      try {
        if (await nft.deleteTableIfExists("inet", "tern")) {
          log.info("Policy disabled: deleted table inet tern");
        }
      } catch (err) {
        log.warn("Policy disabled: cannot check for table inet tern", { error: String(err) });
      }
    }
    await publisher?.flush();

    let ready = false;
    const startedAt = Date.now();
    const routingStatus = (): RoutingStatus => {
      const r = reconciler.status();
      const reconcile: RoutingStatus["reconcile"] = {
        passes: r.passes,
        intervalMs: r.intervalMs,
        monitor: monitor?.state ?? "off",
        ownedRoutes: r.ownedRoutes,
        ownedRules: r.ownedRules,
        failing: r.failing,
      };
      if (r.lastPass) reconcile.lastPass = r.lastPass;
      if (r.lastChange) reconcile.lastChange = r.lastChange;
      return {
        mode: routing.mode,
        podCIDRsFrom: pools.from,
        peers: r.peers,
        problems: r.problems,
        reconcile,
      };
    };
    const clusterStatus = feed === undefined ? undefined : (): ClusterStatus => {
      const out: ClusterStatus = {
        source: feed.name,
        nodes: state.nodes().length,
        pods: state.pods().length,
        errors: state.errors().slice(-10).map((e) => e.message),
        publishEndpoints: publisher !== undefined,
      };
      if (publisher?.status) out.published = publisher.status;
      return out;
    };
    const handler = createHandler({
      ipam,
      dataplane,
      lock,
      log,
      node: nodeName,
      startedAt,
      isReady: () => ready,
      routingStatus,
      ...(clusterStatus ? { clusterStatus } : {}),
      ...(policy
        ? {
          policy: managedPolicy(policy, {
            pendingWaitMs: config.policy.pendingWaitMs,
            manifestErrors: () => [...state.errors(), ...(policyState?.errors() ?? [])],
          }),
        }
        : {}),
    });
    const stopped = Promise.withResolvers<string>();
    if (stopping.signal.aborted) stopped.resolve("signal");
    stopping.signal.addEventListener("abort", () => stopped.resolve("signal"), { once: true });

    const server = await serveUnix(handler, { path: config.socket, log });
    ready = true;
    sweeper.start();
    log.info("ternd started", {
      version: TERN_VERSION,
      node: nodeName,
      pools: podCIDRs.join(","),
      podCIDRsFrom: pools.from,
      socket: config.socket,
      stateFile: config.stateFile,
      cluster: feed?.name ?? "none",
      routingMode: routing.mode,
      endpointsRestored: resync.endpoints - resync.released.length,
      reconciled: `${first.added} added, ${first.replaced} replaced, ${first.deleted} deleted${
        first.failed ? `, ${first.failed} failed` : ""
      }`,
      reconcileInterval: formatDuration(config.reconcile.intervalMs),
      monitor: config.reconcile.monitor,
      gcInterval: formatDuration(config.gc.intervalMs),
      gcGracePeriod: formatDuration(config.gc.gracePeriodMs),
      policy: policy === undefined
        ? "disabled"
        : `${policy.model?.pods.length ?? 0} pods, ${policy.model?.pending.length ?? 0} held`,
      policyDir: config.policy.dir,
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
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    log.info("ternd stopped");
    return why === "server stopped" ? 1 : 0;
  } catch (err) {
    if (stopping.signal.aborted && err === stopping.signal.reason) {
      log.info("Stopped during start-up");
      return 0;
    }
    log.error(err instanceof Error ? err.message : String(err));
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err) => log.error("Cleanup failed", { error: String(err) }));
    }
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    kv?.close();
  }
}

/** A debug line for each read of a watched manifests directory: what it parsed and what it cost. */
function readLogger(log: Logger, dir: string): (read: FilesRead) => void {
  return (read) =>
    log.debug("Read manifests", {
      dir,
      parsed: read.parsed.join(","),
      bytes: read.bytes,
      ms: read.ms,
      events: read.events,
    });
}

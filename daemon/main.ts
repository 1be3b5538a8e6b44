/**
 * `ternd` (also `tern daemon`): the node daemon, in the foreground, assembled from its parts in
 * the order each needs the others. The metrics come first (`daemon/metrics/`: the parts report
 * into them from their first request, pass and run). The API part serves the Unix socket next
 * (and `GET /metrics`, also over TCP with `metrics.listen`), answering that the
 * daemon is starting (and what it waits for) and holding other requests a bounded time; the
 * cluster part lists the cluster source (when configured) and learns the node's pod CIDRs; the
 * IPAM part opens the KV state, refuses allocations outside the pod CIDRs and sweeps once; the
 * routing part turns on forwarding and runs the first reconcile pass; the policy part applies the
 * whole `inet tern` table (unless disabled); then the node's endpoints are published, the API
 * serves the whole API over the parts and the periodic sweep starts. Every part goes on one
 * cleanup stack: SIGTERM or SIGINT (or a failure at start-up) stops the API first, then the rest
 * in reverse order, and the daemon exits 0 (1 on a failure).
 * @module
 */
import { Ip } from "../src/ip.ts";
import { CleanupStack } from "../src/lib/cleanup_stack.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { Nft } from "../src/nft.ts";
import { denoRunner } from "../src/runner.ts";
import { TERN_VERSION } from "../src/version.ts";
import type { DaemonConfig } from "./config.ts";
import { loadDaemonConfig, parseDaemonArgs } from "./daemon_args.ts";
import type { DaemonOptions } from "./daemon_options.ts";
import { formatDuration } from "../src/lib/duration.ts";
import { LocalEndpoints } from "../src/local_endpoints.ts";
import { probeSocket, SocketInUseError } from "./api/server.ts";
import { startApi } from "./api/start_api.ts";
import type { StartingState } from "./api/starting_handler.ts";
import { type ClusterPart, startCluster } from "./cluster/start_cluster.ts";
import { dirname, type IpamPart, startIpam } from "./ipam/start_ipam.ts";
import { daemonIpamCheck } from "./ipam/ipam_check_service.ts";
import { DaemonMetrics } from "./metrics/daemon_metrics.ts";
import { startMetrics } from "./metrics/start_metrics.ts";
import { type PolicyPart, startPolicy } from "./policy/start_policy.ts";
import { RtnetlinkHost } from "../src/host_netlink.ts";
import { Rtnetlink } from "../src/rtnetlink.ts";
import { hostDataplane, type RoutingPart, startRouting } from "./routing/start_routing.ts";
import { listenForStop } from "./stop_signals.ts";
import { LoopStalls } from "./loop_stalls.ts";
import { MemoryTrimmer } from "./memory_trimmer.ts";

/**
 * Runs the daemon until SIGTERM/SIGINT (or `options.stop`). Returns the exit code: 0 after a
 * clean stop or `--help`, 1 when it cannot start or fails, 2 on bad flags.
 */
export async function runDaemon(args: string[], options: DaemonOptions = {}): Promise<number> {
  const flags = parseDaemonArgs(args);
  if (typeof flags === "number") return flags;
  const loaded = await loadDaemonConfig(flags.configFile, options);
  if (loaded === undefined) return 1;
  const { config, log } = loaded;
  const stack = new CleanupStack();
  const cleanupFailed = (err: unknown) => log.error("Cleanup failed", { error: String(err) });
  const stopping = stack.push(listenForStop(options.stop));
  try {
    // Before touching state or the kernel: a live daemon owns both.
    if (await probeSocket(config.socket) === "live") throw new SocketInUseError(config.socket);
    // A held event loop delays every event and request: logged, to tell it from a slow source.
    const stalls = new LoopStalls({ log });
    stalls.start();
    stack.defer(() => stalls.stop());
    // glibc keeps freed heap memory; the trimmer hands it back once a minute while busy.
    const trimmer = new MemoryTrimmer({ log });
    trimmer.start();
    stack.defer(() => trimmer.stop());
    const ip = new Ip(options.runner ?? denoRunner);
    // ADD's host route and ready mark over rtnetlink in-process, when `ip` is the real one (a
    // test that fakes `ip` fakes the kernel: it gets no real sockets).
    const netlink = options.runner === undefined ? new Rtnetlink() : undefined;
    if (netlink !== undefined) stack.defer(() => netlink.close());
    const hostNetlink = netlink && new RtnetlinkHost(netlink);
    // Transactions are written beside the socket (/run/tern: tmpfs, 0700) before nft loads them.
    const nft = new Nft(options.nftRunner ?? options.runner ?? denoRunner, {
      transactionDir: dirname(config.socket),
    });
    const endpoints = new LocalEndpoints();
    // Served at once: status says what start-up waits for; other requests wait for the parts.
    const starting: StartingState = { phase: "starting" };
    const metrics = new DaemonMetrics(config, {
      log,
      loopStalls: () => stalls.stats,
      memoryTrims: () => trimmer.stats,
    });
    const api = stack.push(
      await startApi(config, { log, starting: () => starting, metrics: metrics.api }),
    );
    stack.push(startMetrics(config.metrics.listen, { api: metrics.api, log }));
    const leftovers = await nft.removeLeftovers();
    if (leftovers > 0) {
      log.info("Removed nft transaction files of an earlier daemon", { leftovers });
    }

    starting.phase = config.cluster?.source === "kubernetes"
      ? "waiting for the first lists from the Kubernetes API server"
      : "reading cluster state";
    const cluster = stack.push(
      await startCluster(config, {
        log,
        configFile: flags.configFile,
        signal: stopping.signal,
        progress: (status) => starting.cluster = status,
      }),
    );
    starting.phase = "programming routes and policy";
    const { state, pools } = cluster;
    // At rest the stall timer parks; a change is when a held loop would delay something.
    for (const changes of [state, endpoints]) {
      changes.subscribe(() => {
        stalls.poke();
        trimmer.poke();
      });
    }
    const host = hostDataplane(config, {
      ip,
      netlink: hostNetlink,
      endpoints,
      state,
      podCIDRs: pools.podCIDRs,
      options,
    });
    const ipam = stack.push(
      await startIpam(config, {
        pools,
        poolsOrigin: cluster.poolsOrigin,
        state,
        endpoints,
        dataplane: host.dataplane,
        release: flags.releaseOutsidePools,
        log,
      }),
    );
    const blockView = ipam.blockView;
    if (blockView !== undefined) {
      cluster.useNodeRanges((node) => blockView.byNode().get(node) ?? []);
      host.useLocalCIDRs(() => blockView.byNode().get(config.nodeName) ?? []);
    }
    const routing = stack.push(
      await startRouting(config, {
        ip,
        host,
        endpoints,
        state,
        pools,
        blocks: ipam.blockView,
        options,
        log,
        onPass: (pass) => metrics.reconcile.observe(pass),
        podNamespaces: netlink,
        hostLinks: hostNetlink,
        onPodSideRepair: (object) => metrics.reconcile.repairs.inc({ object }),
      }),
    );
    const policy = stack.push(
      await startPolicy(config, {
        ip,
        netlink: hostNetlink,
        nft,
        endpoints,
        cluster: config.cluster !== undefined ? state : undefined,
        options,
        log,
        onApply: (apply, changeToKernelMs, stages) =>
          metrics.policy.observe(apply, changeToKernelMs, stages),
      }),
    );
    await cluster.publish(endpoints);
    const ipamCheck = daemonIpamCheck(config, {
      ipam,
      dataplane: host.dataplane,
      endpoints,
      cluster,
      log,
    });
    api.attach({
      ipam,
      dataplane: host.dataplane,
      routing,
      cluster,
      policy: policy.service,
      ipamCheck,
      ...(hostNetlink !== undefined ? { veths: hostNetlink } : {}),
    });
    metrics.attach({ ipam, cluster, routing, policy, ready: () => api.status().ready });
    stack.push(ipam.startSweeper());
    log.info("ternd started", startedFields(config, { cluster, ipam, routing, policy }));
    options.onReady?.();

    const why = await Promise.race([
      stopping.stopped,
      api.finished.then(() => "server stopped"),
    ]);
    log.info("Stopping", { why });
    await api.stop(); // first: no change may start while the parts stop
    await stack.unwind(cleanupFailed);
    log.info("ternd stopped");
    return why === "server stopped" ? 1 : 0;
  } catch (err) {
    if (stopping.signal.aborted && err === stopping.signal.reason) {
      log.info("Stopped during start-up");
      return 0;
    }
    log.error(errorMessage(err));
    return 1;
  } finally {
    await stack.unwind(cleanupFailed);
  }
}

/** The fields of the "ternd started" line: what runs, with which knobs. */
function startedFields(
  config: DaemonConfig,
  parts: { cluster: ClusterPart; ipam: IpamPart; routing: RoutingPart; policy: PolicyPart },
): Record<string, unknown> {
  const first = parts.routing.first;
  return {
    version: TERN_VERSION,
    node: config.nodeName,
    pools: parts.cluster.pools.podCIDRs.join(","),
    podCIDRsFrom: parts.cluster.pools.from,
    socket: config.socket,
    stateFile: config.stateFile,
    cluster: parts.cluster.source ?? "none",
    routingMode: config.routing.mode,
    endpointsRestored: parts.ipam.status().endpointsRestored,
    reconciled: `${first.added} added, ${first.replaced} replaced, ${first.deleted} deleted${
      first.failed ? `, ${first.failed} failed` : ""
    }`,
    reconcileInterval: formatDuration(config.reconcile.intervalMs),
    monitor: config.reconcile.monitor,
    gcInterval: formatDuration(config.gc.intervalMs),
    gcGracePeriod: formatDuration(config.gc.gracePeriodMs),
    policy: parts.policy.status() ?? "disabled",
    policyDir: config.policy.dir,
  };
}

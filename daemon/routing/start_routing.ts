/**
 * The daemon's routing part: the host dataplane (each endpoint's veth, host route and rules; the
 * API and the sweeper program through it), IPv4 forwarding (kept on, with each veth's strict
 * `rp_filter`, by the periodic sysctl guard), and the reconciler that keeps the
 * kernel's routes and rules equal to the desired state. A pass is requested by an endpoint change
 * that the dataplane's own work does not settle (`src/routing/dataplane_settles.ts`: with
 * egress tables, a bound pod or one outside the node's pod CIDRs; or a change that failed), every
 * cluster change that affects routing, every netlink event that is not the echo of
 * tern's own change (`ip monitor`, when `reconcile.monitor`), and periodically. Start-up waits
 * for the monitor to be subscribed, then runs the first pass. The pod side of each endpoint
 * (gateway neighbour entry and routes in the pod's namespace) is checked on the same interval by
 * the pod-side guard.
 * @module
 */
import type { BlockView } from "../../src/ipam/block_view.ts";
import { nodesWithBlocks } from "../../src/routing/block_routes.ts";
import type { RoutingStatus } from "../../src/api.ts";
import type { ClusterState } from "../../src/cluster/state.ts";
import { type Clock, realClock, type TimerHandle } from "../../src/clock.ts";
import type { HostNetlink } from "../../src/host_netlink.ts";
import type { Ip } from "../../src/ip.ts";
import type { Logger } from "../../src/log.ts";
import { affectsRouting } from "../cluster/cluster_triggers.ts";
import type { DaemonConfig } from "../config.ts";
import type { DaemonOptions } from "../daemon_options.ts";
import type { DaemonPart } from "../daemon_part.ts";
import { Dataplane, IPV4_CONF_DIR } from "./dataplane.ts";
import { desiredState, endpointRules, type PodMetadata } from "../../src/routing/desired_state.ts";
import { dataplaneSettles } from "../../src/routing/dataplane_settles.ts";
import { denoSpawner, ProcessMonitor } from "../../src/lib/process_monitor.ts";
import type { LocalEndpoints } from "../../src/local_endpoints.ts";
import { EchoFilter } from "./monitor_echo.ts";
import type { PodCIDRs } from "../ipam/pod_cidrs.ts";
import { startSysctlGuard } from "./sysctl_guard.ts";
import type { PodNamespaces, PodSideObject } from "./pod_side.ts";
import { type HostLinks, startPodSideGuard } from "./pod_side_guard.ts";
import { type PassResult, Reconciler } from "./reconciler.ts";

/** Netlink events are coalesced for this long before they trigger a pass. */
const MONITOR_DEBOUNCE_MS = 100;

/** How long start-up waits for a monitor to be subscribed before it goes on without. */
export const MONITOR_READY_MS = 5_000;

/** The host side of the endpoints, and the filter that knows tern's own netlink echoes. */
export interface HostDataplane {
  dataplane: Dataplane;
  echo: EchoFilter;
  /**
   * Where the node's own pod ranges are read from for a bound pod's rules at ADD: the pod CIDRs
   * by default; in blocks mode, the node's blocks once the IPAM part knows them.
   */
  useLocalCIDRs(of: () => readonly string[]): void;
  /** The node's own pod ranges now, as a bound pod's rules at ADD read them. */
  localCIDRs(): readonly string[];
  /** Who settles a change of the dataplane's that failed half done (the reconciler). */
  onUnsettled(settle: () => void): void;
}

/** The host dataplane: what the API, the sweeper and the reconciler change the kernel through. */
export function hostDataplane(
  config: DaemonConfig,
  context: {
    ip: Ip;
    /** Writes ADD's host route in-process; default: through `ip`. */
    netlink?: HostNetlink | undefined;
    endpoints: LocalEndpoints;
    state: ClusterState;
    podCIDRs: readonly string[];
    options: DaemonOptions;
  },
): HostDataplane {
  const { ip, endpoints, state, options, netlink } = context;
  let localCIDRs = (): readonly string[] => context.podCIDRs;
  let unsettled = () => {};
  const echo = new EchoFilter(config.routeProtocol);
  const pod = (namespace: string, name: string): PodMetadata | undefined =>
    state.pod(namespace, name);
  const dataplane = new Dataplane(ip, {
    routeProtocol: config.routeProtocol,
    endpoints,
    echo,
    // Without egress tables no pod has rules: the node's ranges are not even read (in blocks
    // mode that reads every block of the cluster).
    rulesFor: (ep) =>
      config.routing.egressTables.length === 0
        ? []
        : endpointRules(ep, { routing: config.routing, podCIDRs: localCIDRs(), pod }),
    ...(options.ipForwardPath !== undefined ? { ipForwardPath: options.ipForwardPath } : {}),
    rpFilterDir: options.rpFilterDir ?? IPV4_CONF_DIR,
    perPodRules: config.routing.egressTables.length > 0,
    ...(netlink !== undefined ? { netlink } : {}),
    unsettled: () => unsettled(),
  });
  return {
    dataplane,
    echo,
    useLocalCIDRs(of) {
      localCIDRs = of;
    },
    localCIDRs: () => localCIDRs(),
    onUnsettled(settle) {
      unsettled = settle;
    },
  };
}

/** The running routing part. */
export interface RoutingPart extends DaemonPart<RoutingStatus> {
  /** The first pass, for the start log. */
  readonly first: PassResult;
}

/** Turns on forwarding, starts the monitor and the reconciler, and runs the first pass. */
export async function startRouting(
  config: DaemonConfig,
  context: {
    ip: Ip;
    host: HostDataplane;
    endpoints: LocalEndpoints;
    state: ClusterState;
    pools: PodCIDRs;
    /** Blocks mode: every node's blocks, routed in place of the Nodes' pod CIDRs. */
    blocks?: BlockView | undefined;
    options: DaemonOptions;
    log: Logger;
    /** Told of every reconcile pass (the metrics). Default: nobody. */
    onPass?: (pass: PassResult) => void;
    /**
     * Where the pod side of each endpoint is checked and repaired (the daemon's `Rtnetlink`);
     * default: not checked (a test that fakes `ip` has no real pods).
     */
    podNamespaces?: PodNamespaces | undefined;
    /** The node's links, where the guard reads each host veth's MAC; needed with `podNamespaces`. */
    hostLinks?: HostLinks | undefined;
    /** Told of each pod-side repair (the metrics). Default: nobody. */
    onPodSideRepair?: (object: PodSideObject) => void;
  },
): Promise<RoutingPart> {
  const { ip, host, endpoints, state, pools, blocks, log } = context;
  const { nodeName, routing } = config;
  const cluster = config.cluster !== undefined;
  if (await host.dataplane.enableIpForward()) log.info("Enabled IPv4 forwarding");
  const ownPodCIDRRoute = routing.ownPodCIDRRoute ?? (cluster ? "unreachable" : "none");
  const reconciler = new Reconciler({
    ip,
    log,
    echo: host.echo,
    ...(context.onPass !== undefined ? { onPass: context.onPass } : {}),
    desired: () => {
      const byNode = blocks?.byNode();
      return desiredState({
        nodeName,
        podCIDRs: byNode === undefined ? pools.podCIDRs : byNode.get(nodeName) ?? [],
        endpoints: endpoints.list(),
        nodes: byNode === undefined ? state.nodes() : nodesWithBlocks(state.nodes(), byNode),
        pod: (namespace, name) => state.pod(namespace, name),
        routing,
        ownPodCIDRRoute,
        cluster,
      });
    },
  }, { protocol: config.routeProtocol, intervalMs: config.reconcile.intervalMs });
  // Asked of every Pod change in the cluster without spec.nodeName: a lookup, not a scan.
  const isLocalPod = (namespace: string, name: string) => endpoints.hasPod(namespace, name);
  // The dataplane installed or removed the endpoint's own route and rules already: a pass, which
  // lists every route and rule of the node, only for what a change of one endpoint leaves.
  endpoints.subscribe((change) => {
    const settled = dataplaneSettles(change, {
      egressTables: routing.egressTables,
      binding: routing.egressBinding,
      localCIDRs: () => host.localCIDRs(),
      pod: (namespace, name) => state.pod(namespace, name),
    });
    if (!settled) reconciler.request("endpoints");
  });
  host.onUnsettled(() => reconciler.request("endpoints"));
  blocks?.subscribe(() => reconciler.request("blocks"));
  state.subscribe((change) => {
    if (affectsRouting(change, { nodeName, isLocalPod })) reconciler.request("cluster");
  });

  let monitor: ProcessMonitor | undefined;
  if (config.reconcile.monitor) {
    monitor = new ProcessMonitor({
      spawn: context.options.spawn ?? denoSpawner,
      argv: [...ip.argv(), "-4", "-N", "monitor", "route", "rule", "link"],
      onEvent: (line) => {
        if (!host.echo.needsPass(line)) return;
        log.debug("Netlink event", { event: line });
        reconciler.request("monitor", MONITOR_DEBOUNCE_MS);
      },
      onRestart: () => reconciler.request("monitor"),
      log,
    });
    monitor.start();
    await monitorReady(monitor, "ip monitor", log);
  }
  let guard: { stop(): Promise<void> } | undefined;
  let podSide: { stop(): Promise<void> } | undefined;
  const stop = async () => {
    await podSide?.stop();
    await guard?.stop();
    await monitor?.stop();
    await reconciler.stop();
  };
  try {
    const first = await reconciler.pass("start");
    reconciler.start();
    guard = startSysctlGuard(host.dataplane, { intervalMs: config.reconcile.intervalMs, log });
    if (context.podNamespaces !== undefined && context.hostLinks !== undefined) {
      podSide = startPodSideGuard(
        context.podNamespaces,
        context.hostLinks,
        () => endpoints.list(),
        {
          intervalMs: config.reconcile.intervalMs,
          changedAt: (ep) => endpoints.changedAt(ep),
          log,
          ...(context.onPodSideRepair !== undefined ? { onRepair: context.onPodSideRepair } : {}),
        },
      );
    }
    return {
      first,
      stop,
      status() {
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
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Waits until `monitor` is subscribed, so no change made after start-up escapes it; after
 * {@linkcode MONITOR_READY_MS} it goes on (the periodic pass still finds what it missed).
 */
export async function monitorReady(
  monitor: ProcessMonitor,
  what: string,
  log: Logger,
  clock: Clock = realClock,
): Promise<void> {
  let timer: TimerHandle | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = clock.setTimeout(() => resolve("late"), MONITOR_READY_MS);
  });
  const result = await Promise.race([monitor.ready, late]);
  if (timer !== undefined) clock.clearTimeout(timer);
  if (result === "late") {
    log.warn(`${what} is not subscribed yet; going on without waiting`, {
      waitedMs: MONITOR_READY_MS,
    });
  }
}

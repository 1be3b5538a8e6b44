/**
 * The daemon's API part: served on the Unix socket from the start of start-up (a
 * {@linkcode startingHandler} answers that the daemon is starting, and what it waits for), then,
 * once the other parts are up, the whole API as one handler (`handler.ts`) over them. It answers
 * changes only while the daemon is up: from `attach()` until `stop()` begins, which then lets
 * requests in flight finish and removes the socket. With the daemon's metrics, every request is
 * timed and `GET /metrics` answered, from the start (`daemon/metrics/api_metrics.ts`).
 * @module
 */
import type { ClusterStatus, RoutingStatus } from "../../src/api.ts";
import type { Logger } from "../../src/log.ts";
import type { DaemonConfig } from "../config.ts";
import type { DaemonPart } from "../daemon_part.ts";
import type { Dataplane } from "../routing/dataplane.ts";
import { createHandler, type HandlerDeps } from "./handler.ts";
import type { IpamPart } from "../ipam/start_ipam.ts";
import type { PolicyService } from "../policy/policy_service.ts";
import type { ApiMetrics } from "../metrics/api_metrics.ts";
import { serveUnix } from "./server.ts";
import { startingHandler, type StartingState } from "./starting_handler.ts";

/** How long a request waits for a starting daemon without a `kubernetes` source's `syncWait`. */
export const DEFAULT_START_WAIT_MS = 5_000;

/** The parts the API serves. */
export interface ApiParts {
  ipam: IpamPart;
  dataplane: Dataplane;
  /** `tern ipam check`. */
  ipamCheck?: HandlerDeps["ipamCheck"];
  routing: DaemonPart<RoutingStatus>;
  cluster: DaemonPart<ClusterStatus | undefined>;
  policy: PolicyService | undefined;
  /** In-process veth pairs for `POST /v1/endpoints/attach`; none: the plugin makes them. */
  veths?: HandlerDeps["veths"];
}

/** The running API part; `status()` says whether it answers changes. */
export interface ApiPart extends DaemonPart<{ ready: boolean }> {
  /** Settles when the server stopped on its own (a failure: the daemon exits 1). */
  readonly finished: Promise<void>;
  /** The daemon is up: serve the whole API over `parts` from now on. */
  attach(parts: ApiParts): void;
}

/**
 * Serves `config.socket` at once, answering as a starting daemon; `starting` says what start-up
 * is doing. Requests wait for {@linkcode ApiPart.attach} up to `cluster.syncWait` (kubernetes) or
 * {@linkcode DEFAULT_START_WAIT_MS}.
 */
export async function startApi(
  config: DaemonConfig,
  context: {
    log: Logger;
    starting: () => StartingState;
    /** Times each request and answers `GET /metrics`, from the start. Default: no metrics. */
    metrics?: ApiMetrics;
  },
): Promise<ApiPart> {
  const { log } = context;
  let ready = false;
  const startedAt = Date.now();
  const waitMs = config.cluster?.source === "kubernetes"
    ? config.cluster.syncWaitMs
    : DEFAULT_START_WAIT_MS;
  const serving = startingHandler(config.nodeName, {
    waitMs,
    state: context.starting,
    startedAt,
  });
  const handle = context.metrics?.instrument(serving.handle) ?? serving.handle;
  const server = await serveUnix(handle, { path: config.socket, log });
  let stopped: Promise<void> | undefined;
  return {
    finished: server.finished,
    attach(parts) {
      const { routing, cluster, policy } = parts;
      serving.attach(createHandler({
        ipam: parts.ipam.ipam,
        dataplane: parts.dataplane,
        lock: parts.ipam.lock,
        log,
        node: config.nodeName,
        startedAt,
        isReady: () => ready,
        routingStatus: () => routing.status(),
        clusterStatus: () => cluster.status(),
        ...(policy ? { policy } : {}),
        ...(parts.ipamCheck ? { ipamCheck: parts.ipamCheck } : {}),
        ...(parts.veths ? { veths: parts.veths } : {}),
      }));
      ready = true;
    },
    stop() {
      ready = false;
      serving.close(); // requests still waiting for a starting daemon: answered now
      stopped ??= server.shutdown();
      return stopped;
    },
    status: () => ({ ready }),
  };
}

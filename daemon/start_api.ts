/**
 * The daemon's API part: the whole API as one handler (`handler.ts`) over the other parts,
 * served on the Unix socket. It answers changes only while the daemon is up: from the moment it
 * serves until `stop()` begins, which then lets requests in flight finish and removes the socket.
 * @module
 */
import type { ClusterStatus, RoutingStatus } from "../src/api.ts";
import type { Logger } from "../src/log.ts";
import type { DaemonConfig } from "./config.ts";
import type { DaemonPart } from "./daemon_part.ts";
import type { Dataplane } from "./dataplane.ts";
import { createHandler } from "./handler.ts";
import type { IpamPart } from "./start_ipam.ts";
import type { PolicyService } from "./policy_service.ts";
import { serveUnix } from "./server.ts";

/** The running API part; `status()` says whether it answers changes. */
export interface ApiPart extends DaemonPart<{ ready: boolean }> {
  /** Settles when the server stopped on its own (a failure: the daemon exits 1). */
  readonly finished: Promise<void>;
}

/** Serves the API on `config.socket` over the other parts. */
export async function startApi(
  config: DaemonConfig,
  parts: {
    ipam: IpamPart;
    dataplane: Dataplane;
    routing: DaemonPart<RoutingStatus>;
    cluster: DaemonPart<ClusterStatus | undefined>;
    policy: PolicyService | undefined;
    log: Logger;
  },
): Promise<ApiPart> {
  const { routing, cluster, policy, log } = parts;
  let ready = false;
  const handler = createHandler({
    ipam: parts.ipam.ipam,
    dataplane: parts.dataplane,
    lock: parts.ipam.lock,
    log,
    node: config.nodeName,
    startedAt: Date.now(),
    isReady: () => ready,
    routingStatus: () => routing.status(),
    clusterStatus: () => cluster.status(),
    ...(policy ? { policy } : {}),
  });
  const server = await serveUnix(handler, { path: config.socket, log });
  ready = true;
  return {
    finished: server.finished,
    async stop() {
      ready = false;
      await server.shutdown();
    },
    status: () => ({ ready }),
  };
}

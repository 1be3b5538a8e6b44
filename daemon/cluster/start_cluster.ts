/**
 * The daemon's cluster part: the cluster source named by `cluster.source` (one small function,
 * {@linkcode clusterSource}, picks it: a watched directory, or list+watch against the Kubernetes
 * API server), listed once into the `ClusterState` and then followed; the node's pod CIDRs, from
 * the config or learned from this node's Node; and, once the node's endpoints are known, their
 * publication for the other nodes (a NodeEndpoints file, or each pod's `tern.dev/pod-ips`
 * annotation). On a single node (no `cluster` section) the state stays empty and nothing is
 * followed. The first list of a `kubernetes` source waits for every kind; while it waits,
 * `context.progress` is given the source's status, so the API can say what start-up waits for.
 * @module
 */
import type { ClusterKindStatus, ClusterStatus } from "../../src/api.ts";
import { type FilesRead, FilesSource } from "../../src/cluster/files_source.ts";
import {
  connectKubernetesSource,
  DEFAULT_POD_ANNOTATIONS,
  type KindStatus,
  KubernetesAccessError,
  type KubernetesSource,
  POD_IPS_ANNOTATION,
} from "../../src/cluster/kubernetes_source.ts";
import { publishEndpoints } from "../../src/cluster/publish_endpoints.ts";
import type { ClusterSource } from "../../src/cluster/source.ts";
import { ClusterState } from "../../src/cluster/state.ts";
import type { PublishedEndpoint } from "../../src/cluster/types.ts";
import type { Logger } from "../../src/log.ts";
import { ClusterFeed } from "./cluster_feed.ts";
import { touchesOwnEndpoints } from "./cluster_triggers.ts";
import type { ClusterConfig, DaemonConfig } from "../config.ts";
import type { DaemonPart } from "../daemon_part.ts";
import { EndpointPublisher } from "./endpoint_publisher.ts";
import type { LocalEndpoint, LocalEndpoints } from "../../src/local_endpoints.ts";
import { type PodCIDRs, waitForPodCIDRs } from "../ipam/pod_cidrs.ts";
import { podIpPublisher } from "./pod_ip_publisher.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { ApiError } from "../../src/kube/errors.ts";

/** Writes this node's endpoints where the other nodes read them; true when it changed anything. */
export type EndpointsPublish = (
  nodeName: string,
  endpoints: PublishedEndpoint[],
) => Promise<boolean>;

/**
 * The ranges beside its Node's pod CIDRs that a node allocates from (its IPAM blocks in blocks
 * mode), known only once the IPAM part runs: a holder the cluster part reads through.
 */
export interface NodeRanges {
  of(node: string): readonly string[];
}

/** A cluster source of the kind the config names, and how this node publishes its endpoints there. */
export interface ChosenSource {
  source: ClusterSource;
  publish: EndpointsPublish;
  /** Whether this node publishes (`publishEndpoints` of files, `publishPodIPs` of kubernetes). */
  publishes: boolean;
  /**
   * From an endpoint's change to its publication: files 100 ms (fifty concurrent ADDs make a few
   * file writes, not fifty); kubernetes 0 (each pod is its own PATCH, so waiting batches nothing,
   * and a peer admits a new pod only once its annotation is in).
   */
  publishDelayMs: number;
  /** The `kubernetes` source, for its per-kind status; undefined for files. */
  kubernetes?: KubernetesSource;
}

/**
 * The cluster source `cluster.source` names. `state` is the cluster state the source will fill
 * (the kubernetes publisher reads each pod's annotation there, so a restart patches nothing
 * already right). `podAnnotations`: the pod annotations the daemon reads, which a `kubernetes`
 * source keeps (it drops the others); default the address annotation and the default egress
 * binding's. Throws a `KubeconfigError` naming the file, key and fix for a bad kubeconfig.
 */
export async function clusterSource(
  cluster: ClusterConfig,
  log: Logger,
  state: ClusterState = new ClusterState(),
  nodeRanges: NodeRanges = { of: () => [] },
  podAnnotations: readonly string[] = DEFAULT_POD_ANNOTATIONS,
): Promise<ChosenSource> {
  switch (cluster.source) {
    case "files":
      return {
        source: new FilesSource(cluster.dir, {
          settleMs: cluster.settleMs,
          debounceMs: cluster.debounceMs,
          onRead: readLogger(log, cluster.dir),
        }),
        publish: (nodeName, endpoints) => publishEndpoints(cluster.dir, { nodeName, endpoints }),
        publishes: cluster.publishEndpoints,
        publishDelayMs: 100,
      };
    case "kubernetes": {
      const source = await connectKubernetesSource({
        kubeconfig: cluster.kubeconfig,
        context: cluster.context,
        nodeRanges: (node) => nodeRanges.of(node),
        podAnnotations,
        // Refused credentials or RBAC at start-up: stay up, not ready, and say so (status, CNI
        // STATUS, the log) while retrying; exiting would make a restart loop under systemd.
        rejectWhenRefused: false,
        onError: (kind, error, retryInMs) => {
          const refused = error instanceof ApiError && (error.code === 401 || error.code === 403);
          const fields = { kind, error: errorMessage(error), retryInMs };
          if (refused) {
            log.error("Kubernetes API server refuses tern; not ready, retrying", {
              ...fields,
              error: new KubernetesAccessError(kind, source.server, error).message,
            });
          } else log.warn("Kubernetes API request failed; retrying", fields);
        },
      });
      const annotate = podIpPublisher(
        (namespace, name, ips) => source.annotatePod(namespace, name, ips),
        (namespace, name) => state.pod(namespace, name)?.annotations[POD_IPS_ANNOTATION],
      );
      return {
        source,
        publish: (_nodeName, endpoints) => annotate(endpoints),
        publishes: cluster.publishPodIPs,
        publishDelayMs: 0,
        kubernetes: source,
      };
    }
  }
}

/**
 * Lists `source` into `state` and follows it; throws when the source is unusable. `signal`
 * aborts a list that waits (an API server that does not answer): the source is closed and the
 * signal's reason thrown.
 */
export async function startFeed(
  source: ClusterSource,
  state: ClusterState,
  log: Logger,
  signal?: AbortSignal,
): Promise<ClusterFeed> {
  const feed = new ClusterFeed(source, state, { log });
  const onAbort = () => void source.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  // A stop that came before this listener (during the earlier steps of start-up) counts too.
  if (signal?.aborted) onAbort();
  try {
    await feed.list();
  } catch (err) {
    await source.close();
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  feed.start();
  return feed;
}

/** A debug line for each read of a watched manifests directory: what it parsed and what it cost. */
export function readLogger(log: Logger, dir: string): (read: FilesRead) => void {
  return (read) =>
    log.debug("Read manifests", {
      dir,
      parsed: read.parsed.join(","),
      bytes: read.bytes,
      ms: read.ms,
      events: read.events,
    });
}

/** The running cluster part. */
export interface ClusterPart extends DaemonPart<ClusterStatus | undefined> {
  /** Cluster state: empty on a single node. */
  readonly state: ClusterState;
  /** The source's name (`files:/etc/tern/cluster`); undefined on a single node. */
  readonly source: string | undefined;
  /** The node's pod CIDRs and where they came from. */
  readonly pools: PodCIDRs;
  /** Where the pod CIDRs were read from, for errors: the config file or the Node. */
  readonly poolsOrigin: string;
  /** Publishes `endpoints` from now on (when `cluster.publishEndpoints`), first at once. */
  publish(endpoints: LocalEndpoints): Promise<void>;
  /**
   * Blocks mode: the nodes' IPAM blocks, once the IPAM part knows them, so that a pod's
   * `tern.dev/pod-ips` inside its node's blocks is taken (else only kubelet's status admits it).
   */
  useNodeRanges(of: (node: string) => readonly string[]): void;
}

/**
 * Lists the cluster source (when configured) and learns the pod CIDRs; `signal` aborts the wait
 * for this node's Node.
 */
export async function startCluster(
  config: DaemonConfig,
  context: {
    log: Logger;
    configFile: string;
    signal: AbortSignal;
    progress?: (status: () => ClusterStatus) => void;
  },
): Promise<ClusterPart> {
  const { log, configFile } = context;
  // Only its own node's pods are asked for by node (the IPAM check).
  const state = new ClusterState({ node: config.nodeName });
  const cluster = config.cluster;
  const configured: PodCIDRs = { podCIDRs: config.podCIDRs, from: "config" };
  const nodeRanges: NodeRanges = { of: () => [] };
  const useNodeRanges = (of: (node: string) => readonly string[]) => nodeRanges.of = of;
  if (cluster === undefined) {
    return {
      state,
      source: undefined,
      pools: configured,
      poolsOrigin: configFile,
      publish: () => Promise.resolve(),
      useNodeRanges,
      stop: () => Promise.resolve(),
      status: () => undefined,
    };
  }
  const binding = config.routing.egressBinding.annotation;
  const chosen = await clusterSource(cluster, log, state, nodeRanges, [
    POD_IPS_ANNOTATION,
    ...(binding !== undefined ? [binding] : []),
  ]);
  const { source, publish, kubernetes } = chosen;
  const status = (): ClusterStatus => {
    const out: ClusterStatus = {
      source: source.name,
      nodes: state.nodes().length,
      pods: state.pods().length,
      errors: state.errors().slice(-10).map((e) => e.message),
      publishEndpoints: chosen.publishes,
    };
    if (publisher?.status) out.published = publisher.status;
    if (kubernetes !== undefined) {
      out.synced = kubernetes.isSynced;
      const refused = kubernetes.isSynced ? undefined : kubernetes.refusal();
      if (refused !== undefined) out.refused = refused.message;
      out.kinds = kubernetes.status().map(kindStatus);
    }
    return out;
  };
  let publisher: EndpointPublisher | undefined;
  context.progress?.(status);
  const feed = await startFeed(source, state, log, context.signal);
  const stop = async () => {
    await publisher?.stop();
    await feed.stop();
  };
  try {
    // Blocks mode: the node's addresses come from IPPools, never from its Node.
    const pools: PodCIDRs = config.ipam.mode === "blocks"
      ? { podCIDRs: [], from: "blocks" }
      : await waitForPodCIDRs(state, {
        nodeName: config.nodeName,
        configured: config.podCIDRs,
        source: feed.name,
        configFile,
        timeoutMs: cluster.podCIDRWaitMs,
        log,
        signal: context.signal,
      });
    if (pools.from === "node") {
      log.info("Learned pod CIDRs from this node's Node", {
        node: config.nodeName,
        podCIDRs: pools.podCIDRs.join(","),
      });
    }
    return {
      state,
      source: feed.name,
      pools,
      poolsOrigin: pools.from === "node"
        ? `Node ${config.nodeName} in ${feed.name}`
        : pools.from === "blocks"
        ? `IPPools in ${feed.name}`
        : configFile,
      useNodeRanges,
      async publish(endpoints) {
        if (!chosen.publishes || publisher !== undefined) return;
        const p = new EndpointPublisher(
          (list) => publish(config.nodeName, list),
          () => endpoints.list().map(published),
          { log, delayMs: chosen.publishDelayMs },
        );
        publisher = p;
        endpoints.subscribe(() => p.markDirty());
        // After an outage the annotations wait for no backoff: the server answers again.
        kubernetes?.onReachable(() => p.retryNow());
        state.subscribe((change) => {
          if (touchesOwnEndpoints(change, config.nodeName)) p.markDirty();
        });
        await p.flush();
      },
      stop,
      status,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function published(ep: LocalEndpoint): PublishedEndpoint {
  const out: PublishedEndpoint = { containerID: ep.containerID, ifname: ep.ifname, ip: ep.ip };
  if (ep.podNamespace !== undefined) out.podNamespace = ep.podNamespace;
  if (ep.podName !== undefined) out.podName = ep.podName;
  return out;
}

function kindStatus(kind: KindStatus): ClusterKindStatus {
  const out: ClusterKindStatus = {
    kind: kind.kind,
    apiVersion: kind.apiVersion,
    synced: kind.synced,
    missing: kind.missing,
    watching: kind.watching,
    objects: kind.objects,
    invalid: kind.invalid,
    reconnects: kind.reconnects,
    relists: kind.relists,
    errors: kind.errors,
  };
  if (kind.lastEventAt !== undefined) out.lastEventAt = kind.lastEventAt;
  if (kind.staleSeconds !== undefined) out.staleSeconds = kind.staleSeconds;
  if (kind.lastError !== undefined) out.lastError = kind.lastError.message;
  return out;
}

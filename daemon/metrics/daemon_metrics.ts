/**
 * The daemon's metrics, in one registry (docs/metrics.md lists every one): made before the parts
 * start, so the API, the reconciler and the policy manager report into them from their first
 * request, pass and run; once the parts are up, `attach()` gives the scrape-time readers their
 * status (IPAM pools, the cluster source's watches, what routing owns, policy's state and its
 * nftables counters). Served by the API at `GET /metrics` and, with `metrics.listen`, over TCP.
 * @module
 */
import type { ClusterStatus, RoutingStatus } from "../../src/api.ts";
import type { Clock } from "../../src/clock.ts";
import { IPAMBLOCKS } from "../../src/ipam/ipam_objects.ts";
import { apiVersionOf } from "../../src/kube/client.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { Registry } from "../../src/metrics/registry.ts";
import type { DaemonConfig } from "../config.ts";
import type { DaemonPart } from "../daemon_part.ts";
import type { IpamPart } from "../ipam/start_ipam.ts";
import type { LoopStallStats } from "../loop_stalls.ts";
import type { TrimStats } from "../memory_trimmer.ts";
import type { PolicyPart } from "../policy/start_policy.ts";
import { type ApiMetrics, apiMetrics } from "./api_metrics.ts";
import { type ClusterMetrics, clusterMetrics, reflectorKind } from "./cluster_metrics.ts";
import { blockPools, cidrPools, ipamMetrics } from "./ipam_metrics.ts";
import { type PolicyMetrics, policyMetrics } from "./policy_metrics.ts";
import { processMetrics, type ProcessSource, selfProcess } from "./process_metrics.ts";
import { type ReconcileMetrics, reconcileMetrics } from "./reconcile_metrics.ts";

/** The parts whose state the metrics read at each scrape. */
export interface MeteredParts {
  ipam: IpamPart;
  cluster: DaemonPart<ClusterStatus | undefined>;
  routing: DaemonPart<RoutingStatus>;
  policy: PolicyPart;
  /** Whether the API answers changes. */
  ready: () => boolean;
}

/** Knobs for tests; every field documents its default. */
export interface DaemonMetricsOptions {
  /** Told of a scrape-time reader that failed (once per distinct error). Default silent. */
  log?: Logger;
  /** Where the process figures come from. Default `/proc/self`. */
  process?: ProcessSource;
  /** Times the bounded read of the policy counters. Default the real clock. */
  clock?: Clock;
  /** The event loop's stalls so far (daemon/loop_stalls.ts). Default: none seen. */
  loopStalls?: () => LoopStallStats;
  /** What the memory trimmer gave back (daemon/memory_trimmer.ts). Default: nothing. */
  memoryTrims?: () => TrimStats;
}

/** Every metric of the daemon. */
export class DaemonMetrics {
  /** The registry every metric is in. */
  readonly registry = new Registry();
  /** Wraps the API handler. */
  readonly api: ApiMetrics;
  /** Give the reconciler's passes to `reconcile.observe`. */
  readonly reconcile: ReconcileMetrics;
  /** Give the policy manager's runs to `policy.observe`. */
  readonly policy: PolicyMetrics;
  readonly #ipam: ReturnType<typeof ipamMetrics>;
  readonly #cluster: ClusterMetrics;
  readonly #log: Logger;
  #ready: () => boolean = () => false;
  #lastError: string | undefined;

  /** Registers every metric; `config` gives the policy counters' interval. */
  constructor(config: DaemonConfig, options: DaemonMetricsOptions = {}) {
    this.#log = options.log ?? silentLogger;
    const registry = this.registry;
    processMetrics(registry, options.process ?? selfProcess);
    const ready = registry.gauge({
      name: "tern_ready",
      help: "1 while the daemon answers changes (ADD, DEL), 0 while it starts or stops.",
    });
    registry.onCollect(() => ready.set(undefined, this.#ready() ? 1 : 0));
    const stalls = registry.counter({
      name: "tern_event_loop_stalls_total",
      help: "Times the event loop was held more than 100 ms (every event and request waited).",
    });
    const held = registry.counter({
      name: "tern_event_loop_held_seconds_total",
      help: "Time the event loop was held, summed over its stalls, in seconds.",
    });
    const trims = registry.counter({
      name: "tern_malloc_trims_total",
      help: "Times glibc's free heap memory was handed back to the kernel (malloc_trim).",
    });
    const trimmed = registry.counter({
      name: "tern_malloc_trim_released_bytes_total",
      help: "Resident memory those trims gave back, in bytes.",
    });
    const collections = registry.counter({
      name: "tern_heap_collections_total",
      help: "Full collections run because V8 kept more spare heap than live (before a trim).",
    });
    const memoryTrims = options.memoryTrims;
    registry.onCollect(() => {
      const done = memoryTrims?.() ?? { trims: 0, collections: 0, releasedBytes: 0 };
      trims.set(undefined, done.trims);
      collections.set(undefined, done.collections);
      trimmed.set(undefined, done.releasedBytes);
    });
    const loopStalls = options.loopStalls;
    registry.onCollect(() => {
      const seen = loopStalls?.() ?? { stalls: 0, heldMs: 0 };
      stalls.set(undefined, seen.stalls);
      held.set(undefined, seen.heldMs / 1000);
    });
    this.api = apiMetrics(registry, { expose: () => this.expose() });
    this.reconcile = reconcileMetrics(registry);
    this.policy = policyMetrics(registry, {
      repairs: this.reconcile.repairs,
      countersIntervalMs: config.metrics.policyCountersIntervalMs,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
    });
    this.#ipam = ipamMetrics(registry);
    this.#cluster = clusterMetrics(registry);
  }

  /** The parts are up: read their state at each scrape from now on. */
  attach(parts: MeteredParts): void {
    const { ipam, cluster, routing, policy } = parts;
    this.#ready = parts.ready;
    const blocks = ipam.blocks;
    const commits = () => ipam.ipam.commitStats();
    this.#ipam.attach(
      blocks === undefined
        ? { pools: () => cidrPools(ipam.ipam.stats()), claimable: () => undefined, commits }
        : { pools: () => blockPools(blocks.blocks()), claimable: () => blocks.headroom(), commits },
    );
    const blockView = ipam.blockView;
    this.#cluster.attach(
      () => cluster.status(),
      () =>
        blockView === undefined ? [] : [reflectorKind(blockView.status(), {
          apiVersion: apiVersionOf(IPAMBLOCKS),
          now: Date.now(),
        })],
    );
    this.reconcile.attach(() => routing.status());
    const service = policy.service;
    this.policy.attach(
      service === undefined ? undefined : {
        summary: () => service.summary(),
        counters: () => service.counters(),
        ...(policy.enforcement !== undefined ? { enforcement: policy.enforcement } : {}),
      },
    );
  }

  /** The text of a scrape. A reader that fails is logged (once per error) and left out. */
  expose(): Promise<string> {
    return this.registry.expose((err) => {
      const message = errorMessage(err);
      if (message === this.#lastError) return;
      this.#lastError = message;
      this.#log.warn("Cannot read a metric; the scrape goes on without it", { error: message });
    });
  }
}

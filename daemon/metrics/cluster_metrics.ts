/**
 * The cluster source's metrics, read from its status at each scrape: how many nodes and pods it
 * holds, whether the first lists are in, and for the `kubernetes` source each kind's watch
 * health — synced, watching, objects, reconnects, relists, errors, the age of its last event and
 * how long the API server has been silent. A kind whose watch went quiet shows as a growing
 * `tern_kube_last_event_age_seconds` (bookmarks arrive about once a minute on a healthy watch), a
 * kind cut off from the API server as a growing `tern_kube_stale_seconds`.
 * @module
 */
import type { ClusterKindStatus, ClusterStatus } from "../../src/api.ts";
import type { ReflectorStatus } from "../../src/kube/reflector.ts";
import type { MetricOptions, Registry } from "../../src/metrics/registry.ts";

/** The cluster metrics; `attach` the cluster part's status. */
export interface ClusterMetrics {
  /**
   * Reads `status` at each scrape (undefined on a single node), and the kinds other parts watch
   * (blocks mode: `IPAMBlock`, from the IPAM part's reflector).
   */
  attach(status: () => ClusterStatus | undefined, more?: () => ClusterKindStatus[]): void;
}

/** A reflector's status as a kind of the cluster status (for a watch outside the source). Pure. */
export function reflectorKind(
  status: ReflectorStatus,
  at: { apiVersion: string; now: number },
): ClusterKindStatus {
  const { apiVersion, now } = at;
  const out: ClusterKindStatus = {
    kind: status.kind,
    apiVersion,
    synced: status.synced,
    missing: status.missing,
    watching: status.watching,
    objects: status.objects,
    invalid: 0,
    reconnects: status.reconnects,
    relists: status.relists,
    errors: status.errors,
  };
  if (status.lastEventAt !== undefined) out.lastEventAt = status.lastEventAt;
  if (status.watching) out.staleSeconds = 0;
  else if (status.lastContactAt !== undefined) {
    out.staleSeconds = Math.max(0, Math.round((now - status.lastContactAt) / 1000));
  }
  return out;
}

/** Registers the cluster metrics; `now` (ms since the epoch) dates the ages. */
export function clusterMetrics(
  registry: Registry,
  options: { now?: () => number } = {},
): ClusterMetrics {
  const now = options.now ?? Date.now;
  const nodes = registry.gauge({
    name: "tern_cluster_nodes",
    help: "Nodes in the cluster state this daemon follows.",
  });
  const pods = registry.gauge({
    name: "tern_cluster_pods",
    help: "Pods in the cluster state this daemon follows.",
  });
  // Each kind's watch health: one series per kind, every help text saying where it comes from.
  const perKind = (name: string, help: string): MetricOptions<"kind"> => ({
    name,
    help: `Kubernetes source: ${help}`,
    labels: ["kind"],
  });
  const kindGauge = (name: string, help: string) => registry.gauge(perKind(name, help));
  const kindCounter = (name: string, help: string) => registry.counter(perKind(name, help));
  const synced = kindGauge(
    "tern_kube_synced",
    "1 once the first list of the kind is in (a missing CRD counts).",
  );
  const watching = kindGauge("tern_kube_watch_open", "1 while a watch of the kind is open.");
  const missing = kindGauge(
    "tern_kube_kind_missing",
    "1 while the API server does not serve the kind (its CRD is not installed).",
  );
  const objects = kindGauge("tern_kube_objects", "objects of the kind held.");
  const invalid = kindGauge(
    "tern_kube_invalid_objects",
    "objects of the kind that tern could not use.",
  );
  const reconnects = kindCounter(
    "tern_kube_watch_reconnects_total",
    "watches and lists of the kind started again after a failure or a clean end.",
  );
  const relists = kindCounter(
    "tern_kube_relists_total",
    "lists of the kind after the first (410 Gone, a kind that came back).",
  );
  const errors = kindCounter(
    "tern_kube_watch_errors_total",
    "lists and watches of the kind that failed.",
  );
  const eventAge = kindGauge(
    "tern_kube_last_event_age_seconds",
    "seconds since the last event or bookmark of the kind.",
  );
  const stale = kindGauge(
    "tern_kube_stale_seconds",
    "0 while a watch of the kind is open, else seconds since the API server last answered for it.",
  );
  let status: (() => ClusterStatus | undefined) | undefined;
  let more: () => ClusterKindStatus[] = () => [];
  registry.onCollect(() => {
    const s = status?.();
    if (s === undefined) return;
    const at = now();
    nodes.set(undefined, s.nodes);
    pods.set(undefined, s.pods);
    for (const g of [synced, watching, missing, objects, invalid, eventAge, stale]) g.clear();
    for (const k of [...s.kinds ?? [], ...more()]) {
      const kind = { kind: k.kind };
      synced.set(kind, k.synced ? 1 : 0);
      watching.set(kind, k.watching ? 1 : 0);
      missing.set(kind, k.missing ? 1 : 0);
      objects.set(kind, k.objects);
      invalid.set(kind, k.invalid);
      reconnects.set(kind, k.reconnects);
      relists.set(kind, k.relists);
      errors.set(kind, k.errors ?? 0);
      if (k.lastEventAt !== undefined) {
        eventAge.set(kind, Math.max(0, (at - k.lastEventAt) / 1000));
      }
      if (k.staleSeconds !== undefined) stale.set(kind, k.staleSeconds);
    }
  });
  return {
    attach(next, kinds) {
      status = next;
      if (kinds !== undefined) more = kinds;
    },
  };
}

/**
 * The routing reconciler's metrics: passes and their durations, the changes they made by kind of
 * object, and repairs — changes made by a pass that only the periodic check or a netlink event
 * asked for, i.e. drift that nobody inside tern announced (a route deleted by hand, a rule lost).
 * The policy table's restores are repairs too (`object="policy_table"`, from the policy metrics),
 * and so are the pod-side guard's (`pod_neighbour`, `pod_route`, from `start_routing.ts`).
 * What tern owns now, what keeps failing and the problems are read from status at each scrape.
 * @module
 */
import type { RoutingStatus } from "../../src/api.ts";
import type { Counter, Registry } from "../../src/metrics/registry.ts";
import type { PassResult } from "../routing/reconciler.ts";
import { decadeBuckets } from "../../src/metrics/buckets.ts";

/** Buckets of a reconcile pass, in seconds: 1 ms to 10 s, without a 5 s step (as first published). */
export const PASS_BUCKETS: readonly number[] = [...decadeBuckets(0.001, 2.5), 10];

/** Triggers of passes that nobody inside tern asked for: what they change was drift. */
const DRIFT_TRIGGERS = new Set(["periodic", "monitor"]);

/** Whether a pass with `trigger` (reasons joined by `,`) repairs drift. Pure. */
export function repairsDrift(trigger: string): boolean {
  return trigger.split(",").every((reason) => DRIFT_TRIGGERS.has(reason));
}

/** The reconcile metrics: `observe` each pass; `attach` the routing part's status. */
export interface ReconcileMetrics {
  /** Counts a pass (the reconciler's `onPass`). */
  observe(pass: PassResult): void;
  /** Reads what tern owns and what fails from `status` at each scrape. */
  attach(status: () => RoutingStatus): void;
  /** Repairs by kind of object, shared with the policy metrics. */
  readonly repairs: Counter<"object">;
}

/** Registers the reconcile metrics in `registry`. */
export function reconcileMetrics(registry: Registry): ReconcileMetrics {
  const passes = registry.counter({
    name: "tern_reconcile_passes_total",
    help:
      "Reconcile passes of routes and rules, by result (ok, or error when the kernel could not be listed).",
    labels: ["result"],
  });
  const duration = registry.histogram({
    name: "tern_reconcile_pass_duration_seconds",
    help: "Time a reconcile pass took: list the kernel, compute, apply.",
    buckets: PASS_BUCKETS,
  });
  const changes = registry.counter({
    name: "tern_reconcile_changes_total",
    help:
      "Changes reconcile passes made to the kernel, by kind of object and action (add, replace, delete).",
    labels: ["object", "action"],
  });
  const failures = registry.counter({
    name: "tern_reconcile_change_failures_total",
    help: "Changes that failed (each is retried with backoff), by kind of object.",
    labels: ["object"],
  });
  const repairs = registry.counter({
    name: "tern_reconcile_repairs_total",
    help:
      "Drift repaired: changes made by passes only the periodic check or a netlink event asked for (route, rule), pod-side objects the periodic check put back in a pod's namespace (pod_neighbour, pod_route), and restores of the policy table (policy_table).",
    labels: ["object"],
  });
  const owned = registry.gauge({
    name: "tern_reconcile_owned_objects",
    help: "Routes and rules carrying tern's protocol after the last pass, by kind of object.",
    labels: ["object"],
  });
  const failing = registry.gauge({
    name: "tern_reconcile_failing_changes",
    help: "Changes that keep failing and wait for their next retry.",
  });
  const problems = registry.gauge({
    name: "tern_routing_problems",
    help: "Routing problems reported (overlapping pod CIDRs, peers without an address, …).",
  });
  const monitor = registry.gauge({
    name: "tern_reconcile_monitor_running",
    help: "1 while ip monitor runs (a netlink event triggers a pass), 0 when off or restarting.",
  });
  for (const object of ["route", "rule"]) {
    repairs.inc({ object }, 0);
    failures.inc({ object }, 0);
  }
  for (const object of ["pod_neighbour", "pod_route"]) repairs.inc({ object }, 0);
  let status: (() => RoutingStatus) | undefined;
  registry.onCollect(() => {
    if (status === undefined) return;
    const s = status();
    owned.set({ object: "route" }, s.reconcile.ownedRoutes);
    owned.set({ object: "rule" }, s.reconcile.ownedRules);
    failing.set(undefined, s.reconcile.failing.length);
    problems.set(undefined, s.problems.length);
    monitor.set(undefined, s.reconcile.monitor === "running" ? 1 : 0);
  });
  return {
    repairs,
    observe(pass) {
      passes.inc({ result: pass.error === undefined ? "ok" : "error" });
      duration.observe(undefined, pass.durationMs / 1000);
      const drift = repairsDrift(pass.trigger);
      for (const object of ["route", "rule"] as const) {
        const c = pass.objects[object];
        if (c.added > 0) changes.inc({ object, action: "add" }, c.added);
        if (c.replaced > 0) changes.inc({ object, action: "replace" }, c.replaced);
        if (c.deleted > 0) changes.inc({ object, action: "delete" }, c.deleted);
        if (c.failed > 0) failures.inc({ object }, c.failed);
        if (drift) repairs.inc({ object }, c.added + c.replaced + c.deleted);
      }
    },
    attach(next) {
      status = next;
    },
  };
}

/**
 * Policy's metrics: each run of the policy manager (what it applied and how long it took), the
 * latency from a change (an endpoint, a cluster or policy manifest, a tampered table) to its
 * transaction in the kernel, the enforcement state read at each scrape, and what the rules
 * decided, from the nftables counters tern already keeps (`src/policy/counters.ts`). Reading
 * those lists the whole table, so it is bounded ({@linkcode BoundedRead}: at most once per
 * `metrics.policyCountersInterval`, a scrape waits for it at most 2 s) and so is the number of
 * rule series ({@linkcode MAX_RULE_SERIES}); the default denies are summed per namespace, never
 * one series per pod. Counters of the kernel restart from 0 when tern recreates their element
 * (a whole table, a rule that changed): Prometheus' `rate()` takes such resets in its stride.
 * @module
 */
import type { PolicyApplyStatus, PolicyEnforcement, PolicySummary } from "../../src/api.ts";
import type { Clock } from "../../src/clock.ts";
import type { Counter, Registry } from "../../src/metrics/registry.ts";
import type { PolicyCounters } from "../../src/policy/counters.ts";
import type { PolicyRunStages } from "../policy/policy_manager.ts";
import { BoundedRead } from "./bounded_read.ts";
import { decadeBuckets } from "../../src/metrics/buckets.ts";

/** Rule series beyond this many are left out (and counted in `tern_policy_rule_series_omitted`). */
export const MAX_RULE_SERIES = 2_000;

/** How long a scrape waits for a listing of the table before it answers with the last one. */
export const COUNTERS_WAIT_MS = 2_000;

/** Buckets of a policy run and of a change's way to the kernel, in seconds: 1 ms to 30 s. */
export const POLICY_BUCKETS: readonly number[] = [...decadeBuckets(0.001, 10), 30];

/** What the policy metrics read of the policy part. */
export interface PolicyFigures {
  summary(): PolicySummary;
  /** The manager's enforcement state (checks, restores). */
  enforcement?: () => PolicyEnforcement;
  counters(): Promise<PolicyCounters>;
}

/** The policy metrics: `observe` each run; `attach` the policy part. */
export interface PolicyMetrics {
  /** Counts a run (the manager's `onApply`); `stages` of a run that applied. */
  observe(
    apply: PolicyApplyStatus,
    changeToKernelMs: number | undefined,
    stages?: PolicyRunStages,
  ): void;
  /** Reads the policy part at each scrape; undefined when policy is disabled. */
  attach(figures: PolicyFigures | undefined): void;
}

/**
 * Registers the policy metrics. `repairs` is the reconcile metrics' family (the table's restores
 * are repairs); `countersIntervalMs` is `metrics.policyCountersInterval` (0: never list).
 */
export function policyMetrics(
  registry: Registry,
  options: { repairs: Counter<"object">; countersIntervalMs: number; clock?: Clock },
): PolicyMetrics {
  const runs = registry.counter({
    name: "tern_policy_runs_total",
    help:
      "Policy runs by what they applied: whole (the whole table), incremental, none (nothing changed) or failed.",
    labels: ["kind"],
  });
  const runDuration = registry.histogram({
    name: "tern_policy_run_duration_seconds",
    help: "Time a policy run took (compile, render, one nft transaction), by kind.",
    labels: ["kind"],
    buckets: POLICY_BUCKETS,
  });
  const programming = registry.histogram({
    name: "tern_policy_programming_duration_seconds",
    help:
      "Time from a change that policy depends on (an endpoint, a manifest, a restore) to its transaction in the kernel.",
    buckets: POLICY_BUCKETS,
  });
  const stageDuration = registry.histogram({
    name: "tern_policy_run_stage_duration_seconds",
    help:
      "Where a policy run that applied spent its time: wait (its oldest change waiting for the run), view, compile, render, nft (the marks and the transaction).",
    labels: ["stage"],
    buckets: POLICY_BUCKETS,
  });
  const enabled = registry.gauge({
    name: "tern_policy_enabled",
    help: "1 when tern enforces policy (policy.enabled), else 0.",
  });
  const pods = registry.gauge({
    name: "tern_policy_pods",
    help:
      "Local pods by policy state: programmed, or held (held closed: their veth drops everything).",
    labels: ["state"],
  });
  const problems = registry.gauge({
    name: "tern_policy_problems",
    help: "Problems found compiling policy (invalid, unsupported, unresolved).",
  });
  const upToDate = registry.gauge({
    name: "tern_policy_up_to_date",
    help: "1 when every change is in the kernel, 0 while one waits or the table keeps failing.",
  });
  const checks = registry.counter({
    name: "tern_policy_table_checks_total",
    help: "Checks of the kernel's table against what tern programmed.",
  });
  const rulePackets = registry.counter({
    name: "tern_policy_rule_packets_total",
    help:
      "Packets a policy rule decided on this node, by policy and rule (action deny: dropped). From nftables counters, read at most once per metrics.policyCountersInterval.",
    labels: ["kind", "namespace", "policy", "direction", "rule", "action"],
  });
  const ruleBytes = registry.counter({
    name: "tern_policy_rule_bytes_total",
    help: "Bytes a policy rule decided on this node, by policy and rule (action deny: dropped).",
    labels: ["kind", "namespace", "policy", "direction", "rule", "action"],
  });
  const omitted = registry.gauge({
    name: "tern_policy_rule_series_omitted",
    help: `Rules left out of tern_policy_rule_*_total beyond the first ${MAX_RULE_SERIES}.`,
  });
  const denyPackets = registry.counter({
    name: "tern_policy_default_deny_packets_total",
    help:
      "Packets dropped because no rule of a pod's layer allowed them, summed over the namespace's pods.",
    labels: ["namespace", "layer", "direction"],
  });
  const denyBytes = registry.counter({
    name: "tern_policy_default_deny_bytes_total",
    help:
      "Bytes dropped because no rule of a pod's layer allowed them, summed over the namespace's pods.",
    labels: ["namespace", "layer", "direction"],
  });
  const notReadyPackets = registry.counter({
    name: "tern_policy_not_ready_dropped_packets_total",
    help:
      "Packets dropped on veths whose policy was not programmed yet (no traffic before policy).",
  });
  const notReadyBytes = registry.counter({
    name: "tern_policy_not_ready_dropped_bytes_total",
    help: "Bytes dropped on veths whose policy was not programmed yet.",
  });
  const readAt = registry.gauge({
    name: "tern_policy_counters_read_timestamp_seconds",
    help: "When the nftables counters were last read, seconds since the epoch.",
  });
  const readDuration = registry.gauge({
    name: "tern_policy_counters_read_duration_seconds",
    help: "How long the last read of the nftables counters took.",
  });
  const readFailures = registry.counter({
    name: "tern_policy_counters_read_failures_total",
    help: "Reads of the nftables counters that failed.",
  });

  let figures: PolicyFigures | undefined;
  let reader: BoundedRead<PolicyCounters> | undefined;
  registry.onCollect(async () => {
    const f = figures;
    if (f === undefined) {
      enabled.set(undefined, 0);
      return;
    }
    const reading = reader !== undefined ? await reader.get() : undefined;
    const s = f.summary();
    const e = f.enforcement?.();
    enabled.set(undefined, s.enabled ? 1 : 0);
    pods.set({ state: "programmed" }, s.pods ?? 0);
    pods.set({ state: "held" }, s.pending ?? 0);
    problems.set(undefined, s.problems ?? 0);
    upToDate.set(undefined, s.upToDate === false ? 0 : 1);
    if (e !== undefined) {
      checks.set(undefined, e.checks);
      options.repairs.set({ object: "policy_table" }, e.restores);
    }
    if (reading === undefined) return;
    readFailures.set(undefined, reading.failures);
    if (reading.readAt !== undefined) readAt.set(undefined, reading.readAt / 1000);
    if (reading.durationMs !== undefined) readDuration.set(undefined, reading.durationMs / 1000);
    if (reading.value !== undefined) setCounters(reading.value);
  });

  const setCounters = (c: PolicyCounters): void => {
    for (const m of [rulePackets, ruleBytes, denyPackets, denyBytes]) m.clear();
    for (const r of c.rules.slice(0, MAX_RULE_SERIES)) {
      const labels = {
        kind: r.rule.kind,
        namespace: r.rule.namespace ?? "",
        policy: r.rule.name,
        direction: r.rule.direction,
        rule: String(r.rule.index),
        action: r.rule.action,
      };
      rulePackets.set(labels, r.packets);
      ruleBytes.set(labels, r.bytes);
    }
    omitted.set(undefined, Math.max(0, c.rules.length - MAX_RULE_SERIES));
    for (const d of c.defaultDeny) {
      const labels = { namespace: d.namespace, layer: d.layer, direction: d.direction };
      denyPackets.inc(labels, d.packets);
      denyBytes.inc(labels, d.bytes);
    }
    notReadyPackets.set(undefined, c.notReady.packets);
    notReadyBytes.set(undefined, c.notReady.bytes);
  };

  return {
    observe(apply, changeToKernelMs, stages) {
      runs.inc({ kind: apply.kind });
      runDuration.observe({ kind: apply.kind }, apply.durationMs / 1000);
      if (changeToKernelMs !== undefined && apply.kind !== "failed") {
        programming.observe(undefined, changeToKernelMs / 1000);
      }
      if (stages !== undefined && apply.kind !== "failed") {
        if (stages.waitMs !== undefined) {
          stageDuration.observe({ stage: "wait" }, stages.waitMs / 1000);
        }
        stageDuration.observe({ stage: "view" }, stages.viewMs / 1000);
        stageDuration.observe({ stage: "compile" }, stages.compileMs / 1000);
        stageDuration.observe({ stage: "render" }, stages.renderMs / 1000);
        stageDuration.observe({ stage: "nft" }, stages.nftMs / 1000);
      }
    },
    attach(next) {
      figures = next;
      reader = next === undefined || options.countersIntervalMs <= 0
        ? undefined
        : new BoundedRead(() => next.counters(), {
          maxAgeMs: options.countersIntervalMs,
          waitMs: COUNTERS_WAIT_MS,
          ...(options.clock !== undefined ? { clock: options.clock } : {}),
        });
    },
  };
}

import { assertEquals } from "../../test/assert.ts";
import type { PolicyApplyStatus, PolicyEnforcement } from "../../src/api.ts";
import { FakeClock } from "../../src/clock.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import type { PolicyCounters, RuleCounter } from "../../src/policy/counters.ts";
import { MAX_RULE_SERIES, type PolicyFigures, policyMetrics } from "./policy_metrics.ts";

function apply(kind: PolicyApplyStatus["kind"], durationMs: number): PolicyApplyStatus {
  return {
    at: 0,
    trigger: "endpoints",
    kind,
    durationMs,
    computeMs: 1,
    lines: 4,
    pods: 1,
    pending: 0,
  };
}

function rule(name: string, index: number, action: "allow" | "deny", packets: number): RuleCounter {
  return {
    rule: { kind: "SecurityGroup", name, direction: "ingress", index, action },
    packets,
    bytes: packets * 60,
  };
}

const COUNTERS: PolicyCounters = {
  rules: [
    rule("sg-strict", 0, "allow", 1),
    rule("sg-strict", 1, "deny", 3),
    {
      rule: {
        kind: "NetworkPolicy",
        namespace: "x",
        name: "web",
        direction: "ingress",
        index: 0,
        action: "allow",
      },
      packets: 12,
      bytes: 720,
    },
  ],
  perPod: [],
  defaultDeny: [
    {
      namespace: "x",
      name: "a",
      direction: "ingress",
      layer: "networkPolicy",
      packets: 2,
      bytes: 120,
    },
    {
      namespace: "x",
      name: "b",
      direction: "ingress",
      layer: "networkPolicy",
      packets: 5,
      bytes: 300,
    },
    {
      namespace: "y",
      name: "c",
      direction: "egress",
      layer: "securityGroup",
      packets: 1,
      bytes: 84,
    },
  ],
  notReady: { packets: 4, bytes: 240 },
  unmatched: 0,
};

function setup(counters: () => Promise<PolicyCounters>, clock = new FakeClock()) {
  const registry = new Registry();
  const repairs = registry.counter({ name: "t_repairs_total", help: "", labels: ["object"] });
  const metrics = policyMetrics(registry, { repairs, countersIntervalMs: 30_000, clock });
  const figures: PolicyFigures = {
    summary: () => ({ enabled: true, pods: 3, pending: 1, problems: 2, upToDate: true }),
    enforcement: () => ({ checks: 31, restores: 2 }) as PolicyEnforcement,
    counters,
  };
  metrics.attach(figures);
  return { registry, metrics, clock };
}

Deno.test("policyMetrics() counts runs by kind and times a change's way to the kernel", async () => {
  const { registry, metrics } = setup(() => Promise.resolve(COUNTERS));
  metrics.observe(apply("whole", 30), undefined);
  metrics.observe(apply("incremental", 4), 25);
  metrics.observe(apply("none", 1), 21);
  metrics.observe(apply("failed", 9), undefined);
  const families = parseExposition(await registry.expose());
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(families, name, labels);
  assertEquals(value("tern_policy_runs_total", { kind: "incremental" }), 1);
  assertEquals(value("tern_policy_runs_total", { kind: "failed" }), 1);
  assertEquals(value("tern_policy_run_duration_seconds_sum", { kind: "whole" }), 0.03);
  assertEquals(value("tern_policy_programming_duration_seconds_count"), 2);
  assertEquals(value("tern_policy_programming_duration_seconds_bucket", { le: "0.025" }), 2);
  assertEquals(value("tern_policy_pods", { state: "held" }), 1);
  assertEquals(value("tern_policy_problems"), 2);
  assertEquals(value("tern_policy_table_checks_total"), 31);
  assertEquals(value("t_repairs_total", { object: "policy_table" }), 2);
});

Deno.test("policyMetrics() times each stage of a run that applied, none of a failed one", async () => {
  const { registry, metrics } = setup(() => Promise.resolve(COUNTERS));
  const stages = { waitMs: 20, viewMs: 2, compileMs: 30, renderMs: 4, nftMs: 600 };
  metrics.observe(apply("incremental", 636), 656, stages);
  metrics.observe(apply("none", 1), undefined, { ...stages, waitMs: undefined });
  metrics.observe(apply("failed", 9), undefined, stages);
  const families = parseExposition(await registry.expose());
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(families, name, labels);
  assertEquals(value("tern_policy_run_stage_duration_seconds_count", { stage: "wait" }), 1);
  assertEquals(value("tern_policy_run_stage_duration_seconds_count", { stage: "nft" }), 2);
  assertEquals(value("tern_policy_run_stage_duration_seconds_sum", { stage: "nft" }), 1.2);
  assertEquals(
    value("tern_policy_run_stage_duration_seconds_bucket", { stage: "compile", le: "0.025" }),
    0,
  );
  assertEquals(
    value("tern_policy_run_stage_duration_seconds_bucket", { stage: "compile", le: "0.05" }),
    2,
  );
});

Deno.test("policyMetrics() shows what each rule decided, default denies summed by namespace, and not-ready drops", async () => {
  const { registry } = setup(() => Promise.resolve(COUNTERS));
  const families = parseExposition(await registry.expose());
  const value = (name: string, labels: Record<string, string>) =>
    sampleValue(families, name, labels);
  const deny = {
    kind: "SecurityGroup",
    namespace: "",
    policy: "sg-strict",
    direction: "ingress",
    rule: "1",
    action: "deny",
  };
  assertEquals(value("tern_policy_rule_packets_total", deny), 3);
  assertEquals(value("tern_policy_rule_bytes_total", deny), 180);
  assertEquals(
    value("tern_policy_rule_packets_total", {
      ...deny,
      kind: "NetworkPolicy",
      namespace: "x",
      policy: "web",
      rule: "0",
      action: "allow",
    }),
    12,
  );
  assertEquals(
    value("tern_policy_default_deny_packets_total", {
      namespace: "x",
      layer: "networkPolicy",
      direction: "ingress",
    }),
    7,
  );
  assertEquals(value("tern_policy_not_ready_dropped_packets_total", {}), 4);
  assertEquals(value("tern_policy_counters_read_failures_total", {}), 0);
});

Deno.test("policyMetrics() lists the table at most once per interval, and bounds the rule series", async () => {
  let reads = 0;
  const many: PolicyCounters = {
    ...COUNTERS,
    rules: Array.from({ length: MAX_RULE_SERIES + 5 }, (_, i) => rule(`sg-${i}`, 0, "deny", i)),
  };
  const { registry, clock } = setup(() => {
    reads++;
    return Promise.resolve(many);
  });
  for (let i = 0; i < 5; i++) {
    await registry.expose();
    await clock.tick(5_000);
  }
  assertEquals(reads, 1);
  await clock.tick(10_000);
  const families = parseExposition(await registry.expose());
  assertEquals(reads, 2);
  assertEquals(
    families.find((f) => f.name === "tern_policy_rule_packets_total")!.samples.length,
    MAX_RULE_SERIES,
  );
  assertEquals(sampleValue(families, "tern_policy_rule_series_omitted"), 5);
});

Deno.test("policyMetrics() with policy disabled says so and reads nothing", async () => {
  const registry = new Registry();
  const repairs = registry.counter({ name: "t_repairs_total", help: "", labels: ["object"] });
  const metrics = policyMetrics(registry, { repairs, countersIntervalMs: 30_000 });
  metrics.attach(undefined);
  const families = parseExposition(await registry.expose());
  assertEquals(sampleValue(families, "tern_policy_enabled"), 0);
});

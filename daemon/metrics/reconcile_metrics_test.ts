import { assertEquals } from "../../test/assert.ts";
import type { RoutingStatus } from "../../src/api.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import { emptyPass, type PassResult } from "../routing/reconciler.ts";
import { reconcileMetrics, repairsDrift } from "./reconcile_metrics.ts";

function pass(
  trigger: string,
  route: Partial<PassResult["objects"]["route"]>,
  error?: string,
): PassResult {
  const base = emptyPass(trigger, 0);
  return {
    ...base,
    durationMs: 12,
    objects: {
      route: { ...base.objects.route, ...route },
      rule: { ...base.objects.rule, added: 1 },
    },
    ...(error !== undefined ? { error } : {}),
  };
}

Deno.test("repairsDrift() is true only for passes that only the periodic check or netlink asked for", () => {
  assertEquals(repairsDrift("periodic"), true);
  assertEquals(repairsDrift("monitor"), true);
  assertEquals(repairsDrift("monitor,periodic"), true);
  assertEquals(repairsDrift("endpoints,monitor"), false);
  assertEquals(repairsDrift("start"), false);
  assertEquals(repairsDrift("retry"), false);
});

Deno.test("reconcileMetrics() counts passes, changes by object and action, failures and repairs", async () => {
  const registry = new Registry();
  const metrics = reconcileMetrics(registry);
  metrics.observe(pass("endpoints", { added: 2 }));
  metrics.observe(pass("monitor", { added: 1, deleted: 1, failed: 1 }));
  metrics.observe(pass("periodic", {}, "Cannot list routes: exit 1"));
  metrics.attach((): RoutingStatus => ({
    mode: "routes",
    podCIDRsFrom: "config",
    peers: [],
    problems: [{ kind: "no_address", message: "x" }],
    reconcile: {
      passes: 3,
      intervalMs: 10_000,
      monitor: "running",
      ownedRoutes: 7,
      ownedRules: 2,
      failing: [{ item: "route add", error: "e", attempts: 1, since: 0, retryAt: 1 }],
    },
  }));
  const families = parseExposition(await registry.expose());
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(families, name, labels);
  assertEquals(value("tern_reconcile_passes_total", { result: "ok" }), 2);
  assertEquals(value("tern_reconcile_passes_total", { result: "error" }), 1);
  assertEquals(value("tern_reconcile_pass_duration_seconds_count"), 3);
  assertEquals(value("tern_reconcile_changes_total", { object: "route", action: "add" }), 3);
  assertEquals(value("tern_reconcile_changes_total", { object: "route", action: "delete" }), 1);
  assertEquals(value("tern_reconcile_changes_total", { object: "rule", action: "add" }), 3);
  assertEquals(value("tern_reconcile_change_failures_total", { object: "route" }), 1);
  // Only the monitor's pass repaired drift: one route added, one deleted, one rule added.
  assertEquals(value("tern_reconcile_repairs_total", { object: "route" }), 2);
  assertEquals(value("tern_reconcile_repairs_total", { object: "rule" }), 2);
  assertEquals(value("tern_reconcile_owned_objects", { object: "route" }), 7);
  assertEquals(value("tern_reconcile_failing_changes"), 1);
  assertEquals(value("tern_routing_problems"), 1);
  assertEquals(value("tern_reconcile_monitor_running"), 1);
});

import { assertEquals } from "../../test/assert.ts";
import type { ClusterKindStatus, ClusterStatus } from "../../src/api.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import { clusterMetrics, reflectorKind } from "./cluster_metrics.ts";

const NOW = 1_800_000_000_000;

function kind(name: string, fields: Partial<ClusterKindStatus>): ClusterKindStatus {
  return {
    kind: name,
    apiVersion: "v1",
    synced: true,
    missing: false,
    watching: true,
    objects: 0,
    invalid: 0,
    reconnects: 0,
    relists: 0,
    ...fields,
  };
}

Deno.test("clusterMetrics() shows each kind's watch health from the source's status", async () => {
  const registry = new Registry();
  const metrics = clusterMetrics(registry, { now: () => NOW });
  const status: ClusterStatus = {
    source: "kubernetes:https://10.0.0.1:6443",
    nodes: 3,
    pods: 40,
    errors: [],
    publishEndpoints: true,
    synced: true,
    kinds: [
      kind("Pod", {
        objects: 40,
        invalid: 1,
        reconnects: 4,
        relists: 1,
        errors: 2,
        lastEventAt: NOW - 2_500,
        staleSeconds: 0,
      }),
      kind("SecurityGroup", { missing: true, watching: false, staleSeconds: 75 }),
    ],
  };
  metrics.attach(() => status);
  const families = parseExposition(await registry.expose());
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(families, name, labels);
  const pod = { kind: "Pod" };
  const sg = { kind: "SecurityGroup" };
  assertEquals(value("tern_cluster_nodes"), 3);
  assertEquals(value("tern_cluster_pods"), 40);
  assertEquals(value("tern_kube_synced", pod), 1);
  assertEquals(value("tern_kube_objects", pod), 40);
  assertEquals(value("tern_kube_invalid_objects", pod), 1);
  assertEquals(value("tern_kube_watch_reconnects_total", pod), 4);
  assertEquals(value("tern_kube_relists_total", pod), 1);
  assertEquals(value("tern_kube_watch_errors_total", pod), 2);
  assertEquals(value("tern_kube_last_event_age_seconds", pod), 2.5);
  assertEquals(value("tern_kube_watch_open", sg), 0);
  assertEquals(value("tern_kube_kind_missing", sg), 1);
  assertEquals(value("tern_kube_stale_seconds", sg), 75);
  assertEquals(value("tern_kube_last_event_age_seconds", sg), undefined);
});

Deno.test("clusterMetrics() on a single node shows nothing of a cluster", async () => {
  const registry = new Registry();
  clusterMetrics(registry).attach(() => undefined);
  const families = parseExposition(await registry.expose());
  assertEquals(sampleValue(families, "tern_cluster_nodes"), 0);
  assertEquals(families.find((f) => f.name === "tern_kube_synced")!.samples, []);
});

Deno.test("clusterMetrics() shows another part's watch beside the source's kinds (blocks mode: IPAMBlock)", async () => {
  const registry = new Registry();
  const metrics = clusterMetrics(registry, { now: () => NOW });
  const blocks = reflectorKind(
    {
      kind: "IPAMBlock",
      synced: true,
      missing: false,
      watching: false,
      objects: 12,
      resourceVersion: "77",
      lastEventAt: NOW - 60_000,
      lastContactAt: NOW - 30_000,
      reconnects: 3,
      relists: 0,
      errors: 3,
    },
    { apiVersion: "tern.dev/v1alpha1", now: NOW },
  );
  metrics.attach(
    () => ({
      source: "kubernetes",
      nodes: 1,
      pods: 0,
      errors: [],
      publishEndpoints: true,
      kinds: [],
    }),
    () => [blocks],
  );
  const families = parseExposition(await registry.expose());
  const kind = { kind: "IPAMBlock" };
  assertEquals(sampleValue(families, "tern_kube_objects", kind), 12);
  assertEquals(sampleValue(families, "tern_kube_watch_errors_total", kind), 3);
  assertEquals(sampleValue(families, "tern_kube_stale_seconds", kind), 30);
  assertEquals(sampleValue(families, "tern_kube_last_event_age_seconds", kind), 60);
});

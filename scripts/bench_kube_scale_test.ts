import { assert, assertEquals, assertThrows } from "../test/assert.ts";
import {
  benchPolicies,
  fullCollectionsAfter,
  kubeScalePlan,
  localPodObject,
  nearestRank,
  podAt,
  sampleBlockAddress,
  samplePodIndex,
  summarizeLatency,
} from "./bench_kube_scale.ts";

Deno.test("the plan generates enough pods that the cluster has the asked total once this node's are replaced", () => {
  for (
    const shape of [
      { nodes: 50, pods: 1_500, policies: 100, localPods: 4 },
      { nodes: 5_000, pods: 150_000, policies: 10_000, localPods: 4 },
      { nodes: 7, pods: 100, policies: 0, localPods: 3 },
    ]
  ) {
    const plan = kubeScalePlan(shape);
    assertEquals(plan.nodeIndex, shape.nodes - 1);
    assertEquals(
      plan.generate.pods - plan.deletePods.length + shape.localPods,
      shape.pods,
      JSON.stringify(shape),
    );
    // Every deleted pod is one the generator put on this node.
    const onNode = [];
    for (let i = 0; i < plan.generate.pods; i++) {
      if (i % shape.nodes === plan.nodeIndex) onNode.push(podAt(i, shape.nodes).metadata!.name);
    }
    assertEquals(plan.deletePods.map((p) => p.name), onNode);
    for (const i of [0, 1, plan.nodeIndex]) {
      const pod = podAt(i, shape.nodes) as { spec?: { nodeName?: string } };
      assertEquals(pod.spec?.nodeName === plan.nodeName, i === plan.nodeIndex);
    }
  }
});

Deno.test("the plan refuses a cluster too small to hold a pod per node", () => {
  assertThrows(() => kubeScalePlan({ nodes: 1, pods: 10, policies: 0, localPods: 1 }), Error, "2");
  assertThrows(
    () => kubeScalePlan({ nodes: 10, pods: 5, policies: 0, localPods: 1 }),
    Error,
    "--kube-pods",
  );
});

Deno.test("Pod-change samples use other nodes' pods, never two neighbouring addresses", () => {
  const plan = kubeScalePlan({ nodes: 50, pods: 1_500, policies: 100, localPods: 4 });
  const ips = new Set<string>();
  for (let n = 0; n < 300; n++) {
    const pod = podAt(samplePodIndex(n, plan), plan.generate.nodes) as {
      spec: { nodeName: string };
      status: { podIP: string };
    };
    assert(pod.spec.nodeName !== plan.nodeName, `sample ${n} is on this node`);
    assert(!ips.has(pod.status.podIP), `sample ${n} repeats ${pod.status.podIP}`);
    ips.add(pod.status.podIP);
  }
  for (const ip of ips) {
    const [a, b, c, d] = ip.split(".").map(Number);
    assert(!ips.has(`${a}.${b}.${c}.${d! + 1}`), `${ip} has a sampled neighbour`);
  }
  assertThrows(() => samplePodIndex(10_000, plan), Error, "Too many samples");
});

Deno.test("policy-change samples use distinct addresses, none next to another", () => {
  const all = new Set<string>();
  for (let n = 0; n < 2_000; n++) all.add(sampleBlockAddress(n));
  assertEquals(all.size, 2_000);
  for (const ip of all) {
    const [a, b, c, d] = ip.split(".").map(Number);
    assert(!all.has(`${a}.${b}.${c}.${d! + 1}`), ip);
  }
});

Deno.test("local pods carry the local label and no address; the bench policies select them", () => {
  const plan = kubeScalePlan({ nodes: 50, pods: 1_500, policies: 100, localPods: 4 });
  const pod = localPodObject(2, plan) as {
    metadata: { name: string; namespace: string; labels: Record<string, string>; uid?: string };
    spec: { nodeName: string };
    status: Record<string, unknown>;
  };
  assertEquals(pod.metadata.name, "bench-local-2");
  assertEquals(pod.spec.nodeName, plan.nodeName);
  assertEquals(pod.metadata.labels["bench.tern.dev/local"], "true");
  assertEquals(pod.metadata.uid, undefined);
  assertEquals(pod.status, { phase: "Pending" });
  const [peers, blocks] = benchPolicies("198.18.0.1") as {
    metadata: { namespace: string };
    spec: { podSelector: { matchLabels: Record<string, string> }; ingress: unknown[] };
  }[];
  for (const p of [peers!, blocks!]) {
    assertEquals(p.metadata.namespace, pod.metadata.namespace);
    assertEquals(p.spec.podSelector.matchLabels, { "bench.tern.dev/local": "true" });
  }
  assertEquals(JSON.stringify(blocks!.spec.ingress).includes("198.18.0.1/32"), true);
});

Deno.test("latency figures count lost samples as slower than any", () => {
  assertEquals(nearestRank([5, 1, 3], 50), 3);
  const s = summarizeLatency([10, 20, undefined, 30]);
  assertEquals([s.samples, s.lost, s.p50Ms, s.maxMs], [4, 1, 20, Infinity]);
  const all = summarizeLatency(Array.from({ length: 100 }, (_, i) => i + 1));
  assertEquals([all.p50Ms, all.p90Ms, all.p99Ms, all.maxMs], [50, 90, 99, 100]);
});

Deno.test("fullCollectionsAfter() gives each full collection after the sync as marking steps plus pause", () => {
  const gcs = [
    { atMs: 5_000, kind: "Mark-Compact", pauseMs: 900 }, // the collection after the list
    { atMs: 30_000, kind: "Scavenge", pauseMs: 3 },
    { atMs: 31_000, kind: "Incremental Mark-Compact", pauseMs: 40.4, markingMs: 380.3 },
    { atMs: 45_000, kind: "Incremental Mark-Compact (reduce)", pauseMs: 12, markingMs: 100 },
  ];
  assertEquals(fullCollectionsAfter(gcs, 20_000), [421, 112]);
  assertEquals(fullCollectionsAfter(gcs, 50_000), []);
});

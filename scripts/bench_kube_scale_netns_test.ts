/**
 * The kube-scale benchmark's pipeline at smoke size (root): the fake API server in its own
 * process and netns, one ternd synced from it with policy on, CNI-wired local pods, and Pod and
 * policy changes written to the API reaching the node's nftables table while pods churn. No
 * timing goal is checked here: `deno task bench --only kube-scale` measures.
 * @module
 */
import { assert, assertEquals } from "../test/assert.ts";
import { benchKubeScale } from "./bench_kube_scale.ts";

Deno.test({
  name: "kube-scale at smoke size: ternd syncs 1 500 pods and API writes reach nftables",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const r = await benchKubeScale({
      nodes: 50,
      pods: 1_500,
      policies: 100,
      localPods: 2,
      eventsPerSecond: 200,
      cpuSeconds: 1,
      samples: 8,
      sampleTimeoutMs: 2_000,
      settleMs: 0,
      idleMs: 500,
      verbose: false,
    });
    assertEquals(r.objects.Node, 50);
    assertEquals(r.objects.Pod, 1_500);
    assertEquals(r.objects.NetworkPolicy, 102);
    // The bench's eye on the kernel follows nftables commits and lists a local pod's map after
    // each: at this size every change reaches the kernel well within the sample timeout.
    assertEquals(r.pod.lost, 0, `Pod changes lost: ${JSON.stringify(r.latencies)}`);
    assertEquals(r.policy.lost, 0, `policy changes lost: ${JSON.stringify(r.latencies)}`);
    assert(r.churnEventsPerSecond > 0, "the fake churned");
    assert(r.policyApplies > 0, "policy was applied");
  },
});

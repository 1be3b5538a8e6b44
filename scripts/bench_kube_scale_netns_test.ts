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
    // nft 1.0.6's monitor, the bench's eye on the kernel, prints some changes late or not at all
    // (benchmarks.md): the pipeline works when some change of each kind is seen.
    assert(r.pod.lost < r.pod.samples, `no Pod change seen: ${JSON.stringify(r.latencies)}`);
    assert(
      r.policy.lost < r.policy.samples,
      `no policy change seen: ${JSON.stringify(r.latencies)}`,
    );
    assert(r.churnEventsPerSecond > 0, "the fake churned");
    assert(r.policyApplies > 0, "policy was applied");
  },
});

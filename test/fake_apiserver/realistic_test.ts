/**
 * The realistic object generator, and the fake serving a cluster of a few thousand objects while
 * pod events churn: pages stay one snapshot, a watch from the list's revision sees every churn
 * event once.
 * @module
 */

import { assert, assertEquals } from "../assert.ts";
import { WatchReader } from "./_test_client.ts";
import {
  nodeAddresses,
  realisticCluster,
  realisticNetworkPolicy,
  realisticNode,
  realisticPod,
} from "./realistic.ts";
import { startFakeApiServer } from "./server.ts";

Deno.test("realistic objects weigh what real ones do and are the same for the same seed", () => {
  const pod = realisticPod(7, 3, 1, "team-001");
  const size = JSON.stringify(pod).length;
  assert(size > 2_500 && size < 8_000, `a pod is ${size} bytes`);
  const podMeta = pod.metadata!;
  assert(Array.isArray(podMeta.managedFields) && podMeta.managedFields.length === 2);
  // deno-lint-ignore no-explicit-any
  const status = pod.status as any;
  assertEquals(status.podIPs, [{ ip: "10.128.3.3" }]);
  assertEquals(status.conditions.length, 5);
  assertEquals(JSON.stringify(realisticPod(7, 3, 1, "team-001")), JSON.stringify(pod));
  assert(JSON.stringify(realisticNode(1)).length > 2_000);
  assertEquals(nodeAddresses(300), { podCIDR: "10.129.44.0/24", internalIP: "172.16.1.45" });
  // deno-lint-ignore no-explicit-any
  assertEquals((realisticNetworkPolicy(1, "x") as any).spec.policyTypes, ["Ingress", "Egress"]);
});

Deno.test("realisticCluster gives unique names and pod addresses", () => {
  const objs = [...realisticCluster({ nodes: 20, pods: 400, networkPolicies: 30, namespaces: 5 })];
  assertEquals(objs.length, 5 + 20 + 400 + 30);
  const keys = new Set(
    objs.map((o) => `${o.kind}/${o.metadata!.namespace ?? ""}/${o.metadata!.name}`),
  );
  assertEquals(keys.size, objs.length);
  // deno-lint-ignore no-explicit-any
  const ips = new Set(objs.filter((o) => o.kind === "Pod").map((o) => (o.status as any).podIP));
  assertEquals(ips.size, 400);
});

Deno.test("a cluster of 20 000 pods: paged lists stay one snapshot under churn; a watch from their revision sees every event once", async () => {
  const fake = await startFakeApiServer();
  try {
    fake.generate({ nodes: 500, pods: 20_000, networkPolicies: 500, namespaces: 20 });
    // The churn starts once the first page has fixed the snapshot (started before, its first
    // creation could land ahead of the first page and be in the snapshot).
    let churn: ReturnType<typeof fake.churn> | undefined;
    let cont = "";
    let rv = "";
    const seen = new Set<string>();
    const t0 = Date.now();
    do {
      const r = await fetch(
        `${fake.url}/api/v1/pods?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
      );
      const body = await r.json();
      if (rv === "") {
        rv = body.metadata.resourceVersion;
        churn = fake.churn({ eventsPerSecond: 1_000, durationMs: 60_000 });
      }
      assertEquals(body.metadata.resourceVersion, rv);
      for (const p of body.items) seen.add(`${p.metadata.namespace}/${p.metadata.name}`);
      cont = body.metadata.continue ?? "";
    } while (cont);
    const listMs = Date.now() - t0;
    // The snapshot is the 20 000 generated pods: the churn's creations came after it.
    assertEquals(seen.size, 20_000);
    assert(churn !== undefined && churn.progress().events > 0, "the churn ran while paging");
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${rv}`);
    await new Promise((r) => setTimeout(r, 500));
    churn.stop();
    const { events } = await churn.done.then(async (p) => ({ p, ...(await w.rest(1_500)) }));
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    assertEquals(new Set(rvs).size, rvs.length, "no duplicate");
    assert(rvs.every((v, i) => i === 0 || v > rvs[i - 1]!), "in order");
    // Every write after rv was a pod event of the churn: one event each, no gap.
    assertEquals(rvs.length, fake.rv - Number(rv));
    assert(listMs < 30_000, `paging 20 000 pods took ${listMs} ms`);
    await w.cancel();
  } finally {
    await fake.close();
  }
});

import { assert, assertEquals, assertStringIncludes, assertThrows } from "./assert.ts";
import { parse } from "yaml";
import {
  clusterConfig,
  formatRoute,
  formatRule,
  nodeManifest,
  parseClusterSource,
  podManifest,
  sourceUnsupported,
} from "./sandbox_cluster.ts";

Deno.test("nodeManifest() carries the pod CIDRs in both fields and the InternalIP first", () => {
  assertEquals(nodeManifest("node-2", { podCIDRs: ["10.244.2.0/24"], internalIP: "10.98.0.2" }), {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "node-2", labels: { "kubernetes.io/hostname": "node-2" } },
    spec: { podCIDR: "10.244.2.0/24", podCIDRs: ["10.244.2.0/24"] },
    status: {
      addresses: [
        { type: "InternalIP", address: "10.98.0.2" },
        { type: "Hostname", address: "node-2" },
      ],
    },
  });
});

Deno.test("podManifest() is Pending before ADD and Running with podIPs after, as a kubelet writes it", () => {
  const pod = { namespace: "team-a", name: "web", nodeName: "node-1" };
  const labels = { "tern.dev/egress-table": "egress-a" };
  const pending = podManifest(pod, { labels });
  assertEquals(pending.status, { phase: "Pending" });
  assertEquals((pending.metadata as { labels: unknown }).labels, labels);
  const running = podManifest({ ...pod, ip: "10.244.1.7" });
  assertEquals(running.status, {
    phase: "Running",
    podIP: "10.244.1.7",
    podIPs: [{ ip: "10.244.1.7" }],
  });
  assertEquals((running.spec as { nodeName: string }).nodeName, "node-1");
});

Deno.test("clusterConfig() points the daemon at the shared dir and merges routing overrides", () => {
  const text = clusterConfig({
    dir: "/tmp/c",
    mode: "native",
    routing: { egressTables: [{ name: "egress-a", table: 100, dev: "eg0" }] },
  });
  assertEquals(parse(text), {
    cluster: { source: "files", dir: "/tmp/c", publishEndpoints: true },
    routing: {
      mode: "native",
      addressTypes: ["InternalIP"],
      clusterCIDRs: ["10.244.0.0/16"],
      egressTables: [{ name: "egress-a", table: 100, dev: "eg0" }],
    },
    reconcile: { interval: "10s", monitor: true },
  });
  assertStringIncludes(clusterConfig({ dir: "/d", mode: "routes", reconcileInterval: "1s" }), "1s");
  const extra = parse(
    clusterConfig({ dir: "/d", mode: "routes", extra: { policy: { enabled: false } } }),
  );
  assertEquals(extra.policy, { enabled: false });
});

Deno.test("clusterConfig() with the kubernetes source names the kubeconfig and the waits, no dir", () => {
  const config = parse(
    clusterConfig({ dir: "/d", mode: "routes", source: "kubernetes", kubeconfig: "/n/kubeconfig" }),
  );
  assertEquals(config.cluster, {
    source: "kubernetes",
    kubeconfig: "/n/kubeconfig",
    podCIDRWait: "60s",
    syncWait: "30s",
  });
});

Deno.test("clusterConfig() merges extra.cluster into the cluster section, the rest stays top-level", () => {
  const config = parse(clusterConfig({
    dir: "/d",
    mode: "routes",
    source: "kubernetes",
    kubeconfig: "/n/kubeconfig",
    extra: { cluster: { publishPodIPs: false }, policy: { enabled: true } },
  }));
  assertEquals(config.cluster.publishPodIPs, false);
  assertEquals(config.cluster.kubeconfig, "/n/kubeconfig");
  assertEquals(config.policy, { enabled: true });
});

Deno.test("parseClusterSource() takes files and kubernetes and says what to use otherwise", () => {
  assertEquals(parseClusterSource("files", "--source"), "files");
  assertEquals(parseClusterSource("kubernetes", "--source"), "kubernetes");
  assertThrows(
    () => parseClusterSource("etcd", "--source"),
    TypeError,
    'Unknown cluster source in --source: "etcd": use files or kubernetes',
  );
});

Deno.test("sourceUnsupported() is silent for files and names a reason or nothing for kubernetes", async () => {
  assertEquals(await sourceUnsupported("files"), undefined);
  const reason = await sourceUnsupported("kubernetes");
  if (reason !== undefined) {
    assert(
      reason.startsWith("the fake API server is not in this checkout") ||
        reason.startsWith("the daemon does not accept cluster.source: kubernetes yet"),
      reason,
    );
  }
});

Deno.test("formatRoute() and formatRule() read ip -json -N output", () => {
  assertEquals(formatRoute({ type: "7", dst: "10.244.1.0/24" }), "unreachable 10.244.1.0/24");
  assertEquals(
    formatRoute({ dst: "10.244.2.0/24", gateway: "10.98.0.2", dev: "fab0" }),
    "10.244.2.0/24 via 10.98.0.2",
  );
  assertEquals(
    formatRoute({ dst: "default", gateway: "10.97.0.1", table: "100" }),
    "default via 10.97.0.1 table 100",
  );
  assertEquals(
    formatRoute({ dst: "10.244.1.3", dev: "tern0123456789a", table: "254" }),
    "10.244.1.3 dev tern0123456789a",
  );
  assertEquals(
    formatRule({ priority: 512, src: "all", dst: "10.244.1.3", table: "254" }),
    "512 to 10.244.1.3 lookup 254",
  );
  assertEquals(
    formatRule({ priority: 1536, src: "10.244.1.3", table: "100" }),
    "1536 from 10.244.1.3 lookup 100",
  );
  assertEquals(
    formatRule({ priority: 512, src: "all", dst: "10.244.0.0", dstlen: 16, table: "254" }),
    "512 to 10.244.0.0/16 lookup 254",
  );
});

/**
 * One fixture, two sources, without daemons: the same steps on a `files` sandbox cluster and on a
 * `kubernetes` one leave the same Nodes, Namespaces, Pods and policies in the directory and on the
 * API server (its own fields aside), removing them leaves both empty, and tern's two cluster
 * sources (`FilesSource`, `KubernetesSource`) read the same cluster from them. This holds before
 * the daemon takes the kubernetes source. Needs root.
 */
import { parse } from "yaml";
import { assertEquals } from "./assert.ts";
import { type KubeObject, refOf } from "./cluster_objects.ts";
import { FAKE_APISERVER_MAIN, nodeKubeconfig } from "./sandbox_apiserver.ts";
import { FilesSource } from "../src/cluster/files_source.ts";
import {
  connectKubernetesSource,
  DEFAULT_POD_ANNOTATIONS,
} from "../src/cluster/kubernetes_source.ts";
import type { Snapshot } from "../src/cluster/types.ts";
import { type ClusterSource, SandboxCluster } from "./sandbox_cluster.ts";
import { SCENARIOS } from "./policy_scenarios.ts";

const skip = Deno.uid() !== 0
  ? "not root"
  : await Deno.stat(FAKE_APISERVER_MAIN).then(() => undefined, () => "no fake API server");
if (skip !== undefined) console.warn(`Skipping the sandbox cluster object tests: ${skip}`);

/**
 * The parts of `have` that `want` names: what the server holds of what we wrote, leaving out
 * what it sets itself (uid, resourceVersion, defaults such as a Namespace's finalizers).
 */
function projected(have: unknown, want: unknown): unknown {
  if (Array.isArray(want) && Array.isArray(have)) {
    return have.length === want.length ? have.map((h, i) => projected(h, want[i])) : have;
  }
  if (want !== null && typeof want === "object" && have !== null && typeof have === "object") {
    return Object.fromEntries(
      Object.keys(want).filter((k) => k in have).map((k) => [
        k,
        projected((have as Record<string, unknown>)[k], (want as Record<string, unknown>)[k]),
      ]),
    );
  }
  return have;
}

/** The fixture's steps; returns the objects that a policy scenario added. */
async function steps(cluster: SandboxCluster): Promise<Record<string, unknown>[]> {
  const n1 = await cluster.addNode("node-1", { start: false });
  await cluster.addNode("node-2", { start: false });
  await cluster.writeNode("node-9", { podCIDRs: ["10.244.2.0/25"], internalIP: "10.98.0.9" });
  for (const ns of ["x", "y", "z"]) {
    await cluster.apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { ns } },
    });
  }
  const pod = await cluster.addPod(n1, "web", {
    namespace: "x",
    labels: { app: "web", "tern.dev/egress-table": "egress-a" },
    wire: false,
  });
  // No daemon runs: the address is the one an ADD would have given, written as kubelet does.
  pod.ip = "10.244.1.9";
  await cluster.writePodStatus(pod);
  await cluster.setPodMetadata(pod, { labels: { app: "web" }, annotations: { note: "1" } });
  const items = SCENARIOS.find((s) => s.name === "sg-and-np")!.items;
  await cluster.applyAll(items);
  return items;
}

/** Every object of the files cluster's directory (endpoints files are the daemons'). */
async function directoryObjects(cluster: SandboxCluster): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for await (const e of Deno.readDir(cluster.dir)) {
    if (e.name.startsWith(".") || e.name.startsWith("endpoints-")) continue;
    out.push(parse(await Deno.readTextFile(`${cluster.dir}/${e.name}`)));
  }
  return sorted(out);
}

function sorted(objs: KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => JSON.stringify(refOf(o));
  return objs.sort((a, b) => key(a).localeCompare(key(b)));
}

Deno.test({
  name: "the same fixture leaves the same objects in the directory and on the API server",
  ignore: skip !== undefined,
  fn: async () => {
    const clusters = new Map<ClusterSource, SandboxCluster>();
    try {
      for (const source of ["files", "kubernetes"] as const) {
        clusters.set(source, await SandboxCluster.create({ source }));
      }
      const files = clusters.get("files")!;
      const kube = clusters.get("kubernetes")!;
      const items = await steps(files);
      await steps(kube);
      const want = await directoryObjects(files);
      assertEquals(want.length, 3 + 4 + 1 + items.length, "nodes, namespaces, the pod, policies");
      const have = [];
      for (const obj of want) {
        const got = await kube.apiServer!.objects.get(refOf(obj));
        have.push(got === undefined ? undefined : projected(got, obj));
      }
      assertEquals(have, want);
      // Labels and annotations exactly: the one the fixture took away is gone from the server.
      const podRef = { apiVersion: "v1", kind: "Pod", namespace: "x", name: "web" };
      const pod = (await kube.apiServer!.objects.get(podRef))!;
      assertEquals([pod.metadata.labels, pod.metadata.annotations], [{ app: "web" }, {
        note: "1",
      }]);

      for (const cluster of [files, kube]) {
        await cluster.removeAll(items);
        await cluster.remove(podRef);
        await cluster.removeNodeObject("node-9");
      }
      const left = await directoryObjects(files);
      assertEquals(left.map((o) => `${o.kind} ${o.metadata.name}`), [
        "Namespace default",
        "Namespace x",
        "Namespace y",
        "Namespace z",
        "Node node-1",
        "Node node-2",
      ]);
      for (const obj of want) {
        const kept = left.some((l) => JSON.stringify(refOf(l)) === JSON.stringify(refOf(obj)));
        const got = await kube.apiServer!.objects.get(refOf(obj));
        assertEquals(got !== undefined, kept, `${obj.kind} ${obj.metadata.name} on the server`);
      }
    } finally {
      for (const cluster of clusters.values()) await cluster.cleanup();
    }
  },
});

Deno.test({
  name: "the files source and the kubernetes source read the same cluster from the same fixture",
  ignore: skip !== undefined,
  fn: async () => {
    const clusters = new Map<ClusterSource, SandboxCluster>();
    const closers: (() => Promise<void>)[] = [];
    try {
      for (const source of ["files", "kubernetes"] as const) {
        const cluster = await SandboxCluster.create({ source });
        clusters.set(source, cluster);
        await steps(cluster);
      }
      const files = new FilesSource(clusters.get("files")!.dir);
      closers.push(() => files.close());
      // The test process reaches the server on loopback (the nodes use the fabric address).
      const api = clusters.get("kubernetes")!.apiServer!;
      const kubeconfig = `${clusters.get("kubernetes")!.sb.dir}/test-kubeconfig`;
      await Deno.writeTextFile(
        kubeconfig,
        nodeKubeconfig("test", {
          server: api.localUrl,
          tokenFile: api.tokenFile,
          caPem: api.caPem,
        }),
      );
      const kube = await connectKubernetesSource({ kubeconfig });
      closers.push(() => kube.close());
      const [want, have] = [comparable(await files.list()), comparable(await kube.list())];
      assertEquals(have, want);
    } finally {
      for (const close of closers) await close();
      for (const cluster of clusters.values()) await cluster.cleanup();
    }
  },
});

/**
 * A snapshot without what says where it came from (files, resourceVersions, uids), sorted; and
 * without what an API server adds on its own, as real ones do: its namespaces (`kube-system`…)
 * and the `kubernetes.io/metadata.name` label of every namespace. Pods keep only the annotations
 * the kubernetes source keeps (those tern reads: it holds 150 000 pods at scale); the files source
 * keeps them all.
 */
function comparable(snap: Snapshot): unknown {
  const kept = new Set(DEFAULT_POD_ANNOTATIONS);
  const pods = snap.pods.map((p) => ({
    ...p,
    annotations: Object.fromEntries(Object.entries(p.annotations).filter(([k]) => kept.has(k))),
  }));
  const strip = (r: object) =>
    JSON.parse(JSON.stringify(r, (k, v) => {
      if (["file", "resourceVersion", "uid", "kubernetes.io/metadata.name"].includes(k)) {
        return undefined;
      }
      return v;
    }));
  const sort = (xs: object[]) =>
    xs.map(strip).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return {
    nodes: sort(snap.nodes),
    pods: sort(pods),
    namespaces: sort(snap.namespaces.filter((n) => !/^kube-/.test(n.name))),
    others: sort(snap.others),
    errors: snap.errors.map((e) => e.message),
  };
}

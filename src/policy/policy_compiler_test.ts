import { assert, assertEquals } from "../../test/assert.ts";
import { clusterWith, loadCluster, localEndpoints, relabel, SCENARIOS } from "./_testing.ts";
import { compilePolicy } from "./compile.ts";
import { PolicyChanges } from "./policy_changes.ts";
import { PolicyCompiler } from "./policy_compiler.ts";
import { renderPolicyTable, renderPolicyUpdate } from "./render.ts";

const sorted = (messages: { message: string }[]) => messages.map((p) => p.message).sort();

Deno.test("PolicyCompiler.compile() gives compilePolicy()'s model for every scenario", async () => {
  const compiler = new PolicyCompiler();
  for (const scenario of SCENARIOS) {
    const state = await loadCluster(`${scenario}.yaml`);
    const endpoints = await localEndpoints(state);
    const want = compilePolicy(state, { endpoints });
    for (let round = 0; round < 2; round++) {
      const got = compiler.compile(state, { endpoints });
      assertEquals({ ...got, problems: [] }, { ...want, problems: [] }, scenario);
      assertEquals(sorted(got.problems), sorted(want.problems), scenario);
    }
  }
});

Deno.test("PolicyCompiler.compile() reuses every pod when nothing changed", async () => {
  const state = await loadCluster("both-layers.yaml");
  const endpoints = await localEndpoints(state);
  const compiler = new PolicyCompiler();
  const first = compiler.compile(state, { endpoints });
  assertEquals(compiler.stats, { computed: 4, reused: 0 });
  const second = compiler.compile(state, { endpoints });
  assertEquals(compiler.stats, { computed: 0, reused: 4 });
  second.pods.forEach((p, i) => assert(p === first.pods[i], `${p.name} is the same object`));
  assertEquals(renderPolicyUpdate(first, second), "");
});

Deno.test("PolicyCompiler.compile() recomputes a pod whose labels changed, and pods whose peers read them", async () => {
  // np-and-peer: x/a admits pod=b pods of namespace y; x/b, y/a and z/a read no peers.
  const state = await loadCluster("np-and-peer.yaml");
  const endpoints = await localEndpoints(state);
  const compiler = new PolicyCompiler();
  compiler.compile(state, { endpoints });
  relabel(state, { namespace: "y", name: "c", labels: { pod: "b" } }); // a remote pod
  const after = compiler.compile(state, { endpoints });
  assertEquals(after, compilePolicy(state, { endpoints }));
  assert(compiler.stats.computed >= 1, JSON.stringify(compiler.stats));
  assert(compiler.stats.reused >= 1, JSON.stringify(compiler.stats));
});

Deno.test("PolicyCompiler.compile() keeps a pod whose rules name only addresses when another pod's policy changes", async () => {
  const sg = `
apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: a, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  securityGroups: { groupIds: [sg-cidr] }
---
apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: { name: sg-cidr }
spec:
  ingress: [{ action: allow, protocol: tcp, ports: [80], from: [{ cidr: 10.0.0.0/8 }] }]
  egress: [{ action: allow }]
`;
  const state = await clusterWith(sg);
  const endpoints = await localEndpoints(state);
  const compiler = new PolicyCompiler();
  const before = compiler.compile(state, { endpoints });
  const xa = before.pods.find((p) => p.namespace === "x" && p.name === "a")!;
  // A deny-all for x/b arrives, and a pod label elsewhere changes.
  const withDeny = await clusterWith(
    sg,
    `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny-b, namespace: x}, spec: {podSelector: {matchLabels: {pod: b}}}}`,
  );
  // Same Pod objects are needed for reuse: move the new policy into the first state.
  for (const other of withDeny.others()) {
    if (other.resourceKind === "NetworkPolicy") {
      state.apply({ type: "added", resource: other, resourceVersion: "2" });
    }
  }
  relabel(state, { namespace: "y", name: "a", labels: { pod: "a", extra: "yes" } });
  const after = compiler.compile(state, { endpoints });
  assert(after.pods.find((p) => p.namespace === "x" && p.name === "a") === xa, "x/a kept");
  assertEquals(after, compilePolicy(state, { endpoints }));
  const update = renderPolicyUpdate(before, after);
  assert(update.includes("_in_np"), update);
  assert(!update.includes(xa.id), "nothing of x/a is rendered again");
  assertEquals(renderPolicyTable(after), renderPolicyTable(compilePolicy(state, { endpoints })));
});

Deno.test("PolicyCompiler.compile() fed the changes recomputes no pod for a pod no selection holds, and only the readers of one that does", async () => {
  // np-and-peer: x/a admits pods b of namespace y, every pod of z, pods b of x.
  const state = await loadCluster("np-and-peer.yaml");
  const endpoints = await localEndpoints(state);
  const changes = new PolicyChanges();
  state.subscribe((change) => changes.observe(change));
  const compiler = new PolicyCompiler();
  const first = compiler.compile(state, { endpoints, changes: changes.take() });
  const pod = (namespace: string, name: string, labels: Record<string, string>, ip: string) =>
    state.apply({
      type: "added",
      resource: {
        kind: "Pod",
        namespace,
        name,
        labels,
        annotations: {},
        serviceAccountName: "default",
        nodeName: "node-2",
        hostNetwork: false,
        phase: "Running",
        podIPs: [ip],
        containers: [],
      },
      resourceVersion: "3",
    });
  pod("y", "q", { pod: "q" }, "10.244.9.1"); // in no selection of x/a
  const quiet = compiler.compile(state, { endpoints, changes: changes.take() });
  assertEquals(compiler.stats.computed, 0);
  quiet.pods.forEach((p, i) => assert(p === first.pods[i], `${p.name} is the same object`));
  assertEquals(renderPolicyUpdate(first, quiet), "");
  pod("y", "b2", { pod: "b" }, "10.244.9.2"); // a new peer of x/a
  const after = compiler.compile(state, { endpoints, changes: changes.take() });
  assertEquals(compiler.stats.computed, 1);
  assertEquals(after, compilePolicy(state, { endpoints }));
  const update = renderPolicyUpdate(quiet, after);
  assert(update.includes("10.244.9.2"), update);
});

Deno.test("PolicyCompiler.compile() computes the layers of replicas (same namespace, labels, account, ports) once", async () => {
  const replica = (name: string, ip: string) =>
    `{apiVersion: v1, kind: Pod, metadata: {namespace: x, name: ${name}, labels: {pod: a}}, spec: {nodeName: node-1}, status: {podIPs: [{ip: ${ip}}]}}`;
  const state = await loadCluster("np-and-peer.yaml");
  for (const text of [replica("r1", "10.244.1.101"), replica("r2", "10.244.1.102")]) {
    for (const resource of (await clusterWith(text)).pods().filter((p) => p.name[0] === "r")) {
      state.apply({ type: "added", resource, resourceVersion: "5" });
    }
  }
  const endpoints = [
    { namespace: "x", name: "r1", ifname: "tern-r1", ip: "10.244.1.101" },
    { namespace: "x", name: "r2", ifname: "tern-r2", ip: "10.244.1.102" },
  ];
  const compiler = new PolicyCompiler();
  const model = compiler.compile(state, { endpoints });
  assertEquals(model, compilePolicy(state, { endpoints }));
  const [r1, r2] = model.pods;
  assert(r1!.ingress.length > 0, "the replicas are isolated");
  assert(r1!.ingress === r2!.ingress, "one computation for both");
});

Deno.test("PolicyCompiler.compile() after clear() compares every pod, whatever changes it is passed", async () => {
  const state = await loadCluster("np-and-peer.yaml");
  const endpoints = await localEndpoints(state);
  const compiler = new PolicyCompiler();
  compiler.compile(state, { endpoints });
  compiler.clear();
  // Only an unrelated pod is said to have changed: a fresh compiler must still read them all.
  const changes = { pods: new Set(["z/none"]), namespaces: new Set<string>(), resources: false };
  assertEquals(
    compiler.compile(state, { endpoints, changes }),
    compilePolicy(state, { endpoints }),
  );
});

import { assert, assertEquals } from "../../test/assert.ts";
import { stateFrom } from "../../test/cluster_fixtures.ts";
import { endpoint, podYaml } from "./_policy_testing.ts";
import { policyEndpoint, PolicyViewBuilder } from "./policy_view.ts";

const NP_X =
  `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web, namespace: x}, spec: {podSelector: {matchLabels: {app: web}}}}`;
const SGP_Y =
  `{apiVersion: vpcresources.k8s.aws/v1beta1, kind: SecurityGroupPolicy, metadata: {name: g, namespace: y}, spec: {podSelector: {}, securityGroups: {groupIds: [sg-a]}}}`;

Deno.test("policyEndpoint() names an endpoint without pod identity after its container in default", () => {
  assertEquals(
    policyEndpoint({ containerID: "abc123", ifname: "eth0", ip: "10.1.1.1", hostVeth: "tern1" }),
    { namespace: "default", name: "abc123", ifname: "tern1", ip: "10.1.1.1" },
  );
});

Deno.test("PolicyViewBuilder on a single node makes every endpoint a label-less pod and a peer", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const { view, endpoints, held } = new PolicyViewBuilder().build({
    cluster: undefined,
    policyDir: stateFrom(NP_X),
    endpoints: [a],
    nodeName: "node-1",
  });
  assertEquals(held.size, 0);
  assertEquals(endpoints, [{ namespace: "x", name: "a", ifname: a.hostVeth, ip: a.ip }]);
  const pod = view.pod("x", "a")!;
  assertEquals([pod.labels, pod.serviceAccountName, pod.nodeName], [{}, "default", "node-1"]);
  assertEquals(view.pods(), [pod]);
  assert(view.podByIp("10.244.1.10") === pod);
  assertEquals(view.podIPs(pod), ["10.244.1.10"]);
  assertEquals(view.others().map((o) => o.name), ["web"]);
});

Deno.test("PolicyViewBuilder holds an unknown pod when a NetworkPolicy or SecurityGroupPolicy of its namespace exists", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("y", "b", "10.244.1.11");
  const c = await endpoint("z", "c", "10.244.1.12");
  const { view, held } = new PolicyViewBuilder().build({
    cluster: stateFrom(NP_X, SGP_Y),
    policyDir: undefined,
    endpoints: [a, b, c],
    nodeName: "node-1",
  });
  assertEquals(
    held.get(a.hostVeth),
    "Pod x/a is not in the cluster state and NetworkPolicy x/web could select it: held closed until its Pod object arrives",
  );
  assertEquals(
    held.get(b.hostVeth),
    "Pod y/b is not in the cluster state and SecurityGroupPolicy y/g could select it: held closed until its Pod object arrives",
  );
  assertEquals(held.has(c.hostVeth), false);
  assertEquals(view.pod("x", "a"), undefined);
  // z/c: programmed as unaffected, but not a peer of anyone's selectors.
  assertEquals(view.pod("z", "c")?.labels, {});
  assertEquals(view.pods(), []);
});

Deno.test("PolicyViewBuilder uses the cluster's Pod object when it has one", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NP_X, podYaml("x", "a", { app: "web" }));
  const { view, held } = new PolicyViewBuilder().build({
    cluster,
    policyDir: undefined,
    endpoints: [a],
    nodeName: "node-1",
  });
  assertEquals(held.size, 0);
  assert(view.pod("x", "a") === cluster.pod("x", "a"));
});

Deno.test("PolicyViewBuilder keeps synthesized pods the same objects from one build to the next", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const builder = new PolicyViewBuilder();
  const inputs = { cluster: undefined, policyDir: undefined, endpoints: [a], nodeName: "n" };
  const first = builder.build(inputs).view.pod("x", "a");
  assert(builder.build(inputs).view.pod("x", "a") === first);
  const again = builder.build({ ...inputs, endpoints: [{ ...a, netns: "/run/netns/other" }] });
  assert(again.view.pod("x", "a") === first, "an endpoint registered again keeps its pod");
  const moved = builder.build({ ...inputs, endpoints: [{ ...a, ip: "10.244.1.99" }] });
  assert(moved.view.pod("x", "a") !== first, "a new address is a new object");
  assertEquals(moved.view.podByIp("10.244.1.10"), undefined);
  assert(builder.build({ ...inputs, nodeName: "m" }).view.pod("x", "a")?.nodeName === "m");
});

Deno.test("PolicyViewBuilder gives an unchanged endpoint the same policy endpoint object", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const builder = new PolicyViewBuilder();
  const inputs = { cluster: undefined, policyDir: undefined, nodeName: "n" };
  const [first] = builder.build({ ...inputs, endpoints: [a] }).endpoints;
  const { endpoints, view } = builder.build({ ...inputs, endpoints: [a, b] });
  assert(endpoints[0] === first, "the compiler and the peer index compare endpoints by identity");
  assertEquals(endpoints[1], { namespace: "x", name: "b", ifname: b.hostVeth, ip: b.ip });
  assertEquals(view.pods().map((p) => p.name), ["a", "b"]);
});

Deno.test("PolicyViewBuilder takes a policy in both sources from the cluster source", () => {
  const cluster = stateFrom(NP_X);
  const dir = stateFrom(NP_X.replace("app: web", "app: db"), SGP_Y);
  const { view } = new PolicyViewBuilder().build({
    cluster,
    policyDir: dir,
    endpoints: [],
    nodeName: "n",
  });
  const others = view.others();
  assertEquals(others.map((o) => o.resourceKind), ["NetworkPolicy", "SecurityGroupPolicy"]);
  assert(others[0] === cluster.others()[0]);
});

Deno.test("PolicyViewBuilder on a single node knows every namespace policy.dir lacks by its name label", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const builder = new PolicyViewBuilder();
  const inputs = {
    cluster: undefined,
    policyDir: stateFrom(
      `{apiVersion: v1, kind: Namespace, metadata: {name: y, labels: {team: red}}}`,
    ),
    endpoints: [a],
    nodeName: "node-1",
  };
  const { view } = builder.build(inputs);
  assertEquals(view.namespace("x")?.labels, { "kubernetes.io/metadata.name": "x" });
  assertEquals(view.namespace("y")?.labels.team, "red");
  assert(builder.build(inputs).view.namespace("x") === view.namespace("x"), "the same object");
});

Deno.test("PolicyViewBuilder with a cluster source leaves a Namespace that has not arrived unknown", () => {
  const { view } = new PolicyViewBuilder().build({
    cluster: stateFrom(NP_X),
    policyDir: undefined,
    endpoints: [],
    nodeName: "node-1",
  });
  assertEquals(view.namespace("x"), undefined);
});

import { assert, assertEquals } from "../../test/assert.ts";
import { clusterWith, loadCluster, localEndpoints, SCENARIOS } from "./_testing.ts";
import { compilePolicy, podPolicyId } from "./compile.ts";
import type { Box } from "./model.ts";
import { renderPolicyTable } from "./render.ts";
import { describeRule } from "./render.ts";

const inside = (b: Box, o: Box) =>
  b.space === o.space &&
  b.addresses[0] <= o.addresses[1] && o.addresses[0] <= b.addresses[1] &&
  b.first[0] <= o.first[1] && o.first[0] <= b.first[1] &&
  b.second[0] <= o.second[1] && o.second[0] <= b.second[1];

Deno.test("compilePolicy() never produces overlapping boxes in a layer, nor ICMP in the l4 space", async () => {
  for (const scenario of SCENARIOS) {
    const state = await loadCluster(`${scenario}.yaml`);
    const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
    for (const pod of model.pods) {
      for (const layer of [...pod.egress, ...pod.ingress]) {
        layer.boxes.forEach((b, i) => {
          assert(
            !(b.space === "l4" && b.first[0] <= 1 && 1 <= b.first[1]),
            `${scenario}: ICMP in l4`,
          );
          for (const o of layer.boxes.slice(i + 1)) {
            assert(
              !inside(b, o),
              `${scenario} ${pod.name}: ${JSON.stringify(b)} overlaps ${JSON.stringify(o)}`,
            );
          }
        });
      }
    }
  }
});

Deno.test("compilePolicy() keeps an endpoint whose pod is unknown out of ready, so its veth drops", async () => {
  const state = await loadCluster("none.yaml");
  const endpoints = [
    ...(await localEndpoints(state)),
    { namespace: "x", name: "ghost", ifname: "tern0123456789a", ip: "10.244.1.99" },
  ];
  const model = compilePolicy(state, { endpoints });
  assertEquals(model.pending, [{ ...endpoints[4]!, reason: "pod not in cluster state" }]);
  const text = renderPolicyTable(model);
  assert(
    !text.includes('"tern0123456789a",') && !text.includes('"tern0123456789a"\n'),
    "not ready",
  );
  assert(text.includes("# pending x/ghost tern0123456789a: pod not in cluster state"));
});

Deno.test("compilePolicy() counts a local endpoint's address before the cluster state shows it", async () => {
  const state = await loadCluster("np-allow-from-namespace.yaml");
  const endpoints = await localEndpoints(state);
  // Neither the pod's status nor a published NodeEndpoints knows the address yet.
  state.apply({
    type: "modified",
    resource: { ...state.pod("y", "a")!, podIPs: [] },
    resourceVersion: "2",
  });
  state.apply({ type: "deleted", resource: state.nodeEndpoints()[0]!, resourceVersion: "3" });
  const model = compilePolicy(state, { endpoints });
  const a = model.pods.find((p) => p.name === "a" && p.namespace === "x")!;
  // 10.244.1.20 (y/a, known only from its endpoint), then y/b and y/c.
  assertEquals(a.ingress[0]!.boxes.map((b) => b.addresses), [[0x0af40114, 0x0af40114], [
    0x0af40215,
    0x0af40216,
  ]]);
  const without = compilePolicy(state, { endpoints: endpoints.filter((e) => e.namespace !== "y") });
  assertEquals(
    without.pods[0]!.ingress[0]!.boxes.some((b) => b.addresses[0] === 0x0af40114),
    false,
  );
});

Deno.test("compilePolicy() does not count finished pods as peers: their address may be reused", async () => {
  const state = await loadCluster("np-allow-from-namespace.yaml");
  state.apply({
    type: "modified",
    resource: { ...state.pod("y", "c")!, phase: "Succeeded" },
    resourceVersion: "2",
  });
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  const text = renderPolicyTable(model);
  assert(text.includes("10.244.2.21 . tcp . 80 : accept"), text);
  assert(!text.includes("10.244.2.22"), "y/c's address is gone");
});

Deno.test("compilePolicy() holds a pod whose only groups have no SecurityGroup default-deny, reported", async () => {
  const state = await clusterWith(`apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: missing, namespace: x }
spec:
  podSelector: {}
  securityGroups: { groupIds: [sg-nowhere] }
`);
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  const inX = model.pods.filter((p) => p.namespace === "x");
  assertEquals(inX.length, 2);
  for (const pod of inX) {
    for (const direction of ["egress", "ingress"] as const) {
      assertEquals(
        pod[direction].map((l) => [l.layer, l.boxes.length]),
        [["securityGroup", 0]],
        `${pod.name} ${direction}: as in a group without rules`,
      );
    }
  }
  assert(
    model.pods.filter((p) => p.namespace !== "x").every((p) => p.ingress.length === 0),
    "other namespaces are untouched",
  );
  assertEquals(model.problems.map((p) => p.message), [
    'Unresolved in SecurityGroupPolicy "x/missing": spec.securityGroups.groupIds[0]: no SecurityGroup "sg-nowhere": it counts as a group without rules until it exists, so the pods this policy selects are default-deny in the security-group layer but for what their other groups allow',
  ]);
  const text = renderPolicyTable(model);
  assert(text.includes("x/a ingress security groups default deny"), text);
});

Deno.test("compilePolicy() enforces a pod's known groups beside a missing one as before", async () => {
  const model = compilePolicy(await loadCluster("both-layers.yaml"), {
    endpoints: await localEndpoints(await loadCluster("both-layers.yaml")),
  });
  const a = model.pods.find((p) => p.namespace === "x" && p.name === "a")!;
  assertEquals(
    new Set(a.ingress[0]!.boxes.map((b) => describeRule(b.rule))),
    new Set(["SecurityGroup/sg-tcp ingress rule 0"]),
  );
});

Deno.test("compilePolicy() reports a peer security group that nothing defines", async () => {
  const state = await clusterWith(`apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: web, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  securityGroups: { groupIds: [sg-web] }
---
apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: { name: sg-web }
spec:
  ingress: [{ action: allow, from: [{ securityGroup: sg-typo }, { cidr: 10.9.0.0/16 }] }]
`);
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  assertEquals(model.problems.map((p) => p.message), [
    'Unresolved in SecurityGroup "sg-web": spec.ingress[0].from[0].securityGroup: no SecurityGroup or SecurityGroupPolicy names the group "sg-typo": this peer matches nothing',
  ]);
  const a = model.pods.find((p) => p.namespace === "x" && p.name === "a")!;
  assertEquals(
    new Set(a.ingress[0]!.boxes.map((b) => describeRule(b.rule))),
    new Set(["SecurityGroup/sg-web ingress rule 0"]),
  );
  assertEquals(a.egress[0]!.boxes, [], "no egress rule: egress is default deny");
});

Deno.test("compilePolicy() selects by namespace name even for a namespace the state lacks", async () => {
  const state = await clusterWith(`apiVersion: v1
kind: Pod
metadata: { name: lone, namespace: elsewhere }
spec: { nodeName: node-2 }
status: { podIPs: [{ ip: 10.244.2.77 }] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: from-elsewhere, namespace: x }
spec:
  podSelector: { matchLabels: { pod: b } }
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: elsewhere } } }] }]
`);
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  const b = model.pods.find((p) => p.namespace === "x" && p.name === "b")!;
  assertEquals([...new Set(b.ingress[0]!.boxes.map((x) => x.addresses[0]))], [0x0af4024d]); // 10.244.2.77
});

Deno.test("compilePolicy() keeps every layer chain to three lookups however many rules and pods", async () => {
  const rules = Array.from(
    { length: 300 },
    (_, i) =>
      `    - { priority: ${i % 7}, action: ${
        i % 3 === 0 ? "deny" : "allow"
      }, protocol: tcp, ports: [${1000 + i}], from: [{ cidr: 10.${i % 250}.0.0/16 }] }`,
  ).join("\n");
  const state = await clusterWith(`apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: all, namespace: x }
spec:
  podSelector: {}
  securityGroups: { groupIds: [sg-big] }
---
apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: { name: sg-big }
spec:
  ingress:
${rules}
`);
  const text = renderPolicyTable(compilePolicy(state, { endpoints: await localEndpoints(state) }));
  const chains = text.split("\tchain p_").slice(1).map((c) => c.slice(0, c.indexOf("\t}")));
  assertEquals(chains.length, 4); // x/a and x/b, egress and ingress
  for (const chain of chains) {
    assertEquals(chain.split("\n").filter((l) => l.includes(" vmap @")).length, 3);
  }
});

Deno.test("podPolicyId() is stable and tells attachments of one pod apart", () => {
  assertEquals(podPolicyId("x", "a", "tern5fbdc12f0a2"), podPolicyId("x", "a", "tern5fbdc12f0a2"));
  assert(podPolicyId("x", "a", "tern5fbdc12f0a2") !== podPolicyId("x", "a", "tern5fbdc12f0a3"));
  assert(/^[0-9a-f]{12}$/.test(podPolicyId("x", "a", "tern5fbdc12f0a2")));
});

/** A pod of namespace `elsewhere`, whose Namespace object has not arrived, and x/a's policy. */
const LONE_POD = `apiVersion: v1
kind: Pod
metadata: { name: lone, namespace: elsewhere }
spec: { nodeName: node-2 }
status: { podIPs: [{ ip: 10.244.2.77 }] }
`;
const LONE = 0x0af4024d; // 10.244.2.77

/** The rules of x/a's ingress boxes that hold `address`. */
function ingressRulesAt(
  model: ReturnType<typeof compilePolicy>,
  address: number,
): string[] {
  const a = model.pods.find((p) => p.namespace === "x" && p.name === "a")!;
  return a.ingress.map((layer) =>
    [
      ...new Set(
        layer.boxes.filter((b) => b.addresses[0] <= address && address <= b.addresses[1])
          .map((b) => describeRule(b.rule)),
      ),
    ].join(",") || "default deny"
  );
}

Deno.test("compilePolicy() lets a security group deny by namespaceSelector match a pod whose Namespace is unknown", async () => {
  const state = await clusterWith(
    LONE_POD,
    `apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: web, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  securityGroups: { groupIds: [sg-web] }
---
apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: { name: sg-web }
spec:
  ingress:
    - { priority: 10, action: deny, from: [{ namespaceSelector: { matchLabels: { team: red } } }] }
    - { priority: 20, action: allow, from: [{ cidr: 10.0.0.0/8 }] }
`,
  );
  const endpoints = await localEndpoints(state);
  assertEquals(ingressRulesAt(compilePolicy(state, { endpoints }), LONE), [
    "SecurityGroup/sg-web ingress rule 0",
  ]);
  // Once the Namespace arrives, without the label, the deny no longer applies.
  state.apply({
    type: "added",
    resource: {
      kind: "Namespace",
      name: "elsewhere",
      labels: { "kubernetes.io/metadata.name": "elsewhere", team: "blue" },
    },
    resourceVersion: "2",
  });
  assertEquals(ingressRulesAt(compilePolicy(state, { endpoints }), LONE), [
    "SecurityGroup/sg-web ingress rule 1",
  ]);
});

Deno.test("compilePolicy() does not let an allow by NotIn or DoesNotExist match a pod whose Namespace is unknown", async () => {
  const state = await clusterWith(
    LONE_POD,
    `apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: web, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  securityGroups: { groupIds: [sg-web] }
---
apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: { name: sg-web }
spec:
  ingress:
    - action: allow
      from:
        - namespaceSelector: { matchExpressions: [{ key: team, operator: NotIn, values: [red] }] }
        - namespaceSelector: { matchExpressions: [{ key: quarantine, operator: DoesNotExist }] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: not-red, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  ingress:
    - from: [{ namespaceSelector: { matchExpressions: [{ key: team, operator: NotIn, values: [red] }] } }]
    - from: [{ namespaceSelector: { matchExpressions: [{ key: quarantine, operator: DoesNotExist }] } }]
`,
  );
  const endpoints = await localEndpoints(state);
  assertEquals(ingressRulesAt(compilePolicy(state, { endpoints }), LONE), [
    "default deny",
    "default deny",
  ]);
  state.apply({
    type: "added",
    resource: {
      kind: "Namespace",
      name: "elsewhere",
      labels: { "kubernetes.io/metadata.name": "elsewhere", team: "blue" },
    },
    resourceVersion: "2",
  });
  assertEquals(ingressRulesAt(compilePolicy(state, { endpoints }), LONE), [
    "SecurityGroup/sg-web ingress rule 0",
    "NetworkPolicy/x/not-red ingress rule 0",
  ]);
});

Deno.test("compilePolicy() decides selectors on the namespace name alone exactly while the Namespace is unknown", async () => {
  const state = await clusterWith(
    LONE_POD,
    `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: not-y, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  ingress:
    - from:
        - namespaceSelector:
            matchExpressions: [{ key: kubernetes.io/metadata.name, operator: NotIn, values: [y] }]
`,
  );
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  assertEquals(ingressRulesAt(model, LONE), ["NetworkPolicy/x/not-y ingress rule 0"]);
});

Deno.test("compilePolicy() isolates a local pod by its namespace's policies while its Namespace is unknown", async () => {
  const state = await loadCluster("np-deny-all-ingress.yaml");
  state.apply({
    type: "deleted",
    resource: state.namespace("x")!,
    resourceVersion: "2",
  });
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  const a = model.pods.find((p) => p.namespace === "x" && p.name === "a")!;
  assertEquals(a.ingress.map((l) => [l.layer, l.boxes.length]), [["networkPolicy", 0]]);
});

import { assert, assertEquals } from "../../test/assert.ts";
import { type Clock, realClock } from "../clock.ts";
import { clusterWith, loadCluster, loadClusterUnvalidated } from "./_testing.ts";
import { formatPolicyStatus, policyStatus, policyStatusInSlices } from "./status.ts";

Deno.test("policyStatus() lists each policy with its pods, what is enforced and what is not", async () => {
  const state = await loadCluster(
    "both-layers.yaml",
    "np-named-port.yaml",
    "np-ipblock-except.yaml",
  );
  assertEquals(
    formatPolicyStatus(policyStatus(state)),
    [
      "NetworkPolicy x/ipblock: partial",
      "  selects pod=a in x",
      "  ingress: 1 allow rule",
      "  pods: x/a",
      '  unsupported: Unsupported in NetworkPolicy "x/ipblock": spec.ingress[0].from[2].ipBlock.cidr: "fd00::/64" is IPv6 and tern enforces IPv4 only: this peer matches nothing',
      "NetworkPolicy x/named-port: partial",
      "  selects pod=a in x",
      "  ingress: 1 allow rule",
      "  egress: 1 allow rule",
      "  pods: x/a",
      '  unresolved: Unresolved in NetworkPolicy "x/named-port": spec.ingress[0].ports[1].port: pod "x/a" has no TCP container port named "no-such-port": this port matches nothing for it',
      "NetworkPolicy x/web-from-y: enforced",
      "  selects app=web in x",
      "  ingress: 1 allow rule",
      "  pods: x/a",
      "SecurityGroupPolicy x/web: partial",
      "  selects pods app=web",
      "  groups: sg-tcp; without a SecurityGroup (no rules): sg-missing",
      "  pods: x/a",
      '  unresolved: Unresolved in SecurityGroupPolicy "x/web": spec.securityGroups.groupIds[1]: no SecurityGroup "sg-missing": it counts as a group without rules until it exists, so the pods this policy selects are default-deny in the security-group layer but for what their other groups allow',
      "SecurityGroup sg-tcp: enforced",
      "  ingress: 1 rule",
      "  egress: 1 rule",
      "  pods: x/a",
      "",
    ].join("\n"),
  );
});

Deno.test("policyStatus() shows invalid policies as not enforced, with every reason", async () => {
  const state = await loadClusterUnvalidated("invalid.yaml");
  const statuses = policyStatus(state);
  assertEquals(statuses.length, 24);
  assertEquals(statuses.every((s) => s.state === "invalid" && s.pods.length === 0), true);
  const ports = statuses.find((s) => s.name === "port-range")!;
  assertEquals(ports.problems.length, 3);
  assertEquals(ports.namespace, "x");
});

Deno.test("policyStatus() reports service accounts missing from the state and host-network pods", async () => {
  const state = await clusterWith(
    `apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: by-labels, namespace: z }
spec:
  serviceAccountSelector: { matchLabels: { role: x } }
  securityGroups: { groupIds: [sg-x] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: all, namespace: z }
spec: { podSelector: {} }
---
apiVersion: v1
kind: Pod
metadata: { name: agent, namespace: z }
spec: { nodeName: node-1, hostNetwork: true }
`,
  );
  const statuses = policyStatus(state);
  const np = statuses.find((s) => s.name === "all")!;
  assertEquals(np.pods, ["z/a", "z/b", "z/c"]);
  assertEquals(np.problems.map((p) => p.message), [
    'Unsupported in NetworkPolicy "z/all": selects host-network pod "z/agent": tern does not enforce policy on host-network pods',
  ]);
  const sgp = statuses.find((s) => s.name === "by-labels")!;
  assertEquals(sgp.pods, []);
  assertEquals(sgp.problems.map((p) => p.message), [
    'Unresolved in SecurityGroupPolicy "z/by-labels": spec.securityGroups.groupIds[0]: no SecurityGroup "sg-x": it counts as a group without rules until it exists, so the pods this policy selects are default-deny in the security-group layer but for what their other groups allow',
    'Unresolved in SecurityGroupPolicy "z/by-labels": spec.serviceAccountSelector: ServiceAccount "z/default" is not in the cluster state: its labels are taken as empty',
  ]);
});

Deno.test("formatPolicyStatus() says so when there is no policy", async () => {
  assertEquals(formatPolicyStatus(policyStatus(await loadCluster("none.yaml"))), "No policies\n");
});

Deno.test("policyStatus() names every replica a named port is missing on, and no pod of another namespace", async () => {
  // Replicas differ in a label no selector names; aa-other, with another app, is selected by
  // nothing, so it reports nothing, and must not stand for bad-1 and bad-2.
  const replica = (name: string, port: string, ip: string, app = "api") =>
    `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: z, labels: { app: ${app}, pod-template-hash: h${ip.length} } }
spec:
  nodeName: node-2
  containers: [{ name: s, ports: [{ name: ${port}, containerPort: 8080 }] }]
status: { phase: Running, podIP: ${ip}, podIPs: [{ ip: ${ip} }] }
`;
  const state = await clusterWith(
    `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: api-http, namespace: z }
spec:
  podSelector: { matchLabels: { app: api } }
  ingress: [{ ports: [{ port: http }] }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: api-http, namespace: y }
spec:
  podSelector: { matchLabels: { app: api } }
  ingress: [{ ports: [{ port: http }] }]
`,
    replica("aa-other", "web", "10.244.9.10", "other"),
    replica("ok-1", "http", "10.244.9.1"),
    replica("ok-2", "http", "10.244.9.2"),
    replica("bad-1", "web", "10.244.9.33"),
    replica("bad-2", "web", "10.244.9.4"),
  );
  const statuses = policyStatus(state);
  const z = statuses.find((s) => s.name === "api-http" && s.namespace === "z")!;
  assertEquals(z.pods, ["z/bad-1", "z/bad-2", "z/ok-1", "z/ok-2"]);
  assertEquals(z.state, "partial");
  assertEquals(
    z.problems.map((p) => p.message),
    ["bad-1", "bad-2"].map((name) =>
      `Unresolved in NetworkPolicy "z/api-http": spec.ingress[0].ports[0].port: pod "z/${name}" has no TCP container port named "http": this port matches nothing for it`
    ),
  );
  const y = statuses.find((s) => s.name === "api-http" && s.namespace === "y")!;
  assertEquals([y.state, y.pods, y.problems], ["enforced", [], []]);
});

Deno.test("policyStatusInSlices() answers as policyStatus() does, letting timers run between slices", async () => {
  const state = await loadCluster(
    "both-layers.yaml",
    "np-named-port.yaml",
    "np-ipblock-except.yaml",
  );
  // Each reading of the clock is a millisecond later: a slice of 3 ms is three readings.
  let now = 0;
  let pauses = 0;
  const clock: Clock = {
    now: () => now++,
    setTimeout: (fn, ms) => {
      pauses++;
      return realClock.setTimeout(fn, ms);
    },
    clearTimeout: (handle) => realClock.clearTimeout(handle),
  };
  const sliced = await policyStatusInSlices(state, { clock, sliceMs: 3 });
  assertEquals(sliced, policyStatus(state));
  assert(pauses >= 3, `paused ${pauses} times`);
});

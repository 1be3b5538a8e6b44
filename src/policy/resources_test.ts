import { assert, assertEquals } from "../../test/assert.ts";
import { loadCluster, loadClusterUnvalidated } from "./_testing.ts";
import { parseManifestObject } from "../cluster/manifest.ts";
import { ClusterState } from "../cluster/state.ts";
import type { OtherResource } from "../cluster/types.ts";
import { networkPoliciesIn, readPolicyResources, updatePolicyResources } from "./resources.ts";

Deno.test("readPolicyResources() rejects each invalid policy with reasons that name the field", async () => {
  const state = await loadClusterUnvalidated("invalid.yaml");
  const read = readPolicyResources(state.others());
  assertEquals(read.networkPolicies, []);
  assertEquals(read.securityGroupPolicies, []);
  assertEquals([...read.securityGroups.keys()], []);
  assert(read.problems.every((p) => p.severity === "invalid"));
  const messages = read.problems.map((p) => p.message).sort();
  assertEquals(messages, [
    'Invalid NetworkPolicy "x/empty-peer": spec.egress[0].to[0]: must specify podSelector, namespaceSelector or ipBlock',
    'Invalid NetworkPolicy "x/endport-below": spec.ingress[0].ports[0].endPort: must be at least port 90: got 80',
    'Invalid NetworkPolicy "x/endport-named": spec.ingress[0].ports[0].endPort: needs a numeric port, not the named port "http"',
    'Invalid NetworkPolicy "x/except-outside": spec.ingress[0].from[0].ipBlock.except[0]: "10.1.0.0/24" must be a strict subset of cidr "10.0.0.0/16"',
    'Invalid NetworkPolicy "x/except-outside": spec.ingress[0].from[0].ipBlock.except[1]: "10.0.0.0/16" must be a strict subset of cidr "10.0.0.0/16"',
    'Invalid NetworkPolicy "x/icmp-protocol": spec.ingress[0].ports[0].protocol: must be one of "TCP", "UDP", "SCTP": got "ICMP"',
    'Invalid NetworkPolicy "x/in-without-values": spec.podSelector.matchExpressions[0].values: must be non-empty for operator In',
    'Invalid NetworkPolicy "x/ipblock-and-selector": spec.ingress[0].from[0].ipBlock: may not be combined with podSelector or namespaceSelector',
    'Invalid NetworkPolicy "x/label-number": spec.podSelector.matchLabels.tier: expected string: got 1',
    'Invalid NetworkPolicy "x/policy-types": spec.policyTypes[1]: must be one of "Ingress", "Egress": got "Both"',
    'Invalid NetworkPolicy "x/port-range": spec.ingress[0].ports[0].port: must be a port 1..65535 or a port name: got 0',
    'Invalid NetworkPolicy "x/port-range": spec.ingress[0].ports[1].port: must be a port 1..65535 or a port name: got 70000',
    'Invalid NetworkPolicy "x/port-range": spec.ingress[0].ports[2].port: "8080" is not a valid port name: at most 15 lowercase letters, digits and "-", with a letter',
    'Invalid NetworkPolicy "x/typo": spec: unknown field: podSelecter',
    'Invalid SecurityGroup "sg-backwards-range": spec.ingress[0].ports[0]: must be a port 1..65535 or a range "first-last": got "9000-8000"',
    'Invalid SecurityGroup "sg-bad-cidr": spec.ingress[0].from[0].cidr: "10.0.0.0/33" is not a CIDR (address/prefix)',
    'Invalid SecurityGroup "sg-bad-cidr": spec.ingress[0].from[1].serviceAccount.namespace: is required',
    'Invalid SecurityGroup "sg-from-in-egress": spec.egress[0]: unknown field: from',
    'Invalid SecurityGroup "sg-icmp-on-tcp": spec.ingress[0].icmp: needs protocol icmp: protocol is tcp',
    'Invalid SecurityGroup "sg-namespaced": metadata.namespace: SecurityGroup is cluster-scoped: remove the namespace "x"',
    'Invalid SecurityGroup "sg-no-action": spec.ingress[0].action: is required: one of "allow", "deny"',
    'Invalid SecurityGroup "sg-ports-without-protocol": spec.egress[0].ports: needs protocol tcp, udp or sctp: protocol is all',
    'Invalid SecurityGroup "sg-priority": spec.ingress[0].priority: too big: expected number to be <=65535: got 70000',
    'Invalid SecurityGroup "sg-two-peer-forms": spec.ingress[0].from[0]: may specify only one of cidr, securityGroup',
    'Invalid SecurityGroupPolicy "x/empty-match-names": spec.serviceAccountSelector.matchNames: too small: expected array to have >=1 items: got []',
    'Invalid SecurityGroupPolicy "x/no-groups": spec.securityGroups.groupIds: too small: expected array to have >=1 items: got []',
    'Invalid SecurityGroupPolicy "x/no-selector": spec: needs podSelector or serviceAccountSelector',
    'Invalid SecurityGroupPolicy "x/six-groups": spec.securityGroups.groupIds: too big: expected array to have <=5 items: got ["a","b","c","d","e","f"]',
  ]);
});

Deno.test("readPolicyResources() defaults policyTypes as upstream: Egress only with egress rules", async () => {
  const { stateFrom } = await import("../../test/cluster_fixtures.ts");
  const np = (name: string, spec: string) =>
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name} }\nspec: ${spec}\n`;
  const state = stateFrom(
    np("a", "{ podSelector: {} }"),
    np("b", "{ podSelector: {}, egress: [{}] }"),
    np("c", "{ podSelector: {}, egress: [] }"),
    np("d", "{ podSelector: {}, policyTypes: [Egress], ingress: [{}] }"),
    np("e", "{ ingress: [{ ports: [{ port: 53 }] }] }"),
  );
  const read = readPolicyResources(state.others());
  assertEquals(read.problems, []);
  assertEquals(read.networkPolicies.map((p) => [p.name, p.namespace, p.policyTypes]), [
    ["a", "default", ["Ingress"]],
    ["b", "default", ["Ingress", "Egress"]],
    ["c", "default", ["Ingress"]],
    ["d", "default", ["Egress"]],
    ["e", "default", ["Ingress"]],
  ]);
  const e = read.networkPolicies[4]!;
  assertEquals(e.podSelector, { matchLabels: {}, matchExpressions: [] });
  assertEquals(e.ingress[0]!.ports, [{ protocol: "TCP", port: 53 }]);
  assertEquals(e.ingress[0]!.peers, []);
});

Deno.test("readPolicyResources() defaults SecurityGroup rules to priority 1000 and every protocol", async () => {
  const { stateFrom } = await import("../../test/cluster_fixtures.ts");
  const state = stateFrom(
    'apiVersion: tern.dev/v1alpha1\nkind: SecurityGroup\nmetadata: { name: sg-a }\nspec:\n  ingress: [{ action: deny }]\n  egress: [{ action: allow, protocol: udp, ports: [53, "1000-2000"], to: [{ podSelector: {} }] }]\n',
    "apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: web, namespace: x, labels: { role: web, bad: 5 } }\n",
  );
  const read = readPolicyResources(state.others());
  assertEquals(read.problems, []);
  const group = read.securityGroups.get("sg-a")!;
  assertEquals(group.ingress, [{
    priority: 1000,
    action: "deny",
    protocol: "all",
    ports: [],
    peers: [],
  }]);
  assertEquals(group.egress[0]!.ports, [[53, 53], [1000, 2000]]);
  assertEquals(group.egress[0]!.peers, [{
    type: "pods",
    podSelector: { matchLabels: {}, matchExpressions: [] },
  }]);
  assertEquals(read.serviceAccounts.get("x/web"), { role: "web" });
});

Deno.test("readPolicyResources() reports IPv6 peers as unsupported and keeps the rest", async () => {
  const state = await loadCluster("np-ipblock-except.yaml");
  const read = readPolicyResources(state.others());
  assertEquals(read.networkPolicies.map((p) => p.name), ["ipblock"]);
  assertEquals(read.problems.map((p) => [p.severity, p.message]), [[
    "unsupported",
    'Unsupported in NetworkPolicy "x/ipblock": spec.ingress[0].from[2].ipBlock.cidr: "fd00::/64" is IPv6 and tern enforces IPv4 only: this peer matches nothing',
  ]]);
});

Deno.test("readPolicyResources() reports a SecurityGroup's IPv6 CIDR peers as unsupported", async () => {
  const { stateFrom } = await import("../../test/cluster_fixtures.ts");
  const state = stateFrom(`apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: { name: sg-v6 }
spec:
  ingress:
    - action: allow
      from: [{ cidr: 10.0.0.0/8 }, { cidr: "fd00::/64" }]
  egress:
    - action: allow
      to: [{ cidr: "2001:db8::/32" }]
`);
  const read = readPolicyResources(state.others());
  assertEquals([...read.securityGroups.keys()], ["sg-v6"]);
  assertEquals(read.problems.map((p) => [p.severity, p.key]), [
    ["unsupported", "spec.ingress[0].from[1].cidr"],
    ["unsupported", "spec.egress[0].to[0].cidr"],
  ]);
});

function networkPolicyObject(namespace: string, name: string, port: number): OtherResource {
  const [resource] = parseManifestObject({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace, name },
    spec: {
      podSelector: { matchLabels: { app: name } },
      // Port 0 stands for a policy with a problem: an IPv6 peer, left out as unsupported.
      ingress: [
        port === 0
          ? { from: [{ ipBlock: { cidr: "fd00::/64" } }] }
          : { ports: [{ protocol: "TCP", port }] },
      ],
    },
  }, { file: "test" }).resources;
  return resource as OtherResource;
}

function serviceAccountObject(namespace: string, name: string): OtherResource {
  const [resource] = parseManifestObject({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { namespace, name, labels: { team: name } },
  }, { file: "test" }).resources;
  return resource as OtherResource;
}

Deno.test("updatePolicyResources() reads what readPolicyResources() reads after random changes", () => {
  let seed = 3;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const state = new ClusterState();
  let version = 1;
  const put = (resource: OtherResource) =>
    state.apply({ type: "added", resource, resourceVersion: String(version++) });
  for (let i = 0; i < 40; i++) put(networkPolicyObject(`n${i % 3}`, `np${i}`, 80 + i));
  let others = state.others();
  let resources = readPolicyResources(others);
  let patched = 0;
  for (let step = 0; step < 300; step++) {
    for (let k = 0; k < 1 + random(3); k++) {
      const what = random(12);
      const name = `np${random(50)}`;
      const namespace = `n${random(4)}`;
      if (what < 8) {
        put(networkPolicyObject(namespace, name, random(10) === 0 ? 0 : 80 + random(9)));
      } else if (what < 11) {
        const gone = state.others().find((o) => o.name === name && o.namespace === namespace);
        if (gone) {
          state.apply({ type: "deleted", resource: gone, resourceVersion: String(version++) });
        }
      } else put(serviceAccountObject(namespace, `sa${random(2)}`));
    }
    const now = state.others();
    const next = updatePolicyResources({ others, resources }, now);
    const want = readPolicyResources(now);
    assertEquals(next, want, `step ${step}`);
    for (const namespace of ["n0", "n1", "n2", "n3"]) {
      assertEquals(networkPoliciesIn(next, namespace), networkPoliciesIn(want, namespace));
    }
    if (next.securityGroupPolicies === resources.securityGroupPolicies) patched++;
    others = now;
    resources = next;
  }
  assert(patched > 100, `only ${patched} of 300 updates were patched`);
});

Deno.test("readPolicyResources() gives equal rules of two policies one frozen copy, each its own name", () => {
  const read = readPolicyResources([
    networkPolicyObject("team-a", "web", 8080),
    networkPolicyObject("team-b", "web", 8080),
    networkPolicyObject("team-b", "db", 9090),
  ]);
  const [a, c, b] = read.networkPolicies; // by namespace, then name
  assertEquals([a!.name, b!.name, c!.name], ["web", "web", "db"]);
  assert(a!.ingress === b!.ingress && a!.podSelector === b!.podSelector);
  assert(Object.isFrozen(a!.ingress[0]));
  assert(a!.ingress !== c!.ingress);
  assertEquals(c!.ingress[0]!.ports, [{ protocol: "TCP", port: 9090 }]);
});

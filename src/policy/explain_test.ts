import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../test/assert.ts";
import { compilePolicy } from "./compile.ts";
import {
  ExplainError,
  explainFlow,
  formatExplanation,
  parseFlowEndpoint,
  parseFlowSpec,
} from "./explain.ts";
import { clusterWith, loadCluster, localEndpoints, SCENARIOS } from "./_testing.ts";
import { describeRule } from "./render.ts";

/**
 * Explains `src → dst spec` in a scenario, as node-1 would (with its model), and returns the
 * verdict and the steps that decided something, in a compact form.
 */
async function why(scenario: string, src: string, dst: string, spec: string): Promise<string[]> {
  const state = await loadCluster(`${scenario}.yaml`);
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  const e = explainFlow(state, {
    src: parseFlowEndpoint(src),
    dst: parseFlowEndpoint(dst),
    ...parseFlowSpec(spec),
  }, { model });
  return [
    e.verdict,
    ...e.steps.filter((s) => s.outcome !== "unaffected").map((s) =>
      `${s.direction} ${s.layer} ${s.outcome}${s.rule ? ` ${describeRule(s.rule)}` : ""}`
    ),
  ];
}

Deno.test("explainFlow() with no policy allows and says every layer is unaffected", async () => {
  const state = await loadCluster("none.yaml");
  const e = explainFlow(state, {
    src: { namespace: "x", name: "a" },
    dst: { namespace: "y", name: "b" },
    protocol: "tcp",
    port: 80,
  });
  assertEquals(e.verdict, "allow");
  assertEquals(e.steps.map((s) => s.outcome), [
    "unaffected",
    "unaffected",
    "unaffected",
    "unaffected",
  ]);
  assertEquals(e.src, { ip: "10.244.1.10", pod: "x/a", node: "node-1" });
  assertEquals(e.dst, { ip: "10.244.2.21", pod: "y/b", node: "node-2" });
  assertEquals(
    formatExplanation(e),
    [
      "tcp/80 from x/a (10.244.1.10 on node-1) to y/b (10.244.2.21 on node-2): ALLOW",
      "  egress of x/a, security groups: unaffected: x/a is in no security group",
      "  egress of x/a, NetworkPolicy: unaffected: no NetworkPolicy selects x/a for egress",
      "  ingress of y/b, security groups: unaffected: y/b is in no security group",
      "  ingress of y/b, NetworkPolicy: unaffected: no NetworkPolicy selects y/b for ingress",
      "",
    ].join("\n"),
  );
});

Deno.test("explainFlow() names the policies behind a NetworkPolicy default deny", async () => {
  const state = await loadCluster("np-deny-all-ingress.yaml");
  const e = explainFlow(state, {
    src: { ip: "10.244.2.21" },
    dst: { namespace: "x", name: "b" },
    protocol: "udp",
    port: 53,
  });
  assertEquals(e.verdict, "deny");
  assertEquals(
    e.steps[3]!.text,
    "ingress of x/b, NetworkPolicy: default deny: selected by NetworkPolicy x/deny-all, none allows this",
  );
  assertEquals(e.steps[3]!.selectedBy, ["x/deny-all"]);
  assertEquals(await why("np-deny-all-ingress", "x/a", "y/a", "tcp/80"), ["allow"]); // egress untouched
});

Deno.test("explainFlow() for NetworkPolicy from a namespace: the port and the namespace both count", async () => {
  assertEquals(await why("np-allow-from-namespace", "y/a", "x/a", "tcp/80"), [
    "allow",
    "ingress networkPolicy allow NetworkPolicy/x/allow-from-y ingress rule 0",
  ]);
  assertEquals(await why("np-allow-from-namespace", "y/a", "x/a", "tcp/81"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-allow-from-namespace", "y/a", "x/a", "udp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-allow-from-namespace", "z/b", "x/a", "tcp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-allow-from-namespace", "y/a", "x/b", "tcp/81"), ["allow"]);
});

Deno.test("explainFlow() for a peer with both selectors needs both; two peers need either", async () => {
  const rule = (i: number) =>
    `ingress networkPolicy allow NetworkPolicy/x/and-peer ingress rule ${i}`;
  assertEquals(await why("np-and-peer", "y/b", "x/a", "tcp/80"), ["allow", rule(0)]);
  assertEquals(await why("np-and-peer", "y/a", "x/a", "tcp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-and-peer", "x/c", "x/a", "tcp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-and-peer", "z/c", "x/a", "icmp"), ["allow", rule(1)]);
  assertEquals(await why("np-and-peer", "x/b", "x/a", "sctp/9"), ["allow", rule(1)]);
});

Deno.test("explainFlow() for ipBlock: except holes, a peer that refills one, outside addresses", async () => {
  const rule = "ingress networkPolicy allow NetworkPolicy/x/ipblock ingress rule 0";
  assertEquals(await why("np-ipblock-except", "y/a", "x/a", "tcp/80"), ["allow", rule]);
  assertEquals(await why("np-ipblock-except", "x/c", "x/a", "tcp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-ipblock-except", "y/b", "x/a", "tcp/80"), ["allow", rule]);
  assertEquals(await why("np-ipblock-except", "10.244.77.1", "x/a", "udp/5"), ["allow", rule]);
  assertEquals(await why("np-ipblock-except", "10.245.0.1", "x/a", "tcp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
});

Deno.test("explainFlow() for named ports: ingress on the receiver, egress on each peer", async () => {
  const rule = (d: string) => `${d} networkPolicy allow NetworkPolicy/x/named-port ${d} rule 0`;
  assertEquals(await why("np-named-port", "y/a", "x/a", "tcp/81"), ["allow", rule("ingress")]);
  assertEquals(await why("np-named-port", "y/a", "x/a", "tcp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-named-port", "x/a", "z/b", "udp/80"), ["allow", rule("egress")]);
  assertEquals(await why("np-named-port", "x/a", "z/b", "udp/81"), [
    "deny",
    "egress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-named-port", "x/a", "z/a", "udp/80"), [
    "deny",
    "egress networkPolicy default-deny",
  ]);
});

Deno.test("explainFlow() for endPort includes both ends of the range", async () => {
  const rule = "ingress networkPolicy allow NetworkPolicy/x/endport ingress rule 0";
  assertEquals(await why("np-endport", "z/c", "x/b", "tcp/80"), ["allow", rule]);
  assertEquals(await why("np-endport", "z/c", "x/b", "tcp/81"), ["allow", rule]);
  assertEquals(await why("np-endport", "z/c", "x/b", "tcp/79"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-endport", "z/c", "x/b", "tcp/82"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-endport", "z/c", "x/b", "udp/81"), ["allow", rule]);
  assertEquals(await why("np-endport", "z/c", "x/b", "udp/80"), [
    "deny",
    "ingress networkPolicy default-deny",
  ]);
});

Deno.test("explainFlow() for egress deny with DNS allowed", async () => {
  const rule = (i: number) =>
    `egress networkPolicy allow NetworkPolicy/y/egress-dns egress rule ${i}`;
  assertEquals(await why("np-egress-dns", "y/a", "kube-system/coredns", "udp/53"), [
    "allow",
    rule(0),
  ]);
  assertEquals(await why("np-egress-dns", "y/a", "kube-system/coredns", "tcp/53"), [
    "allow",
    rule(0),
  ]);
  assertEquals(await why("np-egress-dns", "y/a", "x/c", "tcp/80"), ["allow", rule(1)]);
  assertEquals(await why("np-egress-dns", "y/a", "x/c", "tcp/81"), [
    "deny",
    "egress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-egress-dns", "y/a", "8.8.8.8", "udp/53"), [
    "deny",
    "egress networkPolicy default-deny",
  ]);
  assertEquals(await why("np-egress-dns", "x/a", "y/a", "tcp/80"), ["allow"]); // ingress of y is open
});

Deno.test("explainFlow() for a SecurityGroupPolicy by label: group rules and default deny", async () => {
  assertEquals(await why("sg-by-label", "z/c", "x/a", "tcp/8080"), [
    "allow",
    "ingress securityGroup allow SecurityGroup/sg-web ingress rule 0",
  ]);
  assertEquals(await why("sg-by-label", "z/c", "x/a", "icmp/8"), [
    "allow",
    "ingress securityGroup allow SecurityGroup/sg-web ingress rule 1",
  ]);
  assertEquals(await why("sg-by-label", "z/a", "x/a", "icmp/8"), [
    "deny",
    "ingress securityGroup default-deny",
  ]);
  assertEquals(await why("sg-by-label", "z/c", "x/a", "icmp/0"), [
    "deny",
    "ingress securityGroup default-deny",
  ]);
  assertEquals(await why("sg-by-label", "x/a", "8.8.8.8", "udp/53"), [
    "allow",
    "egress securityGroup allow SecurityGroup/sg-web egress rule 0",
  ]);
  assertEquals(await why("sg-by-label", "x/b", "z/a", "tcp/1"), ["allow"]); // x/b has no app=web
});

Deno.test("explainFlow() for SecurityGroupPolicies by service account: names and labels", async () => {
  assertEquals(await why("sg-by-service-account", "y/b", "x/a", "tcp/81"), [
    "allow",
    "egress securityGroup allow SecurityGroup/sg-backend egress rule 0",
    "ingress securityGroup allow SecurityGroup/sg-api ingress rule 0",
  ]);
  assertEquals(await why("sg-by-service-account", "y/c", "x/a", "tcp/81"), [
    "deny",
    "ingress securityGroup default-deny",
  ]);
  assertEquals(await why("sg-by-service-account", "x/a", "kube-system/coredns", "udp/53"), [
    "allow",
    "egress securityGroup allow SecurityGroup/sg-api egress rule 0",
  ]);
  // y/b is in sg-backend, whose ingress is empty: default deny, explained from a fresh compile.
  assertEquals(await why("sg-by-service-account", "x/a", "y/b", "udp/53"), [
    "deny",
    "egress securityGroup default-deny",
    "ingress securityGroup default-deny",
  ]);
  assertEquals(await why("sg-by-service-account", "y/a", "z/a", "tcp/81"), ["allow"]);
});

Deno.test("explainFlow() for priorities: lower first, deny wins a tie, a second group's deny", async () => {
  const deny = "ingress securityGroup deny SecurityGroup/sg-strict ingress rule 1";
  assertEquals(await why("sg-priority-deny", "y/a", "z/a", "tcp/80"), ["deny", deny]);
  assertEquals(await why("sg-priority-deny", "y/b", "z/a", "tcp/80"), [
    "allow",
    "ingress securityGroup allow SecurityGroup/sg-strict ingress rule 2",
  ]);
  assertEquals(await why("sg-priority-deny", "y/a", "z/a", "tcp/81"), [
    "allow",
    "ingress securityGroup allow SecurityGroup/sg-strict ingress rule 0",
  ]);
  assertEquals(await why("sg-priority-deny", "y/a", "z/a", "udp/80"), [
    "deny",
    "ingress securityGroup deny SecurityGroup/sg-no-udp ingress rule 0",
  ]);
  assertEquals(await why("sg-priority-deny", "8.8.8.8", "z/a", "icmp"), [
    "allow",
    "ingress securityGroup allow SecurityGroup/sg-strict ingress rule 3",
  ]);
  assertEquals(await why("sg-priority-deny", "z/a", "y/a", "icmp"), [
    "deny",
    "egress securityGroup default-deny",
  ]);
  const state = await loadCluster("sg-priority-deny.yaml");
  const e = explainFlow(state, {
    src: { namespace: "y", name: "a" },
    dst: { namespace: "z", name: "a" },
    protocol: "tcp",
    port: 80,
  });
  assertEquals(
    e.steps[2]!.text,
    "ingress of z/a, security groups: deny by SecurityGroup/sg-strict ingress rule 1 (priority 100)",
  );
  assertEquals(e.steps[2]!.selectedBy, ["sg-no-udp", "sg-strict"]);
});

Deno.test("explainFlow() shows both layers: a packet must pass each", async () => {
  assertEquals(await why("both-layers", "y/a", "x/a", "tcp/80"), [
    "allow",
    "ingress securityGroup allow SecurityGroup/sg-tcp ingress rule 0",
    "ingress networkPolicy allow NetworkPolicy/x/web-from-y ingress rule 0",
  ]);
  assertEquals(await why("both-layers", "y/a", "x/a", "tcp/81"), [
    "deny",
    "ingress securityGroup allow SecurityGroup/sg-tcp ingress rule 0",
    "ingress networkPolicy default-deny",
  ]);
  assertEquals(await why("both-layers", "y/a", "x/a", "udp/80"), [
    "deny",
    "ingress securityGroup default-deny",
    "ingress networkPolicy default-deny",
  ]);
  const state = await loadCluster("both-layers.yaml");
  const e = explainFlow(state, {
    src: { namespace: "x", name: "a" },
    dst: { ip: "1.1.1.1" },
    protocol: "tcp",
    port: 443,
  });
  assertEquals(
    e.steps[2]!.text,
    "ingress of 1.1.1.1, security groups: unaffected: not a pod, no ingress policy applies",
  );
  const x = explainFlow(state, {
    src: { namespace: "x", name: "b" },
    dst: { namespace: "x", name: "a" },
    protocol: "udp",
    port: 1,
  });
  assertStringIncludes(
    formatExplanation(x),
    "default deny: no rule of groups sg-missing, sg-tcp matches (no SecurityGroup sg-missing: no rules)",
  );
});

Deno.test("explainFlow() mentions security groups that exist only in a SecurityGroupPolicy", async () => {
  const state = await loadCluster("both-layers.yaml");
  const e = explainFlow(state, {
    src: { namespace: "x", name: "a" },
    dst: { namespace: "y", name: "a" },
    protocol: "tcp",
    port: 1,
  });
  assertEquals(e.steps[0]!.selectedBy, ["sg-tcp"]);
});

Deno.test("explainFlow() shows a pod whose only group has no SecurityGroup as default deny", async () => {
  const state = await clusterWith(`apiVersion: vpcresources.k8s.aws/v1beta1
kind: SecurityGroupPolicy
metadata: { name: missing, namespace: x }
spec:
  podSelector: { matchLabels: { pod: a } }
  securityGroups: { groupIds: [sg-nowhere] }
`);
  const e = explainFlow(state, {
    src: { namespace: "x", name: "a" },
    dst: { namespace: "x", name: "b" },
    protocol: "tcp",
    port: 80,
  });
  assertEquals(
    e.steps[0]!.text,
    "egress of x/a, security groups: default deny: no rule of group sg-nowhere matches (no SecurityGroup sg-nowhere: no rules)",
  );
});

Deno.test("explainFlow() answers from the model and from a fresh compile alike", async () => {
  for (const scenario of SCENARIOS) {
    const state = await loadCluster(`${scenario}.yaml`);
    const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
    const pods = state.pods().map((p) => `${p.namespace}/${p.name}`);
    for (const src of pods) {
      for (const dst of pods) {
        for (const spec of ["tcp/80", "udp/53", "icmp/8"]) {
          const flow = {
            src: parseFlowEndpoint(src),
            dst: parseFlowEndpoint(dst),
            ...parseFlowSpec(spec),
          };
          const a = explainFlow(state, flow, { model });
          const b = explainFlow(state, flow);
          assertEquals(
            a.steps.map(({ programmed: _, ...s }) => s),
            b.steps.map(({ programmed: _, ...s }) => s),
            `${scenario}: ${src} → ${dst} ${spec}`,
          );
        }
      }
    }
  }
});

Deno.test("explainFlow() marks the steps answered from the node's programmed model", async () => {
  const state = await loadCluster("sg-by-label.yaml");
  const model = compilePolicy(state, { endpoints: await localEndpoints(state) });
  const e = explainFlow(state, {
    src: { namespace: "x", name: "a" },
    dst: { namespace: "y", name: "b" },
    protocol: "tcp",
    port: 80,
  }, { model });
  assertEquals(e.steps.map((s) => s.programmed), [true, true, false, false]);
});

Deno.test("explainFlow() allows a pod to itself and a node to its own pods, as the datapath does", async () => {
  const state = await loadCluster("np-deny-all-ingress.yaml");
  const self = explainFlow(state, {
    src: { namespace: "x", name: "a" },
    dst: { ip: "10.244.1.10" },
    protocol: "tcp",
    port: 80,
  });
  assertEquals([self.verdict, self.steps, self.bypass], [
    "allow",
    [],
    "always allowed: a pod's traffic to itself never leaves it",
  ]);
  const kubelet = explainFlow(state, {
    src: { ip: "192.168.50.1" },
    dst: { namespace: "x", name: "a" },
    protocol: "tcp",
    port: 8080,
  });
  assertEquals(kubelet.verdict, "allow");
  assertStringIncludes(
    formatExplanation(kubelet),
    "traffic between a node and its own pods does not pass the forward hook",
  );
  // Another node's address is policed like any other source.
  const remote = explainFlow(state, {
    src: { ip: "192.168.50.2" },
    dst: { namespace: "x", name: "a" },
    protocol: "tcp",
    port: 8080,
  });
  assertEquals([remote.verdict, remote.bypass], ["deny", undefined]);
});

Deno.test("explainFlow() refuses unknown pods, pods without address and a missing port", async () => {
  const state = await loadCluster("none.yaml");
  assertThrows(
    () =>
      explainFlow(state, {
        src: { namespace: "x", name: "nope" },
        dst: { ip: "1.1.1.1" },
        protocol: "tcp",
        port: 1,
      }),
    ExplainError,
    "Unknown pod: x/nope is not in the cluster state",
  );
  assertThrows(
    () => explainFlow(state, { src: { ip: "1.1.1.1" }, dst: { ip: "2.2.2.2" }, protocol: "tcp" }),
    ExplainError,
    "Cannot explain tcp without a port",
  );
  const noIp = await loadCluster("none.yaml");
  noIp.apply({
    type: "modified",
    resource: { ...noIp.pod("x", "c")!, podIPs: [] },
    resourceVersion: "2",
  });
  assertThrows(
    () =>
      explainFlow(noIp, {
        src: { namespace: "x", name: "c" },
        dst: { ip: "2.2.2.2" },
        protocol: "icmp",
      }),
    ExplainError,
    "it has no IPv4 address yet",
  );
});

Deno.test("parseFlowSpec() and parseFlowEndpoint() read what the CLI is given", () => {
  assertEquals(parseFlowSpec("tcp/80"), { protocol: "tcp", port: 80 });
  assertEquals(parseFlowSpec("UDP/53"), { protocol: "udp", port: 53 });
  assertEquals(parseFlowSpec("icmp"), { protocol: "icmp" });
  assertEquals(parseFlowSpec("icmp/3/1"), { protocol: "icmp", icmpType: 3, icmpCode: 1 });
  assertThrows(() => parseFlowSpec("tcp"), ExplainError, "expected tcp/<port>");
  assertThrows(() => parseFlowSpec("tcp/70000"), ExplainError, "the port must be 0..65535");
  assertThrows(
    () => parseFlowSpec("gre/1"),
    ExplainError,
    "the protocol must be tcp, udp, sctp or icmp",
  );
  assertEquals(parseFlowEndpoint("x/a"), { namespace: "x", name: "a" });
  assertEquals(parseFlowEndpoint("web"), { namespace: "default", name: "web" });
  assertEquals(parseFlowEndpoint("10.0.0.1"), { ip: "10.0.0.1" });
  assertThrows(() => parseFlowEndpoint("a/b/c"), ExplainError, "expected namespace/pod");
  assert(true);
});

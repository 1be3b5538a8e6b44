import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import { Nft } from "../../src/nft.ts";
import { ExplainError } from "../../src/policy/explain.ts";
import { parseManifests } from "../../src/cluster/manifest.ts";
import { stateFrom } from "../../test/cluster_fixtures.ts";
import { endpoint, FakeNft, FakeVethGroups, podYaml } from "./_policy_testing.ts";
import { PolicyManager } from "./policy_manager.ts";
import { managedPolicy, policyManifestErrors } from "./policy_service.ts";

const DENY_ALL_X =
  `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny-all, namespace: x}, spec: {podSelector: {}}}`;

async function withService(
  fn: (service: ReturnType<typeof managedPolicy>, manager: PolicyManager) => void | Promise<void>,
) {
  const a = await endpoint("x", "a", "10.244.1.10");
  const c = await endpoint("y", "c", "10.244.1.12");
  const cluster = stateFrom(
    "{apiVersion: v1, kind: Node, metadata: {name: node-1}, status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}}",
    podYaml("x", "a", { app: "web" }),
    podYaml("y", "c", {}),
    DENY_ALL_X,
  );
  const manager = new PolicyManager({
    nft: new Nft(new FakeNft().run),
    groups: new FakeVethGroups(),
    inputs: () => ({ cluster, policyDir: undefined, endpoints: [a, c], nodeName: "node-1" }),
  }, { logRate: 5, intervalMs: 3_600_000 });
  await manager.start();
  try {
    const service = managedPolicy(manager, {
      pendingWaitMs: 0,
      manifestErrors: () => [
        {
          file: "f",
          key: "",
          value: undefined,
          message: 'Invalid Node "n": spec: bad',
          subject: { kind: "Node", name: "n" },
        },
        {
          file: "f",
          key: "spec",
          value: undefined,
          message: 'Invalid NetworkPolicy "x/typo" in f:3: spec: unknown field: podSelecter',
          subject: { kind: "NetworkPolicy", name: "x/typo" },
        },
      ],
      now: () => 42,
    });
    await fn(service, manager);
  } finally {
    await manager.stop();
  }
}

Deno.test("managedPolicy().status() lists each policy with its pods, enforcement and rejected policy manifests", async () => {
  await withService(async (service) => {
    const status = await service.status();
    assert(status.enforcement.enabled);
    assertEquals(status.enforcement.pods, 2);
    assertEquals(status.policies.map((p) => [p.name, p.state, p.pods]), [
      ["deny-all", "enforced", ["x/a"]],
    ]);
    assertEquals(status.rejected, [
      'Invalid NetworkPolicy "x/typo" in f:3: spec: unknown field: podSelecter',
    ]);
    assertEquals(service.summary().policies, 1);
    assertEquals((await service.programmed("tern-none")).state, "absent");
  });
});

Deno.test("managedPolicy().explain() answers from the programmed model, and refuses unknown pods", async () => {
  await withService((service) => {
    const deny = service.explain({ src: "y/c", dst: "x/a", proto: "tcp", port: 80 });
    assertEquals(deny.verdict, "deny");
    assert(deny.steps.every((s) => s.pod === undefined || s.programmed), "from the node's model");
    const allow = service.explain({ src: "x/a", dst: "y/c", proto: "icmp" });
    assertEquals(allow.verdict, "allow");
    const node = service.explain({ src: "192.168.1.1", dst: "x/a", proto: "tcp", port: 80 });
    assertEquals(node.bypass !== undefined, true, "a node and its own pods: always allowed");
    assertThrows(
      () => service.explain({ src: "x/ghost", dst: "x/a", proto: "tcp", port: 80 }),
      ExplainError,
      "Unknown pod: x/ghost is not in the cluster state",
    );
  });
});

Deno.test("policyManifestErrors() keeps the errors about policy kinds", () => {
  const e = (kind: string, message: string) => ({
    file: "f",
    key: "",
    value: undefined,
    message,
    subject: { kind, name: "a/b" },
  });
  assertEquals(
    policyManifestErrors([
      e("SecurityGroup", 'Invalid SecurityGroup "sg" in f:1: spec: x'),
      e("Pod", 'Invalid Pod "a/b" in f:2: spec: x'),
      e("SecurityGroupPolicy", 'Invalid SecurityGroupPolicy "a/b" in f:3: spec: x'),
      { file: "f", key: "", value: undefined, message: "Cannot read f: denied" },
    ]),
    [
      'Invalid SecurityGroup "sg" in f:1: spec: x',
      'Invalid SecurityGroupPolicy "a/b" in f:3: spec: x',
    ],
  );
});

Deno.test("policyManifestErrors() keeps what the manifest parser reports about policies", () => {
  const { errors } = parseManifests(
    [
      "apiVersion: tern.dev/v1alpha1\nkind: SecurityGroup\nmetadata: {name: sg}\nspec: {ingress: [{action: maybe}]}\n",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: 5}\n",
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: np}\nspec: {podSelecter: {}}\n",
    ].join("---\n"),
    { file: "f.yaml" },
  );
  assertEquals(errors.length, 3);
  assertEquals(
    policyManifestErrors(errors).map((m) => m.split(" in ")[0]),
    ['Invalid SecurityGroup "sg"', 'Invalid NetworkPolicy "x/np"'],
  );
});

Deno.test("managedPolicy().status() computes once for requests that arrive while it computes", async () => {
  await withService(async (service) => {
    const first = service.status();
    const second = service.status();
    assert(first === second, "a second computation started");
    const status = await first;
    assert(service.status() !== first, "a request after the answer computes again");
    assertEquals((await service.status()).policies, status.policies);
  });
});

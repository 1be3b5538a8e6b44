import { assert, assertEquals } from "../../test/assert.ts";
import type { ClusterChange } from "../../src/cluster/state.ts";
import type { OtherResource, Pod } from "../../src/cluster/types.ts";
import { affectsPolicy, PolicyLabelKeys, selectorLabelKeys } from "./policy_triggers.ts";

const pod = (extra: Partial<Pod> = {}): Pod => ({
  kind: "Pod",
  namespace: "shop",
  name: "web-1",
  uid: "u1",
  labels: { app: "web", version: "v1" },
  annotations: {},
  serviceAccountName: "default",
  nodeName: "node-1",
  hostNetwork: false,
  phase: "Running",
  podIPs: ["10.1.0.5"],
  containers: [{ name: "c", ports: [{ name: "http", containerPort: 80, protocol: "TCP" }] }],
  ...extra,
});

const other = (raw: Record<string, unknown>): OtherResource => ({
  kind: "Other",
  apiVersion: "networking.k8s.io/v1",
  resourceKind: "NetworkPolicy",
  namespace: "shop",
  name: "p",
  raw,
});

const modified = (before: Pod, after: Pod): ClusterChange => ({
  type: "modified",
  resource: after,
  previous: before,
  resourceVersion: "2",
});

const POLICY = other({
  spec: {
    podSelector: { matchLabels: { app: "web" } },
    ingress: [{
      from: [{
        namespaceSelector: { matchLabels: { team: "a" } },
        podSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["x"] }] },
      }],
    }],
  },
});

Deno.test("selectorLabelKeys() collects every matchLabels and matchExpressions key, at any depth", () => {
  assertEquals([...selectorLabelKeys([POLICY])].sort(), ["app", "team", "tier"]);
  assertEquals(selectorLabelKeys([other({ spec: { podSelector: {} } })]).size, 0);
});

Deno.test("a pod change in annotations or labels no selector reads asks for no policy run", () => {
  const keys = () => selectorLabelKeys([POLICY]);
  const before = pod();
  assertEquals(
    affectsPolicy(modified(before, pod({ annotations: { "tern.dev/x": "1" } })), keys),
    false,
  );
  assertEquals(
    affectsPolicy(modified(before, pod({ labels: { app: "web", version: "v2" } })), keys),
    false,
  );
  assertEquals(
    affectsPolicy(modified(before, pod({ labels: { app: "web", version: "v1", x: "new" } })), keys),
    false,
  );
});

Deno.test("a pod change in what policy reads asks for a run", () => {
  const keys = () => selectorLabelKeys([POLICY]);
  const before = pod();
  for (
    const after of [
      pod({ labels: { app: "db", version: "v1" } }),
      pod({ labels: { app: "web", version: "v1", tier: "x" } }),
      pod({ podIPs: ["10.1.0.6"] }),
      pod({ phase: "Succeeded" }),
      pod({ serviceAccountName: "api" }),
      pod({ nodeName: "node-2" }),
      pod({ uid: "u2" }),
      pod({ containers: [{ name: "c", ports: [] }] }),
    ]
  ) {
    assert(affectsPolicy(modified(before, after), keys), JSON.stringify(after));
  }
  // Added, deleted, other kinds and a reset always count; errors never.
  assert(affectsPolicy({ type: "added", resource: pod(), resourceVersion: "1" }, keys));
  assert(affectsPolicy({ type: "deleted", resource: pod(), resourceVersion: "1" }, keys));
  assert(affectsPolicy({ type: "modified", resource: POLICY, resourceVersion: "1" }, keys));
  assert(affectsPolicy({ type: "reset", resourceVersion: "1" }, keys));
  assertEquals(
    affectsPolicy(
      { type: "error", error: { file: "f", key: "k", value: "v", message: "m" } },
      keys,
    ),
    false,
  );
});

Deno.test("PolicyLabelKeys reads the policies once and then follows their changes", () => {
  let policies = [POLICY];
  let reads = 0;
  const keys = new PolicyLabelKeys([() => {
    reads++;
    return policies;
  }]);
  assertEquals(keys.keys().has("version"), false);
  keys.keys();
  assertEquals(reads, 1);
  const byVersion = other({ spec: { podSelector: { matchLabels: { version: "v1" } } } });
  policies = [POLICY, byVersion];
  keys.observe(modified(pod(), pod({ labels: { app: "web" } })));
  assertEquals(keys.keys().has("version"), false, "a pod change keeps the keys");
  keys.observe({ type: "added", resource: byVersion, resourceVersion: "3" });
  assertEquals(keys.keys().has("version"), true);
  const byTier = other({ spec: { podSelector: { matchLabels: { tier: "x" } } } });
  policies = [POLICY, byTier];
  keys.observe({ type: "modified", resource: byTier, previous: byVersion, resourceVersion: "4" });
  assertEquals(keys.keys().has("version"), false, "the key of the policy before is gone");
  assertEquals(keys.keys().has("tier"), true, "POLICY names tier too");
  policies = [byTier];
  keys.observe({ type: "deleted", resource: POLICY, resourceVersion: "5" });
  assertEquals([...keys.keys()].sort(), [...selectorLabelKeys(policies)].sort());
  assertEquals(reads, 1);
  keys.observe({ type: "reset", resourceVersion: "6" });
  assertEquals([...keys.keys()].sort(), ["tier"]);
  assertEquals(reads, 2);
});

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../test/assert.ts";
import { parseManifestObject, parseManifests } from "./manifest.ts";
import type { Namespace, Node, NodeEndpoints, OtherResource, Pod } from "./types.ts";

const testdata = (path: string) =>
  Deno.readTextFile(new URL(`../../testdata/cluster/${path}`, import.meta.url));

Deno.test("parseManifests() reads multi-document Nodes with podCIDR, podCIDRs and addresses", async () => {
  const out = parseManifests(await testdata("manifests/nodes.yaml"), { file: "nodes.yaml" });
  assertEquals(out.errors, []);
  assertEquals(out.broken, false);
  const nodes = out.resources as Node[];
  assertEquals(nodes.map((n) => [n.name, n.podCIDRs]), [
    ["node-1", ["10.244.1.0/24"]],
    ["node-2", ["10.244.2.0/24"]],
    ["node-3", ["10.244.3.0/24", "fd00:10:244:3::/64"]],
  ]);
  assertEquals(nodes[2]!.addresses, [
    { type: "ExternalIP", address: "203.0.113.3" },
    { type: "InternalIP", address: "192.168.50.3" },
  ]);
  assertEquals(nodes[0]!.labels, { "kubernetes.io/hostname": "node-1" });
});

Deno.test("parseManifests() reads a v1 List of Pods with labels, service account, node and named ports", async () => {
  const out = parseManifests(await testdata("manifests/pods.yaml"), { file: "pods.yaml" });
  assertEquals(out.errors, []);
  const [web, db, probe] = out.resources as Pod[];
  assertEquals(web, {
    kind: "Pod",
    namespace: "team-a",
    name: "web-1",
    uid: "6f1c1b1e-0000-4000-8000-000000000001",
    labels: { app: "web" },
    annotations: { "tern.dev/egress-table": "nat-a" },
    serviceAccountName: "web",
    nodeName: "node-1",
    hostNetwork: false,
    phase: "Running",
    podIPs: ["10.244.1.7"],
    containers: [{
      name: "web",
      ports: [
        { name: "http", containerPort: 8080, protocol: "TCP" },
        { containerPort: 9090, protocol: "TCP" },
      ],
    }],
  });
  assertEquals(db!.serviceAccountName, "default");
  assertEquals(db!.podIPs, []);
  assertEquals(probe!.namespace, "default");
});

Deno.test("parseManifests() gives every Namespace the kubernetes.io/metadata.name label", async () => {
  const out = parseManifests(await testdata("manifests/namespaces.yaml"), { file: "ns.yaml" });
  assertEquals((out.resources as Namespace[]).map((n) => n.labels), [
    { "kubernetes.io/metadata.name": "default" },
    { team: "a", "kubernetes.io/metadata.name": "team-a" },
  ]);
});

Deno.test("parseManifests() reads tern.dev/v1alpha1 NodeEndpoints", async () => {
  const out = parseManifests(await testdata("manifests/endpoints-node-2.yaml"), { file: "e.yaml" });
  assertEquals(out.resources as NodeEndpoints[], [{
    kind: "NodeEndpoints",
    node: "node-2",
    endpoints: [{
      podNamespace: "team-a",
      podName: "db-1",
      containerID: "2b7c0d4e5f60718293a4b5c6d7e8f901",
      ifname: "eth0",
      ip: "10.244.2.5",
    }],
  }]);
});

Deno.test("parseManifests() keeps unknown kinds aside whole as other resources", async () => {
  const out = parseManifests(await testdata("manifests/networkpolicy.yaml"), { file: "np.yaml" });
  assertEquals(out.errors, []);
  const [np] = out.resources as OtherResource[];
  assertEquals(np!.kind, "Other");
  assertEquals(np!.apiVersion, "networking.k8s.io/v1");
  assertEquals(np!.resourceKind, "NetworkPolicy");
  assertEquals(np!.namespace, "team-a");
  assertEquals(np!.name, "db-from-web");
  assertEquals((np!.raw.spec as { podSelector: unknown }).podSelector, {
    matchLabels: { app: "db" },
  });
});

Deno.test("parseManifests() rejects an invalid NetworkPolicy with the policy layer's reason, file, line and key", async () => {
  const file = "np-endport.yaml";
  const out = parseManifests(await testdata("bad-policy/networkpolicy-endport.yaml"), { file });
  assertEquals(out.resources, []);
  assertEquals(out.rejected, ["other:networking.k8s.io/v1/NetworkPolicy/team-a/db-from-web"]);
  assertEquals(out.errors.length, 1);
  const [error] = out.errors;
  assertEquals(error!.key, "spec.ingress[0].ports[0].endPort");
  assertEquals(error!.line, 14);
  assertEquals(error!.value, 5440);
  assertEquals(
    error!.message,
    'Invalid NetworkPolicy "team-a/db-from-web" in np-endport.yaml:14: spec.ingress[0].ports[0].endPort: needs a numeric port, not the named port "pg"',
  );
});

Deno.test("parseManifests() rejects every invalid policy of testdata/policy/invalid.yaml at the edge", async () => {
  const text = await Deno.readTextFile(
    new URL("../../testdata/policy/invalid.yaml", import.meta.url),
  );
  const out = parseManifests(text, { file: "invalid.yaml" });
  assertEquals(out.resources, []);
  assertEquals(out.rejected.length, 24, "one per policy");
  assertEquals(out.errors.length, 28, "one per bad field");
  assert(out.errors.every((e) => e.line !== undefined && e.message.startsWith("Invalid ")));
});

Deno.test("parseManifests() rejects a SecurityGroup with an unknown field and keeps valid policies", () => {
  const out = parseManifests(
    [
      "apiVersion: tern.dev/v1alpha1",
      "kind: SecurityGroup",
      "metadata: { name: sg-web }",
      "spec:",
      "  ingress:",
      "    - action: allow",
      "      prots: [80]",
      "---",
      "apiVersion: tern.dev/v1alpha1",
      "kind: SecurityGroup",
      "metadata: { name: sg-ok }",
      "spec: { egress: [{ action: allow }] }",
    ].join("\n"),
    { file: "sg.yaml" },
  );
  assertEquals(out.resources.map((r) => (r as OtherResource).name), ["sg-ok"]);
  assertEquals(out.rejected, ["other:tern.dev/v1alpha1/SecurityGroup//sg-web"]);
  assertEquals(out.errors.map((e) => [e.key, e.line]), [["spec.ingress[0]", 6]]);
  assertStringIncludes(out.errors[0]!.message, "unknown field: prots");
});

Deno.test("parseManifests() reports host bits with file, line, key and value, and keeps the good document", async () => {
  const out = parseManifests(await testdata("bad/host-bits.yaml"), { file: "host-bits.yaml" });
  assertEquals(out.errors.length, 1);
  const [error] = out.errors;
  assertEquals(error!.file, "host-bits.yaml");
  assertEquals(error!.document, 1);
  assertEquals(error!.line, 7);
  assertEquals(error!.key, "spec.podCIDR");
  assertEquals(error!.value, "10.244.9.1/24");
  assertEquals(
    error!.message,
    'Invalid Node "node-9" in host-bits.yaml:7: spec.podCIDR: "10.244.9.1/24" has host bits set, did you mean 10.244.9.0/24?',
  );
  assertEquals(out.rejected, ["Node/node-9"]);
  assertEquals(out.resources.map((r) => r.kind), ["Namespace"]);
  assertEquals(out.broken, false);
});

Deno.test("parseManifests() marks a file with a YAML syntax error as broken", async () => {
  const out = parseManifests(await testdata("bad/syntax.yaml"), { file: "syntax.yaml" });
  assertEquals(out.broken, true);
  assertEquals(out.resources, []);
  assert(out.errors.length >= 1);
  assertMatch(out.errors[0]!.message, /^Invalid YAML in syntax\.yaml:\d+: Flow sequence/);
  assert(out.errors[0]!.line !== undefined && out.errors[0]!.line >= 7);
});

Deno.test("parseManifests() reports each bad field of a Pod and names the pod", async () => {
  const out = parseManifests(await testdata("bad/pod-port.yaml"), { file: "pod-port.yaml" });
  assertEquals(out.resources, []);
  assertEquals(out.rejected, ["Pod/default/bad-port"]);
  const byKey = Object.fromEntries(out.errors.map((e) => [e.key, e]));
  assertEquals(Object.keys(byKey).sort(), [
    "metadata.labels.enabled",
    "spec.containers[0].ports[0].containerPort",
  ]);
  assertEquals(byKey["metadata.labels.enabled"]!.value, true);
  assertEquals(byKey["metadata.labels.enabled"]!.line, 7);
  assertStringIncludes(
    byKey["metadata.labels.enabled"]!.message,
    'Invalid Pod "default/bad-port" in pod-port.yaml:7: metadata.labels.enabled: expected string: got true',
  );
  assertEquals(byKey["spec.containers[0].ports[0].containerPort"]!.value, 70000);
});

Deno.test("parseManifests() reports a document without kind and cannot identify it", async () => {
  const out = parseManifests(await testdata("bad/no-kind.yaml"), { file: "no-kind.yaml" });
  assertEquals(out.errors.map((e) => [e.key, e.value, e.line]), [["kind", undefined, 2]]);
  assertEquals(out.errors[0]!.message, "Invalid manifest in no-kind.yaml:2: kind: is required");
  assertEquals(out.rejected, []);
});

Deno.test("parseManifests() skips empty documents and reports a scalar document", () => {
  const out = parseManifests("---\n---\n# nothing\n---\n42\n", { file: "x.yaml" });
  assertEquals(out.resources, []);
  assertEquals(out.errors.length, 1);
  assertEquals(out.errors[0]!.document, 3);
  assertEquals(out.errors[0]!.value, 42);
  assertStringIncludes(
    out.errors[0]!.message,
    "expected a mapping with apiVersion, kind and metadata",
  );
});

Deno.test("parseManifestObject() fills apiVersion and kind of PodList items and prefixes error keys", () => {
  const out = parseManifestObject({
    apiVersion: "v1",
    kind: "PodList",
    items: [
      { metadata: { name: "a" } },
      { metadata: { name: "B" } },
    ],
  }, { file: "api:pods" });
  assertEquals(out.resources.map((r) => (r as Pod).name), ["a"]);
  assertEquals(out.errors.map((e) => e.key), ["items[1].metadata.name"]);
  assertEquals(out.rejected, ["Pod/default/B"]);
});

Deno.test("parseManifestObject() rejects a podCIDRs list that disagrees with podCIDR or repeats itself", () => {
  const out = parseManifestObject({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n" },
    spec: { podCIDR: "10.1.0.0/24", podCIDRs: ["10.2.0.0/24", "10.2.0.0/24"] },
  }, { file: "f" });
  assertEquals(out.errors.map((e) => e.key), ["spec.podCIDRs[0]", "spec.podCIDRs[1]"]);
});

Deno.test("parseManifestObject() rejects a Node InternalIP that is not an address", () => {
  const out = parseManifestObject({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n" },
    status: {
      addresses: [{ type: "InternalIP", address: "node-1" }, { type: "Hostname", address: "n" }],
    },
  }, { file: "f" });
  assertEquals(out.errors.map((e) => [e.key, e.value]), [[
    "status.addresses[0].address",
    "node-1",
  ]]);
});

Deno.test("parseManifestObject() requires a name for kinds it keeps aside", () => {
  const out = parseManifestObject({ apiVersion: "x.io/v1", kind: "Thing", metadata: {} }, {
    file: "f",
  });
  assertEquals(out.errors.map((e) => e.key), ["metadata.name"]);
  assertEquals(out.resources, []);
});

Deno.test("parseManifestObject() rejects a NodeEndpoints entry with an unknown key or a bad address", () => {
  const out = parseManifestObject({
    apiVersion: "tern.dev/v1alpha1",
    kind: "NodeEndpoints",
    metadata: { name: "node-1" },
    spec: {
      endpoints: [
        { containerID: "c", ifname: "eth0", ip: "10.0.0.300" },
        { containerID: "d", ifname: "eth0", ip: "10.0.0.3", podname: "typo" },
      ],
    },
  }, { file: "f" });
  assertEquals(out.errors.map((e) => e.key).sort(), [
    "spec.endpoints[0].ip",
    "spec.endpoints[1]",
  ]);
  assertEquals(out.rejected, ["NodeEndpoints/node-1"]);
});

Deno.test("parseManifests() reads a JSON manifest as the YAML parser reads the same text", async () => {
  const { parse } = await import("yaml");
  for (
    const file of ["manifests/pods.yaml", "manifests/nodes.yaml", "manifests/networkpolicy.yaml"]
  ) {
    for (const doc of (await testdata(file)).split(/^---$/m)) {
      const value = parse(doc);
      if (value === null) continue;
      const json = JSON.stringify(value, null, 2);
      // The JSON text read by the YAML parser alone (a leading comment line makes it non-JSON).
      assertEquals(parseManifests(json, { file }), parseManifests(`#\n${json}`, { file }));
    }
  }
});

Deno.test("parseManifests() reports an invalid object of a JSON manifest with its line", () => {
  const json = JSON.stringify(
    {
      apiVersion: "tern.dev/v1alpha1",
      kind: "SecurityGroup",
      metadata: { name: "sg-web" },
      spec: { ingress: [{ action: "allow", prots: [80] }] },
    },
    null,
    2,
  );
  const out = parseManifests(json, { file: "sg.json" });
  assertEquals(out.rejected, ["other:tern.dev/v1alpha1/SecurityGroup//sg-web"]);
  assertEquals(out.errors.map((e) => [e.key, e.line]), [["spec.ingress[0]", 9]]);
});

Deno.test("parseManifestObject() refuses labels the API server refuses", () => {
  for (
    const [key, value] of [["app", "a b"], ["app", "x".repeat(64)], ["app", "-a"], ["a b", "x"], [
      "Ex.com/app",
      "x",
    ]]
  ) {
    const out = parseManifestObject(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "ns", labels: { [key!]: value } } },
      { file: "ns.yaml" },
    );
    assertEquals(out.resources, [], `${key}=${value}`);
    assertStringIncludes(out.errors[0]!.message, "not a valid label");
  }
  const ok = parseManifestObject(
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "ns", labels: { "example.com/app": "A.b_c-1", empty: "" } },
    },
    { file: "ns.yaml" },
  );
  assertEquals(ok.errors, []);
});

Deno.test("parseManifestObject() refuses a service account name that is not a DNS subdomain", () => {
  const out = parseManifestObject(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "default" },
      spec: { serviceAccountName: "Web Admin" },
    },
    { file: "pod.yaml" },
  );
  assertEquals(out.resources, []);
  assertStringIncludes(out.errors[0]!.message, "spec.serviceAccountName");
});

Deno.test("parseManifestObject() holds NodeEndpoints to the CNI and Kubernetes name rules", () => {
  const endpoint = {
    podNamespace: "default",
    podName: "web-0",
    containerID: "c1",
    ifname: "eth0",
    ip: "10.244.1.7",
  };
  const bad = [
    { containerID: "a b" },
    { ifname: "éééééééé" },
    { podName: "../x" },
    { podNamespace: "a.b" },
  ];
  for (const change of bad) {
    const out = parseManifestObject(
      {
        apiVersion: "tern.dev/v1alpha1",
        kind: "NodeEndpoints",
        metadata: { name: "node-1" },
        spec: { endpoints: [{ ...endpoint, ...change }] },
      },
      { file: "endpoints-node-1.yaml" },
    );
    assertEquals(out.resources, [], JSON.stringify(change));
  }
});

Deno.test("parseManifestObject() gives equal specs of other objects one frozen copy and keeps their own metadata", () => {
  const policy = (name: string) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: "team-a", uid: `uid-${name}`, labels: { app: "web" } },
    spec: {
      podSelector: { matchLabels: { app: "web" } },
      ingress: [{ ports: [{ protocol: "TCP", port: 8080 }] }],
    },
  });
  const [a, b] = ["a", "b"].map((name) => {
    const parsed = parseManifestObject(policy(name), { file: "x.yaml" });
    assertEquals(parsed.errors, []);
    return parsed.resources[0] as OtherResource;
  });
  assertEquals(a!.raw, policy("a"));
  assertEquals(b!.raw, policy("b"));
  assert(a!.raw.spec === b!.raw.spec, "the specs are not one object");
  assert(Object.isFrozen(a!.raw.spec));
  const [ma, mb] = [a!.raw.metadata, b!.raw.metadata] as Record<string, unknown>[];
  assert(ma !== mb && !Object.isFrozen(ma));
  assert(ma!.labels === mb!.labels);
});

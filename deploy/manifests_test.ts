/**
 * Every manifest in deploy/ parses and is valid against the Kubernetes API's schemas, which come
 * from `npm:kubernetes-models` (validators generated from the API server's OpenAPI document):
 * types, enums, required fields and formats at run time, and unknown fields (a typo the API
 * server would drop or, with kubectl's strict field validation, refuse) by type-checking each
 * object against the package's generated interfaces. Every CRD follows the structural-schema
 * rules, and the SecurityGroup and SecurityGroupPolicy CRDs agree with tern's parsers on the
 * repository's examples and on invalid ones.
 */
import { assert, assertEquals } from "../test/assert.ts";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { crdProblems, type SchemaNode } from "./structural_schema.ts";
import { crdValidator } from "./crd_validator.ts";
import { parseSecurityGroup } from "../src/policy/security_group.ts";
import { parseSecurityGroupPolicy } from "../src/policy/security_group_policy.ts";
import type { OtherResource } from "../src/cluster/types.ts";
import { TERN_VERSION } from "../src/version.ts";

const DEPLOY = new URL(".", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** The kinds deploy/ uses: a model (validator) and the interface and module for the type check. */
const KINDS: Record<
  string,
  { model: { new (data: never): { validate(): void } }; module: string; iface: string }
> = {
  "v1/ServiceAccount": {
    model: ServiceAccount,
    module: "v1/ServiceAccount",
    iface: "IServiceAccount",
  },
  "v1/ConfigMap": { model: ConfigMap, module: "v1/ConfigMap", iface: "IConfigMap" },
  "apps/v1/DaemonSet": { model: DaemonSet, module: "apps/v1/DaemonSet", iface: "IDaemonSet" },
  "rbac.authorization.k8s.io/v1/ClusterRole": {
    model: ClusterRole,
    module: "rbac.authorization.k8s.io/v1/ClusterRole",
    iface: "IClusterRole",
  },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": {
    model: ClusterRoleBinding,
    module: "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
    iface: "IClusterRoleBinding",
  },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": {
    model: CustomResourceDefinition,
    module: "apiextensions.k8s.io/v1/CustomResourceDefinition",
    iface: "ICustomResourceDefinition",
  },
};

interface Manifest {
  file: string;
  object: Record<string, unknown>;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await yamlFiles(path));
    else if (entry.name.endsWith(".yaml")) out.push(path);
  }
  return out.sort();
}

/** Every document of every YAML file in deploy/, failing on any YAML error. */
async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const path of await yamlFiles(DEPLOY.replace(/\/$/, ""))) {
    const file = path.slice(DEPLOY.length);
    for (const doc of parseAllDocuments(await Deno.readTextFile(path))) {
      assertEquals(doc.errors.map((e) => e.message), [], `${file} parses`);
      const object = doc.toJS();
      if (object !== null) out.push({ file, object });
    }
  }
  return out;
}

function kindOf(object: Record<string, unknown>): string {
  return `${object.apiVersion}/${object.kind}`;
}

function crdOf(all: Manifest[], name: string): SchemaNode {
  const found = all.find((m) =>
    m.object.kind === "CustomResourceDefinition" &&
    (m.object.metadata as { name: string }).name === name
  );
  assert(found, `deploy/ has the CRD ${name}`);
  return found.object;
}

Deno.test("every manifest in deploy/ parses and is an object of a kind with a schema", async () => {
  const all = await manifests();
  const files = new Set(all.map((m) => m.file));
  for (
    const file of [
      "00-crd-securitygroups.yaml",
      "01-crd-ippools.yaml",
      "02-crd-ipamblocks.yaml",
      "10-rbac.yaml",
      "20-configmap.yaml",
      "30-daemonset.yaml",
      "optional/crd-securitygrouppolicies.yaml",
    ]
  ) assert(files.has(file), `${file} is in deploy/`);
  for (const { file, object } of all) {
    assert(KINDS[kindOf(object)], `${file}: ${kindOf(object)} has a schema in KINDS`);
  }
});

Deno.test("every manifest is valid against the Kubernetes API schemas (kubernetes-models)", async () => {
  for (const { file, object } of await manifests()) {
    const { model } = KINDS[kindOf(object)]!;
    try {
      new model(object as never).validate();
    } catch (error) {
      throw new Error(`${file}: ${kindOf(object)} is invalid: ${error}`);
    }
  }
});

Deno.test("the schema validation rejects a DaemonSet with a bad value, so it is not a no-op", async () => {
  const ds = (await manifests()).find((m) => m.object.kind === "DaemonSet")!.object;
  const broken = structuredClone(ds) as {
    spec: { template: { spec: { containers: Record<string, unknown>[] } } };
  };
  broken.spec.template.spec.containers[0]!.imagePullPolicy = 7;
  let failed = false;
  try {
    new DaemonSet(broken as never).validate();
  } catch (error) {
    failed = String(error).includes("imagePullPolicy");
  }
  assert(failed, "an integer imagePullPolicy is rejected");
});

/**
 * Type-checks `objects` against kubernetes-models' interfaces in a scratch module: an object
 * literal with a field its interface lacks is an excess-property error, at any depth.
 */
async function typeCheck(objects: Manifest[]): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tern-manifests-" });
  try {
    const lines: string[] = [];
    objects.forEach(({ object }, i) => {
      const { module, iface } = KINDS[kindOf(object)]!;
      lines.push(`import type { ${iface} as T${i} } from "kubernetes-models/${module}";`);
      lines.push(`export const m${i}: T${i} = ${JSON.stringify(object)};`);
    });
    await Deno.writeTextFile(`${dir}/manifests.ts`, lines.join("\n") + "\n");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", `${ROOT}deno.json`, `${dir}/manifests.ts`],
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("no manifest has a field the Kubernetes API does not define", async () => {
  const all = await manifests();
  const checked = await typeCheck(all);
  assertEquals(checked.code, 0, checked.output);

  const ds = all.find((m) => m.object.kind === "DaemonSet")!;
  const typo = structuredClone(ds.object) as {
    spec: { template: { spec: Record<string, unknown> } };
  };
  typo.spec.template.spec.hostNetwrk = true;
  const caught = await typeCheck([{ file: ds.file, object: typo as Record<string, unknown> }]);
  assert(caught.code !== 0, "a misspelt field fails the check");
  assert(caught.output.includes("hostNetwrk"), caught.output);
});

Deno.test("every CRD is structural and consistent (names, storage version, printer columns)", async () => {
  const crds = (await manifests()).filter((m) => m.object.kind === "CustomResourceDefinition");
  assertEquals(crds.length, 4);
  for (const { file, object } of crds) assertEquals(crdProblems(object), [], file);
});

Deno.test("tern's CRDs are the kinds and scopes ternd and the docs expect", async () => {
  const all = await manifests();
  const expect: [string, string, string, string][] = [
    ["securitygroups.tern.dev", "SecurityGroup", "v1alpha1", "Cluster"],
    ["ippools.tern.dev", "IPPool", "v1alpha1", "Cluster"],
    ["ipamblocks.tern.dev", "IPAMBlock", "v1alpha1", "Cluster"],
    ["securitygrouppolicies.vpcresources.k8s.aws", "SecurityGroupPolicy", "v1beta1", "Namespaced"],
  ];
  for (const [name, kind, version, scope] of expect) {
    const spec = crdOf(all, name).spec as {
      names: { kind: string };
      scope: string;
      versions: { name: string }[];
    };
    assertEquals([spec.names.kind, spec.scope, spec.versions.map((v) => v.name)], [kind, scope, [
      version,
    ]]);
  }
  const file = all.find((m) =>
    m.object.kind === "CustomResourceDefinition" &&
    (m.object.metadata as { name: string }).name.endsWith("vpcresources.k8s.aws")
  )!.file;
  assert(file.startsWith("optional/"), "the SecurityGroupPolicy CRD is optional");
});

/** Every SecurityGroup and SecurityGroupPolicy in testdata/policy and the docs' YAML blocks. */
async function policyExamples(): Promise<{ where: string; object: Record<string, unknown> }[]> {
  const out: { where: string; object: Record<string, unknown> }[] = [];
  const take = (where: string, text: string) => {
    for (const doc of parseAllDocuments(text)) {
      const object = doc.toJS();
      if (object?.kind === "SecurityGroup" || object?.kind === "SecurityGroupPolicy") {
        out.push({ where: `${where} ${object.kind}/${object.metadata?.name}`, object });
      }
    }
  };
  for await (const entry of Deno.readDir(`${ROOT}testdata/policy`)) {
    if (entry.name.endsWith(".yaml") && entry.name !== "invalid.yaml") {
      take(
        `testdata/policy/${entry.name}`,
        await Deno.readTextFile(`${ROOT}testdata/policy/${entry.name}`),
      );
    }
  }
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (!entry.name.endsWith(".md")) continue;
    const text = await Deno.readTextFile(`${ROOT}docs/${entry.name}`);
    for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      take(`docs/${entry.name}`, block[1]!);
    }
  }
  return out;
}

function other(object: Record<string, unknown>): OtherResource {
  const metadata = object.metadata as { name: string; namespace?: string };
  const resource: OtherResource = {
    kind: "Other",
    apiVersion: String(object.apiVersion),
    resourceKind: String(object.kind),
    name: metadata.name,
    raw: object,
  };
  if (metadata.namespace !== undefined) resource.namespace = metadata.namespace;
  return resource;
}

function ternAccepts(object: Record<string, unknown>): boolean {
  return object.kind === "SecurityGroup"
    ? parseSecurityGroup(other(object)).ok
    : parseSecurityGroupPolicy(other(object)).ok;
}

async function validators() {
  const all = await manifests();
  const sg = crdValidator(crdOf(all, "securitygroups.tern.dev"), "v1alpha1");
  const sgp = crdValidator(crdOf(all, "securitygrouppolicies.vpcresources.k8s.aws"), "v1beta1");
  return (object: Record<string, unknown>) => (object.kind === "SecurityGroup" ? sg : sgp)(object);
}

Deno.test("the SecurityGroup and SecurityGroupPolicy CRDs accept every example tern accepts", async () => {
  const validate = await validators();
  const examples = await policyExamples();
  const where = new Set(examples.map((e) => e.where.split(" ")[0]));
  assert(where.has("docs/policy.md"), "the docs' examples are read");
  assert(where.has("testdata/policy/sg-priority-deny.yaml"), "testdata is read");
  assert(examples.filter((e) => e.object.kind === "SecurityGroup").length >= 6, "enough groups");
  for (const { where, object } of examples) {
    assert(ternAccepts(object), `${where}: tern accepts it`);
    assertEquals(validate(object), [], `${where}: the CRD accepts it`);
  }
});

/**
 * Invalid objects of testdata/policy/invalid.yaml that the CRD cannot reject, and why. tern still
 * rejects them (and reports them in `tern policy status`).
 */
const NOT_REJECTED_BY_CRD: Record<string, string> = {
  "sg-backwards-range": "a range's order needs CEL, whose cost estimate needs list bounds",
  "sg-namespaced": "scope: the API server serves cluster-scoped objects without a namespace",
};

Deno.test("the CRDs reject the invalid SecurityGroups and SecurityGroupPolicies that tern rejects", async () => {
  const validate = await validators();
  const text = await Deno.readTextFile(`${ROOT}testdata/policy/invalid.yaml`);
  let count = 0;
  for (const doc of parseAllDocuments(text)) {
    const object = doc.toJS();
    if (object.kind !== "SecurityGroup" && object.kind !== "SecurityGroupPolicy") continue;
    const name = object.metadata.name as string;
    assert(!ternAccepts(object), `tern rejects ${name}`);
    if (name in NOT_REJECTED_BY_CRD) {
      assertEquals(validate(object), [], `${name}: ${NOT_REJECTED_BY_CRD[name]}`);
      continue;
    }
    assert(validate(object).length > 0, `the CRD rejects ${name}`);
    count++;
  }
  assertEquals(count, 11);
});

Deno.test("the SecurityGroup CRD rejects each of twenty-two single mistakes that tern rejects", async () => {
  const validate = await validators();
  const group = (rule: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
    apiVersion: "tern.dev/v1alpha1",
    kind: "SecurityGroup",
    metadata: { name: "sg" },
    spec: { ingress: [rule], ...spec },
  });
  const cases: [string, Record<string, unknown>, string][] = [
    ["action reject", group({ action: "reject" }), "/spec/ingress/0/action"],
    ["protocol gre", group({ action: "allow", protocol: "gre" }), "/spec/ingress/0/protocol"],
    ["priority -1", group({ action: "allow", priority: -1 }), "/spec/ingress/0/priority"],
    ["priority 1.5", group({ action: "allow", priority: 1.5 }), "/spec/ingress/0/priority"],
    ["port 0", group({ action: "allow", protocol: "tcp", ports: [0] }), "/spec/ingress/0/ports/0"],
    ["port 65536", group({ action: "allow", protocol: "udp", ports: [65536] }), "/ports/0"],
    ["port http", group({ action: "allow", protocol: "tcp", ports: ["http"] }), "/ports/0"],
    [
      "icmp type 256",
      group({ action: "allow", protocol: "icmp", icmp: { type: 256 } }),
      "/icmp/type",
    ],
    ["icmp without type", group({ action: "allow", protocol: "icmp", icmp: { code: 1 } }), "/icmp"],
    ["peer with no form", group({ action: "allow", from: [{}] }), "/from/0"],
    [
      "except without cidr",
      group({ action: "allow", from: [{ except: ["10.0.0.0/8"] }] }),
      "/from/0",
    ],
    [
      "cidr and podSelector",
      group({ action: "allow", from: [{ cidr: "10.0.0.0/8", podSelector: {} }] }),
      "/from/0",
    ],
    [
      "In without values",
      group({
        action: "allow",
        from: [{ podSelector: { matchExpressions: [{ key: "a", operator: "In" }] } }],
      }),
      "/matchExpressions/0",
    ],
    [
      "Exists with values",
      group({
        action: "allow",
        from: [{
          namespaceSelector: {
            matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }],
          },
        }],
      }),
      "/matchExpressions/0",
    ],
    [
      "label value not a string",
      group({ action: "allow", from: [{ podSelector: { matchLabels: { tier: 1 } } }] }),
      "/matchLabels/tier",
    ],
    [
      "a label value with a space",
      group({
        action: "allow",
        from: [{ podSelector: { matchLabels: { app: "a b" } } }],
      }),
      "/matchLabels/app",
    ],
    [
      "a label value of 64",
      group({
        action: "allow",
        from: [{ podSelector: { matchLabels: { app: "a".repeat(64) } } }],
      }),
      "/matchLabels/app",
    ],
    [
      "a requirement key with a space",
      group({
        action: "allow",
        from: [{ podSelector: { matchExpressions: [{ key: "a b", operator: "Exists" }] } }],
      }),
      "/matchExpressions/0/key",
    ],
    [
      "a requirement value ending in -",
      group({
        action: "allow",
        from: [{
          podSelector: { matchExpressions: [{ key: "a", operator: "In", values: ["x-"] }] },
        }],
      }),
      "/matchExpressions/0/values/0",
    ],
    [
      "a service account namespace in capitals",
      group({
        action: "allow",
        from: [{ serviceAccount: { name: "web", namespace: "Ops" } }],
      }),
      "/serviceAccount/namespace",
    ],
    ["unknown rule field", group({ action: "allow", prio: 1 }), "/spec/ingress/0"],
    ["unknown spec field", group({ action: "allow" }, { ingres: [] }), "/spec"],
  ];
  for (const [what, object, path] of cases) {
    assert(!ternAccepts(object), `tern rejects ${what}`);
    const violations = validate(object);
    assert(violations.some((v) => v.path.includes(path)), `${what}: ${JSON.stringify(violations)}`);
  }
});

Deno.test("the IPPool and IPAMBlock CRDs accept a pool and a block and reject bad ones", async () => {
  const all = await manifests();
  const pool = crdValidator(crdOf(all, "ippools.tern.dev"), "v1alpha1");
  const block = crdValidator(crdOf(all, "ipamblocks.tern.dev"), "v1alpha1");
  const meta = (name: string) => ({ apiVersion: "tern.dev/v1alpha1", metadata: { name } });
  assertEquals(
    pool({
      ...meta("default"),
      kind: "IPPool",
      spec: { cidr: "10.244.0.0/16", blockSize: 26, nodeSelector: { matchLabels: { zone: "a" } } },
    }),
    [],
  );
  assertEquals(pool({ ...meta("p"), kind: "IPPool", spec: { cidr: "10.244.0.0/16" } }), []);
  assert(
    pool({ ...meta("p"), kind: "IPPool", spec: { cidr: "10.244.0.0/16", blockSize: 33 } }).length >
      0,
  );
  assert(pool({ ...meta("p"), kind: "IPPool", spec: { cidr: "10.244.0.0/40" } }).length > 0);
  assert(pool({ ...meta("p"), kind: "IPPool", spec: {} }).length > 0);
  const spec = { cidr: "10.244.3.64/26", pool: "default", node: "node-1" };
  assertEquals(
    block({
      ...meta("10-244-3-64-26"),
      kind: "IPAMBlock",
      spec,
      status: { allocated: 3, releasing: false, updatedAt: "2026-12-04T14:00:00Z" },
    }),
    [],
  );
  assert(block({ ...meta("b"), kind: "IPAMBlock", spec: { ...spec, node: undefined } }).length > 0);
  assert(block({ ...meta("b"), kind: "IPAMBlock", spec, status: { allocated: -1 } }).length > 0);
  const defaults = (crdOf(all, "ippools.tern.dev").spec as {
    versions: { schema: { openAPIV3Schema: SchemaNode } }[];
  }).versions[0]!.schema.openAPIV3Schema;
  const blockSize = ((defaults.properties as Record<string, SchemaNode>).spec!.properties as Record<
    string,
    SchemaNode
  >).blockSize!;
  assertEquals(blockSize.default, 26);
});

Deno.test("the RBAC grants exactly the verbs ternd uses, and nothing on secrets", async () => {
  const role = (await manifests()).find((m) => m.object.kind === "ClusterRole")!.object as {
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  };
  const granted = new Set<string>();
  for (const rule of role.rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) granted.add(`${group || "core"}/${resource}:${verb}`);
      }
    }
  }
  const read = ["get", "list", "watch"];
  const expected = [
    ...read.map((v) => `core/nodes:${v}`),
    ...[...read, "patch"].map((v) => `core/pods:${v}`),
    ...read.map((v) => `core/namespaces:${v}`),
    ...read.map((v) => `core/serviceaccounts:${v}`),
    ...["create", "patch"].flatMap((v) => [`core/events:${v}`, `events.k8s.io/events:${v}`]),
    ...read.map((v) => `networking.k8s.io/networkpolicies:${v}`),
    ...read.map((v) => `vpcresources.k8s.aws/securitygrouppolicies:${v}`),
    ...read.map((v) => `tern.dev/securitygroups:${v}`),
    ...read.map((v) => `tern.dev/ippools:${v}`),
    ...[...read, "create", "update", "patch", "delete"].map((v) => `tern.dev/ipamblocks:${v}`),
  ];
  assertEquals([...granted].sort(), expected.sort());
  assert(![...granted].some((g) => g.includes("*")), "no wildcard");
});

Deno.test("the DaemonSet runs ternd as the brief of issue 11 says", async () => {
  const all = await manifests();
  const ds = all.find((m) => m.object.kind === "DaemonSet")!.object as {
    metadata: { namespace: string };
    spec: { template: { spec: Record<string, unknown> } };
  };
  const pod = ds.spec.template.spec as {
    hostNetwork: boolean;
    priorityClassName: string;
    serviceAccountName: string;
    tolerations: { operator: string }[];
    containers: {
      name: string;
      env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
    }[];
    initContainers: { name: string; volumeMounts: { mountPath: string }[] }[];
    volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[];
  };
  assertEquals(ds.metadata.namespace, "kube-system");
  assertEquals([pod.hostNetwork, pod.priorityClassName, pod.serviceAccountName], [
    true,
    "system-node-critical",
    "tern",
  ]);
  assertEquals(pod.tolerations, [{ operator: "Exists" }]);
  const ternd = pod.containers.find((c) => c.name === "ternd")!;
  assertEquals(
    ternd.env.find((e) => e.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath,
    "spec.nodeName",
  );
  const hostPaths = pod.volumes.flatMap((v) => v.hostPath ? [v.hostPath.path] : []).sort();
  assertEquals(hostPaths, [
    "/etc/cni/net.d",
    "/opt/cni/bin",
    "/run/netns",
    "/run/tern",
    "/usr/local/lib/tern",
    "/var/lib/tern",
  ]);
  const configMap = all.find((m) => m.object.kind === "ConfigMap")!.object as {
    metadata: { name: string };
    data: Record<string, string>;
  };
  assertEquals(pod.volumes.find((v) => v.configMap)?.configMap?.name, configMap.metadata.name);
  const config = parseYaml(configMap.data["ternd.yaml"]!);
  assertEquals(config, {
    nodeName: "",
    cluster: { source: "kubernetes", podCIDRWait: "60s", syncWait: "8s" },
    policy: { enabled: true },
    routing: { mode: "routes" },
  });
});

Deno.test("the DaemonSet runs what packaging/Containerfile puts in the image, with the host mounted under /host", async () => {
  const ds = (await manifests()).find((m) => m.object.kind === "DaemonSet")!.object as {
    spec: { template: { spec: Record<string, unknown> } };
  };
  const pod = ds.spec.template.spec as {
    initContainers: { command: string[]; volumeMounts: { name: string; mountPath: string }[] }[];
    containers: { command: string[]; image: string }[];
    volumes: { name: string; hostPath?: { path: string } }[];
  };
  const containerfile = await Deno.readTextFile(`${ROOT}packaging/Containerfile`);
  const copies = [...containerfile.replaceAll("\\\n", " ").matchAll(/^COPY (.+)$/gm)].map((m) =>
    m[1]!.trim().split(/\s+/)
  );
  const copied = (source: string) =>
    copies.some((words) => words.slice(0, -1).includes(source) && words.at(-1)!.length > 0);
  const init = pod.initContainers[0]!;
  assertEquals(init.command, ["/usr/local/share/tern/packaging/install-cni.sh"]);
  assert(copied("packaging/install-cni.sh"), "the image has install-cni.sh");
  assert(
    copies.some((w) =>
      w.includes("packaging/install-cni.sh") && w.at(-1) === "/usr/local/share/tern/packaging/"
    ),
    "install-cni.sh is where the DaemonSet runs it",
  );
  for (
    const source of ["dist/", "install.sh", "testdata/ternd.yaml", "packaging/10-tern.conflist"]
  ) {
    assert(copied(source), `the image has ${source}, which install-cni.sh's install.sh needs`);
  }
  assertEquals(pod.containers[0]!.command.slice(0, 1), ["/usr/local/bin/ternd"]);
  assert(containerfile.includes("/usr/local/share/tern/install.sh --no-start"), "ternd installed");
  for (const mount of init.volumeMounts) {
    const volume = pod.volumes.find((v) => v.name === mount.name);
    assertEquals(mount.mountPath, `/host${volume?.hostPath?.path}`, mount.name);
  }
  const images = new Set(
    [...pod.initContainers, ...pod.containers].map((c) => (c as { image: string }).image),
  );
  assertEquals([...images], [`ghcr.io/tern-cni/tern:${TERN_VERSION}`], "one image, this version");
});

import { assert, assertEquals } from "../../test/assert.ts";
import { realisticPod } from "../../test/fake_apiserver/realistic.ts";
import { KUBERNETES_KINDS, POD_TYPE } from "./kubernetes_source.ts";
import { parseManifestObject } from "./manifest.ts";
import { validPod } from "./valid_pod.ts";
import type { KubeObject } from "../kube/watch_stream.ts";

const trim = KUBERNETES_KINDS.find((k) => k.type === POD_TYPE)!.trim;

/** A generated API pod, trimmed as the kubernetes source trims it. */
function trimmedPod(i: number): Record<string, unknown> {
  const ns = `team-${String(i % 7).padStart(3, "0")}`;
  const pod = realisticPod(i, i % 13, i % 5, ns) as KubeObject;
  return { ...trim(pod), apiVersion: "v1", kind: "Pod" };
}

function schema(input: Record<string, unknown>) {
  return parseManifestObject(structuredClone(input), { file: "kubernetes:Pod x" });
}

Deno.test("validPod() makes the very Pod the schema makes of every generated pod", () => {
  for (let i = 0; i < 400; i++) {
    const input = trimmedPod(i);
    const fast = validPod(input);
    const slow = schema(input);
    assertEquals(slow.errors, [], `pod ${i} is valid`);
    assert(fast !== undefined, `pod ${i} takes the fast path`);
    assertEquals(fast, slow.resources[0], `pod ${i}`);
    assertEquals(Object.keys(fast), Object.keys(slow.resources[0]!), `pod ${i}: field order`);
  }
});

Deno.test("validPod() agrees with the schema on defaults and on what may be absent or null", () => {
  const base = trimmedPod(1);
  // deno-lint-ignore no-explicit-any
  const variants: ((p: any) => void)[] = [
    (p) => delete p.metadata.namespace,
    (p) => delete p.metadata.uid,
    (p) => p.metadata.labels = null,
    (p) => delete p.metadata.annotations,
    (p) => delete p.spec,
    (p) => p.spec = {},
    (p) => p.spec.hostNetwork = true,
    (p) => p.spec.serviceAccount = "legacy",
    (p) => delete p.spec.serviceAccountName,
    (p) => p.spec.containers = null,
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 80 }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ name: "http", containerPort: 80 }] }],
    (p) => p.spec.containers = [{ name: "c", ports: null }],
    (p) => p.status = null,
    (p) => delete p.status,
    (p) => p.status = { phase: "Pending" },
    (p) => p.status = { podIP: "10.1.2.3" },
    (p) => p.status = { podIP: "10.1.2.3", podIPs: [] },
    (p) => p.status = { podIPs: [{ ip: "10.1.2.3" }, { ip: "10.1.2.4" }] },
  ];
  for (const [n, change] of variants.entries()) {
    const input = structuredClone(base);
    change(input);
    const slow = schema(input);
    assertEquals(slow.errors, [], `variant ${n} is valid`);
    assertEquals(validPod(input), slow.resources[0], `variant ${n}`);
  }
});

Deno.test("validPod() leaves every pod the schema refuses, or rewrites, to the schema", () => {
  const base = trimmedPod(2);
  // deno-lint-ignore no-explicit-any
  const variants: ((p: any) => void)[] = [
    (p) => p.metadata.name = "Web_1",
    (p) => p.metadata.name = 7,
    (p) => p.metadata.namespace = "a.b",
    (p) => p.metadata.namespace = null,
    (p) => p.metadata.uid = null,
    (p) => p.metadata.labels = { app: 3 },
    (p) => p.metadata.labels = ["x"],
    (p) => p.metadata.annotations = { a: null },
    (p) => p.metadata = null,
    (p) => p.spec = null,
    (p) => p.spec.nodeName = "Node_1",
    (p) => p.spec.serviceAccountName = "",
    (p) => p.spec.hostNetwork = "yes",
    (p) => p.spec.hostNetwork = null,
    (p) => p.spec.containers = {},
    (p) => p.spec.containers = [{ ports: [] }],
    (p) => p.spec.containers = [{ name: "" }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 0 }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 80.5 }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: "80" }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 80, protocol: "ICMP" }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 80, protocol: null }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 80, name: "HTTP" }] }],
    (p) => p.spec.containers = [{ name: "c", ports: [{ containerPort: 80, name: "1234" }] }],
    (p) => p.status = "Running",
    (p) => p.status = { phase: 1 },
    (p) => p.status = { podIP: "10.1.2.300" },
    (p) => p.status = { podIPs: [{ ip: "nope" }] },
    (p) => p.status = { podIPs: {} },
    // Valid, but the schema writes IPv6 in canonical form: the schema's job.
    (p) => p.status = { podIPs: [{ ip: "fd00:0::1" }] },
  ];
  for (const [n, change] of variants.entries()) {
    const input = structuredClone(base);
    change(input);
    assertEquals(
      validPod(input),
      undefined,
      `variant ${n}: ${JSON.stringify(input).slice(0, 200)}`,
    );
  }
  // And the schema finds a problem in each but the IPv6 one.
  const refused = variants.slice(0, -1).filter((change) => {
    const input = structuredClone(base);
    change(input);
    return schema(input).errors.length > 0;
  });
  assertEquals(refused.length, variants.length - 1);
});

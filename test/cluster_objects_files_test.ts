/** {@linkcode FilesClusterObjects}: today's manifest file names, atomic writes, idempotent removal. */
import { parse } from "yaml";
import { assertEquals, assertThrows } from "./assert.ts";
import { FilesClusterObjects, manifestFileName } from "./cluster_objects_files.ts";
import { asKubeObject } from "./cluster_objects.ts";

Deno.test("manifestFileName() keeps the sandbox's names for nodes, namespaces and pods", () => {
  const name = (kind: string, name: string, namespace?: string) =>
    manifestFileName({ apiVersion: "v1", kind, name, ...(namespace ? { namespace } : {}) });
  assertEquals(name("Node", "node-1"), "node-node-1.yaml");
  assertEquals(name("Namespace", "x"), "namespace-x.yaml");
  assertEquals(name("Pod", "web", "x"), "pod-x-web.yaml");
  assertEquals(name("NetworkPolicy", "deny-all", "x"), "networkpolicy-x-deny-all.yaml");
  assertEquals(name("SecurityGroup", "sg-db"), "securitygroup-sg-db.yaml");
});

Deno.test("apply() writes the manifest, leaves no temp file; remove() of a gone one is fine", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const objects = new FilesClusterObjects(dir);
    const ns = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "x", labels: { ns: "x" } },
    };
    await objects.apply(ns);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["namespace-x.yaml"]);
    assertEquals(parse(await Deno.readTextFile(`${dir}/namespace-x.yaml`)), ns);
    await objects.remove({ apiVersion: "v1", kind: "Namespace", name: "x" });
    await objects.remove({ apiVersion: "v1", kind: "Namespace", name: "x" });
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("asKubeObject() refuses a List and an object without a name", () => {
  assertThrows(
    () => asKubeObject({ apiVersion: "v1", kind: "List", items: [] }),
    TypeError,
    "apply its items one by one",
  );
  assertThrows(
    () => asKubeObject({ apiVersion: "v1", kind: "Pod", metadata: {} }),
    TypeError,
    "without metadata.name",
  );
});

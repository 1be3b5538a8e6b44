import { parse as parseYaml } from "yaml";
import { assert, assertEquals } from "../../test/assert.ts";
import { crdValidator } from "../../deploy/crd_validator.ts";
import { parseCidr } from "../cidr.ts";
import type { KubeObject } from "../kube/client.ts";
import { blockObject, type IpPool, readBlock, readPool } from "./ipam_objects.ts";

const blocksCrd = parseYaml(
  await Deno.readTextFile(new URL("../../deploy/02-crd-ipamblocks.yaml", import.meta.url)),
);

function pool(spec: unknown): KubeObject {
  return {
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name: "p" },
    spec,
  } as KubeObject;
}

Deno.test("readPool() applies the default block size and an empty node selector", () => {
  const read = readPool(pool({ cidr: "10.244.0.0/16" })) as IpPool;
  assertEquals(read.blockSize, 26);
  assertEquals(read.cidr, "10.244.0.0/16");
  assertEquals(read.nodeSelector, { matchLabels: {}, matchExpressions: [] });
});

Deno.test("readPool() says why a pool cannot be used", () => {
  assertEquals(readPool(pool({ cidr: "10.244.0.1/16" })), {
    error:
      'IPPool p has an invalid spec.cidr: Not an IPv4 CIDR: "10.244.0.1/16": host bits are set, did you mean 10.244.0.0/16?',
  });
  const tooBig = readPool(pool({ cidr: "10.244.0.0/24", blockSize: 20 }));
  assert("error" in tooBig && tooBig.error.includes("spec.blockSize"), JSON.stringify(tooBig));
});

Deno.test("blockObject() writes an object the IPAMBlock CRD accepts, and readBlock() reads it", () => {
  const p = readPool(pool({ cidr: "10.244.0.0/16" })) as IpPool;
  const object = blockObject(p, parseCidr("10.244.3.64/26"), "node-a");
  assertEquals(crdValidator(blocksCrd, "v1alpha1")(object), []);
  const read = readBlock({
    ...object,
    metadata: { ...object.metadata, uid: "u1", resourceVersion: "7" },
  });
  assertEquals(read, {
    name: "10-244-3-64-26",
    cidr: "10.244.3.64/26",
    pool: "p",
    node: "node-a",
    allocated: 0,
    releasing: false,
    uid: "u1",
    resourceVersion: "7",
    createdAt: 0,
  });
});

Deno.test("readBlock() refuses a block whose name does not match its CIDR", () => {
  const object = {
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPAMBlock",
    metadata: { name: "mine" },
    spec: { cidr: "10.244.3.64/26", pool: "p", node: "n" },
  } as KubeObject;
  assertEquals(readBlock(object), {
    error: "IPAMBlock mine is misnamed: spec.cidr 10.244.3.64/26 must be named 10-244-3-64-26",
  });
});

/** The CRD validator: Go's CIDR syntax, strict fields, and the OpenAPI keywords it must know. */
import { assert, assertEquals } from "../test/assert.ts";
import { crdValidator, isGoCidr } from "./crd_validator.ts";

Deno.test("isGoCidr reads CIDRs as net.ParseCIDR does: host bits allowed, bad prefixes not", () => {
  for (const good of ["10.0.0.0/8", "10.0.0.1/24", "0.0.0.0/0", "fd00::/64", "::1/128"]) {
    assert(isGoCidr(good), good);
  }
  for (
    const bad of [
      "10.0.0.0",
      "10.0.0.0/33",
      "10.0.0/8",
      "010.0.0.0/8",
      "fd00::/129",
      "x/8",
      "10.0.0.0/-1",
    ]
  ) {
    assert(!isGoCidr(bad), bad);
  }
});

const crd = {
  spec: {
    versions: [{
      name: "v1",
      schema: {
        openAPIV3Schema: {
          type: "object",
          properties: {
            spec: {
              type: "object",
              properties: {
                port: {
                  "x-kubernetes-int-or-string": true,
                  anyOf: [{ type: "integer" }, { type: "string" }],
                  minimum: 1,
                  pattern: "^[a-z]+$",
                },
                note: { type: "string", nullable: true },
                free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                labels: { type: "object", additionalProperties: { type: "string" } },
              },
            },
          },
        },
      },
    }],
  },
};

Deno.test("crdValidator refuses unknown fields except where the schema preserves them", () => {
  const validate = crdValidator(crd, "v1");
  assertEquals(
    validate({ spec: { port: 80, note: null, free: { any: 1 }, labels: { a: "b" } } }),
    [],
  );
  assertEquals(validate({ spec: { port: "http" } }), []);
  assertEquals(validate({ spec: { prot: 80 } }), [{
    path: "/spec",
    message: 'unknown field "prot"',
  }]);
  assert(validate({ spec: { port: 0 } }).length > 0, "minimum applies to the integer");
  assert(validate({ spec: { port: "HTTP" } }).length > 0, "pattern applies to the string");
  assert(validate({ spec: { labels: { a: 1 } } }).length > 0, "map values are typed");
});

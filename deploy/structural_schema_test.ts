/** The structural-schema check finds each rule's violation and lets the allowed exceptions pass. */
import { assert, assertEquals } from "../test/assert.ts";
import { type SchemaNode, structuralSchemaProblems } from "./structural_schema.ts";

Deno.test("the structural-schema check finds each kind of non-structural schema", () => {
  const cases: [string, SchemaNode, string][] = [
    [
      "a field without a type",
      { type: "object", properties: { a: { minLength: 1 } } },
      "has no type",
    ],
    ["an item without a type", {
      type: "object",
      properties: { a: { type: "array", items: {} } },
    }, "items: has no type"],
    [
      "$ref",
      { type: "object", properties: { a: { type: "object", $ref: "#/x" } } },
      "$ref is not allowed",
    ],
    ["patternProperties", {
      type: "object",
      properties: { a: { type: "object", patternProperties: {} } },
    }, "patternProperties"],
    ["properties and additionalProperties", {
      type: "object",
      properties: { a: { type: "string" } },
      additionalProperties: { type: "string" },
    }, "mutually exclusive"],
    [
      "additionalProperties false",
      { type: "object", additionalProperties: false },
      "false is not allowed",
    ],
    ["uniqueItems", { type: "array", items: { type: "string" }, uniqueItems: true }, "uniqueItems"],
    ["type inside anyOf", {
      type: "object",
      properties: { a: { type: "string" } },
      anyOf: [{ properties: { a: { type: "string" } } }],
    }, "type is not allowed inside"],
    ["a field only inside a junctor", {
      type: "object",
      properties: { a: { type: "string" } },
      oneOf: [{ required: ["b"], properties: { b: { minLength: 1 } } }],
    }, "not specified outside"],
    ["description inside not", {
      type: "object",
      properties: { a: { type: "string" } },
      not: { description: "x" },
    }, "description is not allowed inside"],
    ["a metadata restriction beyond the name", {
      type: "object",
      properties: { metadata: { type: "object", properties: { labels: { type: "object" } } } },
    }, "only name and generateName"],
    [
      "an unknown format",
      { type: "object", properties: { a: { type: "string", format: "cdir" } } },
      "format",
    ],
    ["a required name that is no property", {
      type: "object",
      required: ["spce"],
      properties: { spec: { type: "object" } },
    }, "spce"],
  ];
  for (const [what, schema, expected] of cases) {
    const problems = structuralSchemaProblems(schema);
    assert(problems.some((p) => p.includes(expected)), `${what}: ${JSON.stringify(problems)}`);
  }
  const intOrString: SchemaNode = {
    type: "object",
    properties: {
      a: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] },
      b: {
        "x-kubernetes-int-or-string": true,
        allOf: [{ anyOf: [{ type: "integer" }, { type: "string" }] }, { pattern: "^x" }],
      },
      c: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      metadata: { type: "object", properties: { name: { type: "string", maxLength: 63 } } },
    },
  };
  assertEquals(structuralSchemaProblems(intOrString), [], "the allowed exceptions pass");
});

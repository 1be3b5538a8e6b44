/**
 * The rules an `apiextensions.k8s.io/v1` CustomResourceDefinition must follow that no OpenAPI
 * document of the CRD kind states, checked without an API server: the structural-schema rules of
 * the Kubernetes CRD docs ("Specifying a structural schema") and the validation keywords a CRD
 * may not use, plus the consistency of the CRD's names and versions. Each finding is a sentence
 * that says where (a JSON path in the schema) and what is wrong. Pure.
 *
 * A schema is structural when:
 * 1. the root, every field (`properties`, `additionalProperties`) and every array item (`items`)
 *    has a non-empty `type`, except a node with `x-kubernetes-int-or-string: true` or
 *    `x-kubernetes-preserve-unknown-fields: true`;
 * 2. every field and item named inside `allOf`, `anyOf`, `oneOf` or `not` is also specified
 *    outside them;
 * 3. `description`, `type`, `default`, `additionalProperties` and `nullable` appear nowhere inside
 *    those junctors, except the two int-or-string patterns (`anyOf: [{type: integer}, {type:
 *    string}]`, or that inside `allOf`);
 * 4. `metadata`, if specified, restricts only `metadata.name` and `metadata.generateName`.
 *
 * And in any CRD schema: no `$ref`, `definitions`, `dependencies`, `deprecated`, `discriminator`,
 * `id`, `patternProperties`, `readOnly`, `writeOnly`, `xml`; `uniqueItems` never true;
 * `additionalProperties` never false and never beside `properties`.
 * @module
 */

/** A JSON-schema node as written in a CRD (`JSONSchemaProps`). */
export type SchemaNode = Record<string, unknown>;

const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);

const FORBIDDEN = [
  "$ref",
  "definitions",
  "dependencies",
  "deprecated",
  "discriminator",
  "id",
  "patternProperties",
  "readOnly",
  "writeOnly",
  "xml",
];

const NOT_IN_JUNCTOR = ["description", "type", "default", "additionalProperties", "nullable"];

const JUNCTORS = ["allOf", "anyOf", "oneOf", "not"] as const;

/** Formats the API server validates (others are ignored by it, so a typo would go unnoticed). */
const FORMATS = new Set([
  "bsonobjectid",
  "uri",
  "email",
  "hostname",
  "ipv4",
  "ipv6",
  "cidr",
  "mac",
  "uuid",
  "uuid3",
  "uuid4",
  "uuid5",
  "isbn",
  "isbn10",
  "isbn13",
  "creditcard",
  "ssn",
  "hexcolor",
  "rgbcolor",
  "byte",
  "password",
  "date",
  "duration",
  "datetime",
  "date-time",
  "int32",
  "int64",
  "float",
  "double",
]);

function isNode(value: unknown): value is SchemaNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function junctorBranches(node: SchemaNode, junctor: (typeof JUNCTORS)[number]): SchemaNode[] {
  const value = node[junctor];
  if (junctor === "not") return isNode(value) ? [value] : [];
  return Array.isArray(value) ? value.filter(isNode) : [];
}

/** `anyOf: [{type: integer}, {type: string}]`, the one place a junctor may set `type`. */
function isIntOrStringAnyOf(branches: SchemaNode[]): boolean {
  const types = branches.map((b) => Object.keys(b).length === 1 ? b.type : undefined);
  return types.length === 2 && types.includes("integer") && types.includes("string");
}

/** The problems of a CRD version's `openAPIV3Schema`; none means it is structural. */
export function structuralSchemaProblems(root: SchemaNode): string[] {
  const problems: string[] = [];
  walkCore(root, "openAPIV3Schema", problems, true);
  const metadata = isNode(root.properties) ? root.properties.metadata : undefined;
  if (isNode(metadata)) checkMetadata(metadata, "openAPIV3Schema.properties.metadata", problems);
  return problems;
}

function checkKeywords(node: SchemaNode, path: string, problems: string[]): void {
  for (const key of FORBIDDEN) {
    if (key in node) problems.push(`${path}: ${key} is not allowed in a CRD schema`);
  }
  if (node.uniqueItems === true) {
    problems.push(`${path}: uniqueItems: true is not allowed: use x-kubernetes-list-type: set`);
  }
  if (node.additionalProperties === false) {
    problems.push(
      `${path}: additionalProperties: false is not allowed: unknown fields are pruned already`,
    );
  }
  if ("additionalProperties" in node && "properties" in node) {
    problems.push(`${path}: additionalProperties and properties are mutually exclusive`);
  }
  if (typeof node.format === "string" && !FORMATS.has(node.format)) {
    problems.push(`${path}: format ${JSON.stringify(node.format)} is not one the API server knows`);
  }
  if ("type" in node && !TYPES.has(node.type as string)) {
    problems.push(`${path}: type ${JSON.stringify(node.type)} is not a type`);
  }
  if (Array.isArray(node.required) && isNode(node.properties)) {
    for (const name of node.required) {
      if (typeof name === "string" && !(name in node.properties)) {
        problems.push(`${path}: required names ${JSON.stringify(name)}, which is not a property`);
      }
    }
  }
}

/** Walks the core schema: `properties`, `additionalProperties`, `items`, and the junctors. */
function walkCore(node: SchemaNode, path: string, problems: string[], typed: boolean): void {
  checkKeywords(node, path, problems);
  const intOrString = node["x-kubernetes-int-or-string"] === true;
  const preserve = node["x-kubernetes-preserve-unknown-fields"] === true;
  if (typed && !intOrString && !preserve && (typeof node.type !== "string" || node.type === "")) {
    problems.push(`${path}: has no type (every field and item needs one)`);
  }
  if (intOrString && "type" in node) {
    problems.push(`${path}: x-kubernetes-int-or-string: true takes no type`);
  }
  if (isNode(node.properties)) {
    for (const [name, child] of Object.entries(node.properties)) {
      if (isNode(child)) walkCore(child, `${path}.properties.${name}`, problems, true);
      else problems.push(`${path}.properties.${name}: is not a schema`);
    }
  }
  if (isNode(node.additionalProperties)) {
    walkCore(node.additionalProperties, `${path}.additionalProperties`, problems, true);
  }
  if (node.items !== undefined) {
    if (isNode(node.items)) walkCore(node.items, `${path}.items`, problems, true);
    else problems.push(`${path}.items: must be one schema (not a list of schemas)`);
  }
  for (const junctor of JUNCTORS) {
    const branches = junctorBranches(node, junctor);
    const allowType = intOrString && junctor === "anyOf" && isIntOrStringAnyOf(branches);
    branches.forEach((branch, i) => {
      const at = junctor === "not" ? `${path}.not` : `${path}.${junctor}[${i}]`;
      walkJunctor(branch, node, at, problems, allowType, intOrString && junctor === "allOf");
    });
  }
}

/**
 * Walks a value validation inside a junctor: it may name only fields and items that the core
 * (`core`, the node at the same place outside the junctor) specifies, and may not set the
 * keywords of {@linkcode NOT_IN_JUNCTOR}.
 */
function walkJunctor(
  node: SchemaNode,
  core: SchemaNode | undefined,
  path: string,
  problems: string[],
  allowType: boolean,
  allowNestedIntOrString: boolean,
): void {
  checkKeywords(node, path, problems);
  for (const key of NOT_IN_JUNCTOR) {
    if (key === "type" && allowType) continue;
    if (key in node) problems.push(`${path}: ${key} is not allowed inside allOf/anyOf/oneOf/not`);
  }
  const coreProperties = core && isNode(core.properties) ? core.properties : undefined;
  if (isNode(node.properties)) {
    for (const [name, child] of Object.entries(node.properties)) {
      const outside = coreProperties?.[name];
      if (!isNode(outside)) {
        problems.push(`${path}.properties.${name}: is not specified outside the junctor`);
      }
      if (isNode(child)) {
        walkJunctor(
          child,
          isNode(outside) ? outside : undefined,
          `${path}.properties.${name}`,
          problems,
          false,
          false,
        );
      }
    }
  }
  if (node.items !== undefined) {
    const outside = core?.items;
    if (!isNode(outside)) problems.push(`${path}.items: is not specified outside the junctor`);
    if (isNode(node.items)) {
      walkJunctor(
        node.items,
        isNode(outside) ? outside : undefined,
        `${path}.items`,
        problems,
        false,
        false,
      );
    }
  }
  for (const junctor of JUNCTORS) {
    const branches = junctorBranches(node, junctor);
    const allowNestedType = allowNestedIntOrString && junctor === "anyOf" &&
      isIntOrStringAnyOf(branches);
    branches.forEach((branch, i) => {
      const at = junctor === "not" ? `${path}.not` : `${path}.${junctor}[${i}]`;
      walkJunctor(branch, core, at, problems, allowNestedType, false);
    });
  }
}

function checkMetadata(metadata: SchemaNode, path: string, problems: string[]): void {
  const allowed = new Set(["type", "properties", "description"]);
  for (const key of Object.keys(metadata)) {
    if (!allowed.has(key)) {
      problems.push(
        `${path}: ${key} is not allowed: metadata may restrict only name and generateName`,
      );
    }
  }
  if (metadata.type !== "object") problems.push(`${path}: type must be object`);
  if (isNode(metadata.properties)) {
    for (const name of Object.keys(metadata.properties)) {
      if (name !== "name" && name !== "generateName") {
        problems.push(
          `${path}.properties.${name}: metadata may restrict only name and generateName`,
        );
      }
    }
  }
}

/**
 * The problems of a whole CRD beyond its schema's structure: the name is `<plural>.<group>`,
 * exactly one version is the storage version, every served version has a structural schema,
 * printer columns read fields the schema has.
 */
export function crdProblems(crd: SchemaNode): string[] {
  const problems: string[] = [];
  const metadata = isNode(crd.metadata) ? crd.metadata : {};
  const spec = isNode(crd.spec) ? crd.spec : {};
  const names = isNode(spec.names) ? spec.names : {};
  const expected = `${names.plural}.${spec.group}`;
  if (metadata.name !== expected) {
    problems.push(`metadata.name: must be ${expected} (<plural>.<group>): got ${metadata.name}`);
  }
  if (spec.scope !== "Cluster" && spec.scope !== "Namespaced") {
    problems.push(`spec.scope: must be Cluster or Namespaced: got ${spec.scope}`);
  }
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isNode) : [];
  if (versions.filter((v) => v.storage === true).length !== 1) {
    problems.push("spec.versions: exactly one version must have storage: true");
  }
  for (const version of versions) {
    const where = `spec.versions[${version.name}]`;
    const schema = isNode(version.schema) ? version.schema.openAPIV3Schema : undefined;
    if (!isNode(schema)) {
      problems.push(`${where}.schema.openAPIV3Schema: is required in apiextensions.k8s.io/v1`);
      continue;
    }
    if (schema.type !== "object") problems.push(`${where}: the root type must be object`);
    problems.push(...structuralSchemaProblems(schema).map((p) => `${where}: ${p}`));
    const columns = Array.isArray(version.additionalPrinterColumns)
      ? version.additionalPrinterColumns.filter(isNode)
      : [];
    for (const column of columns) {
      const jsonPath = String(column.jsonPath ?? "");
      if (!jsonPath.startsWith(".metadata.") && !schemaHasPath(schema, jsonPath)) {
        problems.push(
          `${where}: printer column ${column.name} reads ${jsonPath}, not in the schema`,
        );
      }
    }
  }
  return problems;
}

/** Whether `.a.b.c` names a field the schema specifies. */
function schemaHasPath(schema: SchemaNode, jsonPath: string): boolean {
  let node: SchemaNode | undefined = schema;
  for (const part of jsonPath.split(".").slice(1)) {
    const properties: unknown = node?.properties;
    const next: unknown = isNode(properties) ? properties[part] : undefined;
    node = isNode(next) ? next : undefined;
  }
  return node !== undefined;
}

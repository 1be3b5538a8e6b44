/**
 * Validates custom resources against a CRD's `openAPIV3Schema` with ajv, the way the API server
 * treats a request from kubectl (which asks for strict field validation since 1.27): a field the
 * schema does not specify is an error rather than silently pruned. That is emulated by closing
 * every object of the core schema (`additionalProperties: false` wherever `properties` is given
 * and unknown fields are not preserved), which a CRD itself may not say. The OpenAPI keywords
 * ajv does not know are registered: `nullable` is ajv's own, the `x-kubernetes-*` extensions
 * carry no validation here (int-or-string is also spelled as `anyOf` in the schema), and the
 * `cidr` format is IPv4 or IPv6 address/prefix as Go's `net.ParseCIDR` reads it. CEL rules
 * (`x-kubernetes-validations`) are not evaluated: tern's CRDs have none.
 * @module
 */
import { Ajv, type ErrorObject } from "ajv";
import type { SchemaNode } from "./structural_schema.ts";

const EXTENSIONS = [
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
];

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Whether `text` is a CIDR as Go's `net.ParseCIDR` (the API server's `cidr` format) reads it. */
export function isGoCidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash < 0) return false;
  const address = text.slice(0, slash);
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return false;
  if (IPV4.test(address)) return Number(prefix) <= 32;
  if (!address.includes(":") || /[^0-9a-fA-F:.]/.test(address)) return false;
  try {
    new URL(`http://[${address}]/`);
  } catch {
    return false;
  }
  return Number(prefix) <= 128;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A copy of `node` with every object of the core schema closed to unknown fields. */
function closed(node: SchemaNode): SchemaNode {
  const out: SchemaNode = { ...node };
  if (
    typeof node.properties === "object" && node.properties !== null &&
    node["x-kubernetes-preserve-unknown-fields"] !== true
  ) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties as Record<string, SchemaNode>).map(([k, v]) => [k, closed(v)]),
    );
    out.additionalProperties = false;
  }
  if (typeof node.items === "object" && node.items !== null) {
    out.items = closed(node.items as SchemaNode);
  }
  if (typeof node.additionalProperties === "object" && node.additionalProperties !== null) {
    out.additionalProperties = closed(node.additionalProperties as SchemaNode);
  }
  return out;
}

/** One validation failure: where in the object, and what. */
export interface CrdViolation {
  path: string;
  message: string;
}

function describe(error: ErrorObject): CrdViolation {
  const path = error.instancePath === "" ? "(root)" : error.instancePath;
  if (error.keyword === "additionalProperties") {
    return {
      path,
      message: `unknown field ${JSON.stringify(error.params.additionalProperty)}`,
    };
  }
  return { path, message: error.message ?? error.keyword };
}

/**
 * A validator for the objects of `crd`'s version `version`: the violations of one object, none
 * when the API server (with strict field validation) would accept it.
 */
export function crdValidator(
  crd: SchemaNode,
  version: string,
): (object: unknown) => CrdViolation[] {
  const spec = crd.spec as {
    versions: { name: string; schema: { openAPIV3Schema: SchemaNode } }[];
  };
  const found = spec.versions.find((v) => v.name === version);
  if (!found) throw new Error(`The CRD has no version ${version}`);
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  for (const keyword of EXTENSIONS) ajv.addKeyword({ keyword });
  ajv.addFormat("cidr", isGoCidr);
  ajv.addFormat("date-time", (text: string) => RFC3339.test(text) && !isNaN(Date.parse(text)));
  const validate = ajv.compile(closed(found.schema.openAPIV3Schema));
  return (object) => validate(object) ? [] : (validate.errors ?? []).map(describe);
}

/**
 * Kubernetes-style YAML manifests → tern's resources, validated with zod. Pure: text in,
 * resources and errors out. A file may hold several documents; a document may be a `v1` `List`
 * (or `NodeList`, `PodList`, `NamespaceList`, as `kubectl get -o yaml` writes them). Understood:
 * `v1` Node, Pod and Namespace, and tern's own `tern.dev/v1alpha1` NodeEndpoints. Any other kind
 * with an `apiVersion`, a `kind` and a `metadata.name` (a NetworkPolicy, a SecurityGroupPolicy)
 * is kept aside whole as an "other" resource for the layer that reads it; the policy kinds
 * (NetworkPolicy, SecurityGroupPolicy, SecurityGroup) are validated first, by the policy layer's
 * own schemas, so an invalid policy is an error here like any other bad object. A bad object becomes a
 * {@linkcode ManifestError} naming the file, line, key path and value, and is skipped; its
 * identity, when readable, is listed in `rejected` so that a watcher can keep the last valid
 * version, as the API server keeps an object whose update it refused.
 * @module
 */
import * as z from "../lib/zod.ts";
import { type Document, LineCounter, parseAllDocuments } from "yaml";
import { formatCidr, parseCidr } from "../cidr.ts";
import { invalidPolicyFields } from "../policy/resources.ts";
import { SharedParts } from "../lib/shared_parts.ts";
import { describeIssue, formatPath, formatValue, valueAt } from "../zod_issues.ts";
import { ifnameProblem } from "../ifname.ts";
import { dnsLabel, isPortName, labelMap, subdomain } from "./object_names.ts";
import { otherKey, podKey } from "./resource_key.ts";
import type {
  Container,
  ManifestError,
  ManifestSubject,
  Namespace,
  Node,
  NodeEndpoints,
  Pod,
  PublishedEndpoint,
  Resource,
} from "./types.ts";

/** The API group and version of tern's own resources. */
export const TERN_API_VERSION = "tern.dev/v1alpha1";

/** The label the API server puts on every Namespace; NetworkPolicy selects namespaces by it. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** What a text or an object yielded. */
export interface ParsedManifests {
  /** Valid resources, in document order. */
  resources: Resource[];
  /** One entry per problem; the objects they belong to are not in `resources`. */
  errors: ManifestError[];
  /** Keys (see `resourceKey`) of objects that were invalid but could be identified. */
  rejected: string[];
  /** True when some document is not valid YAML: what was read cannot be trusted to be complete. */
  broken: boolean;
}

/** Where the object being parsed sits, for error messages. */
export interface ManifestPosition {
  /** The file (or API reference) named in errors. */
  file: string;
  /** 1-based index of the document in the file. */
  document?: number;
  /** The line of a key path inside the document, when the caller can tell. */
  lineOf?: (path: readonly PropertyKey[]) => number | undefined;
}

const LIST_ITEM_KIND: Record<string, string | undefined> = {
  List: undefined,
  NodeList: "Node",
  PodList: "Pod",
  NamespaceList: "Namespace",
};

/**
 * Parses the text of one manifest file (pure). Never throws: every problem is in `errors`.
 * `options.file` names the file in errors.
 */
export function parseManifests(text: string, options: { file: string }): ParsedManifests {
  const { file } = options;
  const json = parseJsonManifests(text, file);
  if (json !== undefined) return json;
  const out = emptyResult();
  const lineCounter = new LineCounter();
  let docs: Document.Parsed[];
  try {
    const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false });
    docs = Array.isArray(parsed) ? parsed : [];
  } catch (err) {
    out.broken = true;
    out.errors.push(yamlError(file, { message: String(err) }));
    return out;
  }
  docs.forEach((doc, index) => {
    const document = index + 1;
    if (doc.errors.length > 0) {
      out.broken = true;
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
        out.errors.push(yamlError(file, { document, line, message: e.message }));
      }
      return;
    }
    let input: unknown;
    try {
      input = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      out.broken = true;
      out.errors.push(yamlError(file, { document, message: String(err) }));
      return;
    }
    if (input === null || input === undefined) return; // an empty document, e.g. a trailing `---`
    const lineOf = (path: readonly PropertyKey[]): number | undefined => {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] };
        if (node && typeof node === "object" && node.range) {
          return lineCounter.linePos(node.range[0]).line;
        }
      }
      return undefined;
    };
    append(out, parseManifestObject(input, { file, document, lineOf }));
  });
  return out;
}

/**
 * A text that is one JSON object (what `kubectl get -o json` writes) is read with `JSON.parse`:
 * for a large object that is two orders of magnitude faster than the YAML parser (a 1.4 MB
 * 10k-rule SecurityGroup: ~6 ms against ~1 s). Undefined when the text is not JSON or holds a
 * problem, so that the YAML parser, which knows lines, reports it. A repeated key is taken as
 * JSON takes it (the last wins), where YAML refuses it.
 */
function parseJsonManifests(text: string, file: string): ParsedManifests | undefined {
  if (text[text.search(/\S/)] !== "{") return undefined;
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    return undefined;
  }
  const out = parseManifestObject(input, { file, document: 1 });
  return out.errors.length === 0 ? out : undefined;
}

/**
 * Parses one already-decoded object (a YAML document, a JSON body from an API server): a
 * resource, a list of them, or an error. Pure; never throws.
 */
export function parseManifestObject(input: unknown, position: ManifestPosition): ParsedManifests {
  return parseAt(input, position, [], false);
}

function parseAt(
  input: unknown,
  position: ManifestPosition,
  prefix: PropertyKey[],
  inList: boolean,
): ParsedManifests {
  const out = emptyResult();
  const fail = (
    path: PropertyKey[],
    value: unknown,
    text: string,
    about: { what?: string; subject?: ManifestSubject | undefined } = {},
  ) => {
    out.errors.push(manifestError(position, { path: [...prefix, ...path], value, text, ...about }));
  };
  if (!isRecord(input)) {
    fail([], input, "expected a mapping with apiVersion, kind and metadata");
    return out;
  }
  const { apiVersion, kind } = input;
  if (typeof apiVersion !== "string" || apiVersion === "") {
    fail(["apiVersion"], apiVersion, apiVersion === undefined ? "is required" : "expected a name");
  }
  if (typeof kind !== "string" || kind === "") {
    fail(["kind"], kind, kind === undefined ? "is required" : "expected a name");
  }
  if (typeof apiVersion !== "string" || typeof kind !== "string" || out.errors.length > 0) {
    return out;
  }

  if (apiVersion === "v1" && kind in LIST_ITEM_KIND) {
    if (inList) {
      fail([], kind, "lists inside lists are not supported", { what: kind });
      return out;
    }
    const items = input.items ?? [];
    if (!Array.isArray(items)) {
      fail(["items"], items, `expected array: got ${formatValue(items)}`, { what: kind });
      return out;
    }
    const itemKind = LIST_ITEM_KIND[kind];
    items.forEach((item, i) => {
      const filled = itemKind !== undefined && isRecord(item)
        ? { apiVersion: "v1", kind: itemKind, ...item }
        : item;
      append(out, parseAt(filled, position, [...prefix, "items", i], true));
    });
    return out;
  }

  const schema = SCHEMAS[`${apiVersion} ${kind}`];
  if (schema === undefined) {
    const other = otherSchema.safeParse(input);
    if (!other.success) {
      report(other.error.issues);
      return out;
    }
    // A policy kind is validated here, at the edge, so an invalid edit is reported with its
    // file and line and keeps the last valid version, as for every other kind.
    const invalid = invalidPolicyFields(other.data);
    if (invalid === undefined || invalid.length === 0) {
      out.resources.push(other.data);
      return out;
    }
    const about = describe(input);
    for (const field of invalid) fail(field.path, valueAt(input, field.path), field.text, about);
    const key = rawKey(input);
    if (key !== undefined) out.rejected.push(key);
    return out;
  }
  const result = schema.safeParse(input);
  if (result.success) out.resources.push(result.data);
  else report(result.error.issues);
  return out;

  function report(issues: readonly z.core.$ZodIssue[]) {
    const about = describe(input as Record<string, unknown>);
    for (const issue of issues.map((i) => describeIssue(i, input))) {
      fail(issue.path, issue.value, issue.text, about);
    }
    const key = rawKey(input as Record<string, unknown>);
    if (key !== undefined) out.rejected.push(key);
  }
}

function emptyResult(): ParsedManifests {
  return { resources: [], errors: [], rejected: [], broken: false };
}

function append(into: ParsedManifests, from: ParsedManifests): void {
  into.resources.push(...from.resources);
  into.errors.push(...from.errors);
  into.rejected.push(...from.rejected);
  into.broken ||= from.broken;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** `Node "node-2"`, `Pod "default/web"`, or the kind alone when there is no readable name. */
function describe(input: Record<string, unknown>): { what: string; subject?: ManifestSubject } {
  const kind = typeof input.kind === "string" ? input.kind : "object";
  const meta = isRecord(input.metadata) ? input.metadata : {};
  if (typeof meta.name !== "string") return { what: kind };
  const ns = typeof meta.namespace === "string"
    ? meta.namespace
    : kind === "Pod" && input.apiVersion === "v1"
    ? "default"
    : undefined;
  const subject = { kind, name: ns === undefined ? meta.name : `${ns}/${meta.name}` };
  return { what: `${kind} ${JSON.stringify(subject.name)}`, subject };
}

/** The key an object would have, read from the raw input, or undefined when it is not readable. */
function rawKey(input: Record<string, unknown>): string | undefined {
  const { apiVersion, kind } = input;
  const meta = isRecord(input.metadata) ? input.metadata : {};
  const name = meta.name;
  const namespace = typeof meta.namespace === "string" ? meta.namespace : undefined;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return undefined;
  if (typeof name !== "string" || name === "") return undefined;
  switch (`${apiVersion} ${kind}`) {
    case "v1 Node":
      return `Node/${name}`;
    case "v1 Pod":
      return podKey(namespace ?? "default", name);
    case "v1 Namespace":
      return `Namespace/${name}`;
    case `${TERN_API_VERSION} NodeEndpoints`:
      return `NodeEndpoints/${name}`;
    default:
      return otherKey({ apiVersion, kind, namespace, name });
  }
}

function manifestError(
  position: ManifestPosition,
  problem: {
    path: PropertyKey[];
    value: unknown;
    text: string;
    what?: string | undefined;
    subject?: ManifestSubject | undefined;
  },
): ManifestError {
  const key = formatPath(problem.path);
  const line = position.lineOf?.(problem.path);
  const where = line !== undefined
    ? `${position.file}:${line}`
    : position.document !== undefined && position.document > 1
    ? `${position.file} (document ${position.document})`
    : position.file;
  const error: ManifestError = {
    file: position.file,
    key,
    value: problem.value,
    message: `Invalid ${problem.what ?? "manifest"} in ${where}: ${
      key === "" ? "" : `${key}: `
    }${problem.text}`,
  };
  if (position.document !== undefined) error.document = position.document;
  if (line !== undefined) error.line = line;
  if (problem.subject !== undefined) error.subject = problem.subject;
  return error;
}

function yamlError(
  file: string,
  at: { document?: number; line?: number | undefined; message: string },
): ManifestError {
  const { document, line, message } = at;
  const where = line !== undefined ? `${file}:${line}` : file;
  const error: ManifestError = {
    file,
    key: "",
    value: undefined,
    message: `Invalid YAML in ${where}: ${message.split("\n")[0]}`,
  };
  if (document !== undefined) error.document = document;
  if (line !== undefined) error.line = line;
  return error;
}

// ---- value checks ----------------------------------------------------------------------------

/** The canonical text of an IPv6 address, or undefined when `text` is not one. */
function canonicalIpv6(text: string): string | undefined {
  if (!text.includes(":") || /[^0-9a-fA-F:.]/.test(text)) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** The canonical text of an IPv4 or IPv6 address, or undefined. */
function canonicalIp(text: string): string | undefined {
  try {
    parseCidr(`${text}/32`);
    return text;
  } catch {
    return canonicalIpv6(text);
  }
}

const stringMap = z.record(z.string(), z.string());

/** The CNI spec's container IDs (and network names). */
const CNI_ID = /^[A-Za-z0-9][A-Za-z0-9_.\-]*$/;

const ipAddress = z.string().transform((value, ctx) => {
  const ip = canonicalIp(value);
  if (ip === undefined) {
    ctx.addIssue({ code: "custom", message: `${formatValue(value)} is not an IP address` });
    return z.NEVER;
  }
  return ip;
});

const ipv4Address = z.string().transform((value, ctx) => {
  try {
    parseCidr(`${value}/32`);
    return value;
  } catch {
    ctx.addIssue({ code: "custom", message: `${formatValue(value)} is not an IPv4 address` });
    return z.NEVER;
  }
});

/** An IPv4 CIDR without host bits (with a hint when they are set), or an IPv6 CIDR. */
const podCidr = z.string().transform((value, ctx) => {
  const slash = value.indexOf("/");
  const v6 = slash > 0 ? canonicalIpv6(value.slice(0, slash)) : undefined;
  if (v6 !== undefined) {
    const prefix = value.slice(slash + 1);
    if (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128) return `${v6}/${Number(prefix)}`;
  } else {
    try {
      return formatCidr(parseCidr(value));
    } catch {
      try {
        const loose = formatCidr(parseCidr(value, { strict: false }));
        ctx.addIssue({
          code: "custom",
          message: `${formatValue(value)} has host bits set, did you mean ${loose}?`,
        });
        return z.NEVER;
      } catch {
        // Not even loosely a CIDR: fall through to the generic message.
      }
    }
  }
  ctx.addIssue({ code: "custom", message: `${formatValue(value)} is not a CIDR (address/prefix)` });
  return z.NEVER;
});

const metadata = <N extends z.ZodType<string>>(name: N) =>
  z.looseObject({
    name,
    uid: z.string().optional(),
    labels: labelMap.nullish(),
  });

// ---- kinds -----------------------------------------------------------------------------------

const nodeSchema = z.looseObject({
  metadata: metadata(subdomain),
  spec: z.looseObject({
    podCIDR: podCidr.optional(),
    podCIDRs: z.array(podCidr).nullish(),
  }).nullish(),
  status: z.looseObject({
    addresses: z.array(z.looseObject({ type: z.string().min(1), address: z.string().min(1) }))
      .nullish(),
  }).nullish(),
}).superRefine((value, ctx) => {
  const spec = value.spec;
  const list = spec?.podCIDRs ?? [];
  if (spec?.podCIDR !== undefined && list.length > 0 && list[0] !== spec.podCIDR) {
    ctx.addIssue({
      code: "custom",
      path: ["spec", "podCIDRs", 0],
      message: `${formatValue(list[0])} must equal spec.podCIDR ${formatValue(spec.podCIDR)}`,
    });
  }
  list.forEach((cidr, i) => {
    if (list.indexOf(cidr) !== i) {
      ctx.addIssue({
        code: "custom",
        path: ["spec", "podCIDRs", i],
        message: `${formatValue(cidr)} is listed twice`,
      });
    }
  });
  (value.status?.addresses ?? []).forEach((a, i) => {
    if (a.type.endsWith("IP") && canonicalIp(a.address) === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["status", "addresses", i, "address"],
        message: `${formatValue(a.address)} is not an IP address (type ${a.type})`,
      });
    }
  });
}).transform((value): Node => {
  const spec = value.spec;
  const podCIDRs = spec?.podCIDRs && spec.podCIDRs.length > 0
    ? spec.podCIDRs
    : spec?.podCIDR !== undefined
    ? [spec.podCIDR]
    : [];
  const node: Node = {
    kind: "Node",
    name: value.metadata.name,
    labels: { ...value.metadata.labels },
    addresses: (value.status?.addresses ?? []).map((a) => ({
      type: a.type,
      address: a.type.endsWith("IP") ? canonicalIp(a.address)! : a.address,
    })),
    podCIDRs,
  };
  if (value.metadata.uid !== undefined) node.uid = value.metadata.uid;
  return node;
});

const containerPort = z.looseObject({
  name: z.string().superRefine((value, ctx) => {
    if (!isPortName(value)) {
      ctx.addIssue({
        code: "custom",
        message: `${
          formatValue(value)
        } is not a valid port name: at most 15 lowercase letters, digits and "-", with a letter`,
      });
    }
  }).optional(),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
});

const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: subdomain,
    namespace: dnsLabel.default("default"),
    uid: z.string().optional(),
    labels: labelMap.nullish(),
    annotations: stringMap.nullish(),
  }),
  spec: z.looseObject({
    nodeName: subdomain.optional(),
    serviceAccountName: subdomain.optional(),
    serviceAccount: subdomain.optional(),
    hostNetwork: z.boolean().default(false),
    containers: z.array(z.looseObject({
      name: z.string().min(1),
      ports: z.array(containerPort).nullish(),
    })).nullish(),
  }).prefault({}),
  status: z.looseObject({
    phase: z.string().optional(),
    podIP: ipAddress.optional(),
    podIPs: z.array(z.looseObject({ ip: ipAddress })).nullish(),
  }).nullish(),
}).transform((value): Pod => {
  const { metadata: meta, spec, status } = value;
  const podIPs = status?.podIPs && status.podIPs.length > 0
    ? status.podIPs.map((p) => p.ip)
    : status?.podIP !== undefined
    ? [status.podIP]
    : [];
  const containers: Container[] = (spec.containers ?? []).map((c) => ({
    name: c.name,
    ports: (c.ports ?? []).map((p) => ({
      ...(p.name !== undefined ? { name: p.name } : {}),
      containerPort: p.containerPort,
      protocol: p.protocol,
    })),
  }));
  const pod: Pod = {
    kind: "Pod",
    namespace: meta.namespace,
    name: meta.name,
    labels: { ...meta.labels },
    annotations: { ...meta.annotations },
    serviceAccountName: spec.serviceAccountName ?? spec.serviceAccount ?? "default",
    hostNetwork: spec.hostNetwork,
    podIPs,
    containers,
  };
  if (meta.uid !== undefined) pod.uid = meta.uid;
  if (spec.nodeName !== undefined) pod.nodeName = spec.nodeName;
  if (status?.phase !== undefined) pod.phase = status.phase;
  return pod;
});

const namespaceSchema = z.looseObject({ metadata: metadata(dnsLabel) }).transform(
  (value): Namespace => {
    const ns: Namespace = {
      kind: "Namespace",
      name: value.metadata.name,
      labels: { ...value.metadata.labels, [NAMESPACE_NAME_LABEL]: value.metadata.name },
    };
    if (value.metadata.uid !== undefined) ns.uid = value.metadata.uid;
    return ns;
  },
);

const nodeEndpointsSchema = z.looseObject({
  metadata: z.looseObject({ name: subdomain }),
  spec: z.looseObject({
    endpoints: z.array(z.strictObject({
      podNamespace: dnsLabel.optional(),
      podName: subdomain.optional(),
      containerID: z.string().regex(
        CNI_ID,
        "must start with a letter or digit, then letters, digits, '_', '.' or '-'",
      ),
      ifname: z.string().min(1).superRefine((value, ctx) => {
        const problem = ifnameProblem(value);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
      }),
      ip: ipv4Address,
    })).nullish(),
  }).prefault({}),
}).transform((value): NodeEndpoints => ({
  kind: "NodeEndpoints",
  node: value.metadata.name,
  endpoints: (value.spec.endpoints ?? []).map((e) => {
    const ep: PublishedEndpoint = { containerID: e.containerID, ifname: e.ifname, ip: e.ip };
    if (e.podNamespace !== undefined) ep.podNamespace = e.podNamespace;
    if (e.podName !== undefined) ep.podName = e.podName;
    return ep;
  }),
}));

const otherSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().min(1).optional() }),
}).transform((value) => {
  const other: Resource & { kind: "Other" } = {
    kind: "Other",
    apiVersion: value.apiVersion,
    resourceKind: value.kind,
    name: value.metadata.name,
    raw: shareRawParts(value as Record<string, unknown>),
  };
  if (value.metadata.namespace !== undefined) other.namespace = value.metadata.namespace;
  return other;
});

/**
 * The parts other objects repeat (a policy's `spec` is mostly ports, selectors and rules that
 * other policies hold too: ~1.6 KB less a NetworkPolicy at kube-scale) as one frozen copy shared by all;
 * the object and its metadata stay its own (name, namespace, uid), with shared labels and
 * annotations. `value` is the schema's fresh copy (its metadata too), changed in place.
 */
function shareRawParts(value: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(value)) {
    if (key !== "metadata") value[key] = rawParts.share(value[key]);
  }
  const metadata = value.metadata as Record<string, unknown>;
  if (metadata.labels !== undefined) metadata.labels = rawParts.share(metadata.labels);
  if (metadata.annotations !== undefined) {
    metadata.annotations = rawParts.share(metadata.annotations);
  }
  return value;
}

const rawParts = new SharedParts();

const SCHEMAS: Record<string, z.ZodType<Resource, unknown> | undefined> = {
  "v1 Node": nodeSchema,
  "v1 Pod": podSchema,
  "v1 Namespace": namespaceSchema,
  [`${TERN_API_VERSION} NodeEndpoints`]: nodeEndpointsSchema,
};

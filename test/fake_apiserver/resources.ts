/**
 * The resource types the fake API server knows: the built-in kinds tern reads (core `v1` nodes,
 * pods, namespaces, serviceaccounts, events; `networking.k8s.io/v1` networkpolicies) and the custom resources that
 * exist only while their CustomResourceDefinition is installed (the EKS SecurityGroupPolicy, tern's
 * SecurityGroup, IPPool and IPAMBlock). A CRD manifest (`apiextensions.k8s.io/v1`) can also be
 * turned into a type with {@linkcode resourceTypeFromCrd}, so the CRDs tern ships install as is.
 * @module
 */

/** One resource type as the server serves it. */
export interface ResourceType {
  /** API group, `""` for the core group. */
  group: string;
  version: string;
  /** The URL segment: `pods`. */
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  /** Whether `/status` is a subresource (then the main resource ignores status changes). */
  statusSubresource: boolean;
  /** Whether the server keeps metadata.generation (bumped on spec changes). */
  generation: boolean;
  /** DELETE answers with the object (true) or with a Success Status (false). */
  returnDeletedObject: boolean;
  /** PUT without metadata.resourceVersion is allowed (false for custom resources). */
  allowUnconditionalUpdate: boolean;
  /** Field selector labels beyond metadata.name and metadata.namespace. */
  fieldLabels: string[];
  /** True for custom resources (installed by a CRD). */
  custom: boolean;
}

/** `v1` or `networking.k8s.io/v1`. */
export function apiVersionOf(rt: ResourceType): string {
  return rt.group === "" ? rt.version : `${rt.group}/${rt.version}`;
}

/** The CRD-style name `plural.group` (just `plural` for the core group): the registry key. */
export function resourceName(rt: ResourceType): string {
  return rt.group === "" ? rt.plural : `${rt.plural}.${rt.group}`;
}

function builtin(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<ResourceType> = {},
): ResourceType {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced,
    shortNames: [],
    statusSubresource: false,
    generation: false,
    returnDeletedObject: false,
    allowUnconditionalUpdate: true,
    fieldLabels: [],
    custom: false,
    ...extra,
  };
}

/**
 * The built-in types, with the field selector labels the real server accepts for each (pods:
 * pkg/registry/core/pod's field set; nodes: spec.unschedulable; namespaces: status.phase).
 */
export const BUILTIN_TYPES: readonly ResourceType[] = [
  builtin("", "v1", "namespaces", "Namespace", false, {
    shortNames: ["ns"],
    statusSubresource: true,
    returnDeletedObject: true,
    fieldLabels: ["status.phase"],
  }),
  builtin("", "v1", "nodes", "Node", false, {
    shortNames: ["no"],
    statusSubresource: true,
    fieldLabels: ["spec.unschedulable"],
  }),
  builtin("", "v1", "pods", "Pod", true, {
    shortNames: ["po"],
    statusSubresource: true,
    generation: true,
    returnDeletedObject: true,
    fieldLabels: [
      "spec.nodeName",
      "spec.restartPolicy",
      "spec.schedulerName",
      "spec.serviceAccountName",
      "spec.hostNetwork",
      "status.phase",
      "status.podIP",
      "status.nominatedNodeName",
    ],
  }),
  builtin("", "v1", "serviceaccounts", "ServiceAccount", true, {
    shortNames: ["sa"],
    returnDeletedObject: true,
  }),
  builtin("", "v1", "events", "Event", true, {
    shortNames: ["ev"],
    fieldLabels: [
      "involvedObject.kind",
      "involvedObject.namespace",
      "involvedObject.name",
      "involvedObject.uid",
      "involvedObject.apiVersion",
      "involvedObject.resourceVersion",
      "involvedObject.fieldPath",
      "reason",
      "reportingComponent",
      "source",
      "type",
    ],
  }),
  builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, {
    shortNames: ["netpol"],
    generation: true,
  }),
];

function custom(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[] = [],
): ResourceType {
  // Custom resources' store does not set ReturnDeletedObject: DELETE answers a Success Status.
  return builtin(group, version, plural, kind, namespaced, {
    shortNames,
    generation: true,
    returnDeletedObject: false,
    allowUnconditionalUpdate: false,
    custom: true,
  });
}

/**
 * Custom resources the server knows by name; each is served only while installed
 * (`installCrd("securitygroups.tern.dev")`).
 */
export const KNOWN_CRDS: readonly ResourceType[] = [
  custom("vpcresources.k8s.aws", "v1beta1", "securitygrouppolicies", "SecurityGroupPolicy", true, [
    "sgp",
  ]),
  custom("tern.dev", "v1alpha1", "securitygroups", "SecurityGroup", false, ["sg"]),
  custom("tern.dev", "v1alpha1", "ippools", "IPPool", false),
  custom("tern.dev", "v1alpha1", "ipamblocks", "IPAMBlock", false),
];

/** Thrown for a CRD manifest the server cannot serve. */
export class CrdError extends Error {
  /** `message` says which field is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "CrdError";
  }
}

/**
 * The type an `apiextensions.k8s.io/v1` CustomResourceDefinition defines: its storage version (or
 * the first served one) is the version served; `subresources.status` turns on `/status`.
 */
export function resourceTypeFromCrd(crd: unknown): ResourceType {
  const o = crd as {
    kind?: string;
    metadata?: { name?: string };
    spec?: {
      group?: string;
      scope?: string;
      names?: {
        plural?: string;
        singular?: string;
        kind?: string;
        listKind?: string;
        shortNames?: string[];
      };
      versions?: {
        name?: string;
        served?: boolean;
        storage?: boolean;
        subresources?: { status?: unknown };
      }[];
    };
  };
  if (o?.kind !== "CustomResourceDefinition") {
    throw new CrdError(
      `Cannot install a CRD: kind must be CustomResourceDefinition: got ${o?.kind}`,
    );
  }
  const spec = o.spec ?? {};
  const names = spec.names ?? {};
  const versions = spec.versions ?? [];
  const v = versions.find((x) => x.storage) ?? versions.find((x) => x.served);
  if (!spec.group || !names.plural || !names.kind || !v?.name) {
    throw new CrdError(
      `Cannot install CRD ${
        o.metadata?.name ?? "(unnamed)"
      }: spec.group, spec.names.plural, spec.names.kind and a served version are required`,
    );
  }
  const rt = custom(
    spec.group,
    v.name,
    names.plural,
    names.kind,
    spec.scope !== "Cluster",
    names.shortNames ?? [],
  );
  rt.singular = names.singular ?? names.kind.toLowerCase();
  rt.listKind = names.listKind ?? `${names.kind}List`;
  rt.statusSubresource = v.subresources?.status !== undefined;
  return rt;
}

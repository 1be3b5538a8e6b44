/**
 * The discovery documents ("API discovery" in the API concepts page, the unaggregated form):
 * `/api` (APIVersions), `/apis` (APIGroupList), `/apis/{group}` (APIGroup) and
 * `/api/v1`, `/apis/{group}/{version}` (APIResourceList). A custom resource appears only while
 * its CRD is installed, and its group version answers 404 once none of its resources is served,
 * which is how a client learns whether a CRD is installed.
 * @module
 */

import { type ResourceType } from "./resources.ts";

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

/** `/api`. */
export function apiVersions(serverAddress: string): unknown {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function groupVersions(types: ResourceType[]): Map<string, Set<string>> {
  const groups = new Map<string, Set<string>>();
  for (const rt of types) {
    if (rt.group === "") continue;
    let vs = groups.get(rt.group);
    if (vs === undefined) groups.set(rt.group, vs = new Set());
    vs.add(rt.version);
  }
  return groups;
}

function group(name: string, versions: Set<string>): unknown {
  const vs = [...versions].sort().map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

/** `/apis`. */
export function apiGroupList(types: ResourceType[]): unknown {
  const groups = groupVersions(types);
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groups.keys()].sort().map((g) => group(g, groups.get(g)!)),
  };
}

/** `/apis/{group}`, or undefined when no resource of the group is served. */
export function apiGroup(types: ResourceType[], name: string): unknown | undefined {
  const vs = groupVersions(types).get(name);
  if (vs === undefined) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...(group(name, vs) as object) };
}

/** `/api/v1` or `/apis/{group}/{version}`, or undefined when nothing is served there. */
export function apiResourceList(
  types: ResourceType[],
  groupName: string,
  version: string,
): unknown | undefined {
  const here = types.filter((rt) => rt.group === groupName && rt.version === version);
  if (here.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const rt of here.sort((a, b) => a.plural.localeCompare(b.plural))) {
    const entry: Record<string, unknown> = {
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: VERBS,
    };
    if (rt.shortNames.length > 0) entry.shortNames = rt.shortNames;
    resources.push(entry);
    if (rt.statusSubresource) {
      resources.push({
        name: `${rt.plural}/status`,
        singularName: "",
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: ["get", "patch", "update"],
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: groupName === "" ? version : `${groupName}/${version}`,
    resources,
  };
}

/**
 * The three PATCH formats the API server accepts ("API conventions: Patch operations"): JSON
 * merge patch (RFC 7386: objects merge, `null` deletes, everything else replaces), strategic
 * merge patch (a merge patch whose lists of known kinds merge by key, e.g. containers by `name`,
 * conditions by `type`, and honour `$patch: replace|delete`), and JSON patch (RFC 6902). Server
 * side apply is not implemented.
 * @module
 */

import { ApiError, badRequest } from "./status.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** RFC 7386 merge patch: returns a new value; `target` is not modified. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * The merge keys of the lists tern's kinds use, by field name (from the Kubernetes types'
 * `patchMergeKey` tags): a list under one of these names merges element by element.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  volumes: "name",
  env: "name",
  ports: "containerPort",
  volumeMounts: "mountPath",
  conditions: "type",
  podIPs: "ip",
  hostIPs: "ip",
  addresses: "type",
  ownerReferences: "uid",
  tolerations: "key",
  imagePullSecrets: "name",
  containerStatuses: "name",
  initContainerStatuses: "name",
  taints: "key",
};

/** Strategic merge patch for the fields tern and its tests use (see {@linkcode MERGE_KEYS}). */
export function strategicMergePatch(target: unknown, patch: unknown, field = ""): unknown {
  if (Array.isArray(patch)) return mergeList(target, patch, field);
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === "replace") {
    const rest = { ...patch };
    delete rest.$patch;
    return structuredClone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    if (v === null) delete out[k];
    else {
      const merged = strategicMergePatch(out[k], v, k);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
  }
  return out;
}

function mergeList(target: unknown, patch: Json[], field: string): unknown {
  const key = MERGE_KEYS[field];
  if (key === undefined || !Array.isArray(target)) {
    return structuredClone(patch.filter((p) => !(isObject(p) && p.$patch !== undefined)));
  }
  if (patch.some((p) => isObject(p) && p.$patch === "replace")) {
    return structuredClone(patch.filter((p) => !(isObject(p) && p.$patch === "replace")));
  }
  const out: unknown[] = [...target];
  for (const item of patch) {
    if (!isObject(item) || item[key] === undefined) {
      out.push(structuredClone(item));
      continue;
    }
    const at = out.findIndex((t) => isObject(t) && t[key] === item[key]);
    if (item.$patch === "delete") {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = strategicMergePatch(out[at], item, "");
    else out.push(strategicMergePatch(undefined, item, ""));
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw badRequest(`invalid JSON pointer: "${path}" must start with /`);
  return path.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: unknown, segs: string[], path: string): unknown {
  let cur = doc;
  for (const s of segs.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(s)] : isObject(cur) ? cur[s] : undefined;
    if (cur === undefined) {
      throw badRequest(`the server rejected our request: path ${path} does not exist`);
    }
  }
  return cur;
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const s of pointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(s)] : isObject(cur) ? cur[s] : undefined;
    if (cur === undefined) {
      throw badRequest(`the server rejected our request: path ${path} does not exist`);
    }
  }
  return cur;
}

function remove(doc: unknown, path: string): unknown {
  const segs = pointer(path);
  const parent = parentOf(doc, segs, path);
  const last = segs[segs.length - 1]!;
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!(i >= 0 && i < parent.length)) {
      throw badRequest(`the server rejected our request: path ${path} does not exist`);
    }
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !Object.hasOwn(parent, last)) {
    throw badRequest(`the server rejected our request: path ${path} does not exist`);
  }
  const v = parent[last];
  delete parent[last];
  return v;
}

function add(doc: unknown, path: string, value: unknown): unknown {
  const segs = pointer(path);
  if (segs.length === 0) return structuredClone(value);
  const parent = parentOf(doc, segs, path);
  const last = segs[segs.length - 1]!;
  if (Array.isArray(parent)) {
    const i = last === "-" ? parent.length : Number(last);
    if (!(i >= 0 && i <= parent.length)) {
      throw badRequest(`the server rejected our request: index ${last} out of range in ${path}`);
    }
    parent.splice(i, 0, structuredClone(value));
  } else if (isObject(parent)) parent[last] = structuredClone(value) as Json;
  else throw badRequest(`the server rejected our request: path ${path} does not exist`);
  return doc;
}

/** RFC 6902 JSON patch: returns the patched document (a copy). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest("json patch must be an array of operations");
  let doc = structuredClone(target);
  for (const o of ops as JsonPatchOp[]) {
    switch (o.op) {
      case "add":
        doc = add(doc, o.path, o.value);
        break;
      case "remove":
        remove(doc, o.path);
        break;
      case "replace":
        remove(doc, o.path);
        doc = add(doc, o.path, o.value);
        break;
      case "move": {
        const v = remove(doc, o.from ?? "");
        doc = add(doc, o.path, v);
        break;
      }
      case "copy":
        doc = add(doc, o.path, getAt(doc, o.from ?? ""));
        break;
      case "test":
        if (JSON.stringify(getAt(doc, o.path)) !== JSON.stringify(o.value)) {
          throw new ApiError(
            422,
            "Invalid",
            `the server rejected our request: testing value ${o.path} failed`,
          );
        }
        break;
      default:
        throw badRequest(`unexpected json patch operation: ${o.op}`);
    }
  }
  return doc;
}

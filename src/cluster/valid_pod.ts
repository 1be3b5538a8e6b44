/**
 * The fast path of a trimmed API Pod: the same checks as the manifest schema of `v1` Pod
 * (`manifest.ts`), written by hand, for the pod that passes them all, which is nearly every pod
 * an API server sends. At 150 000 pods the zod schema was a third of the initial list's CPU
 * (~0.04 ms a pod: its issue tracking, defaults and copies), this is a tenth of that. A pod that
 * fails any check, or that the fast path does not handle (an IPv6 address, which the schema
 * writes in canonical form), is not judged here: the caller gives it to the schema, which finds
 * the problem and words it for people, so one set of error messages stays. `valid_pod_test.ts`
 * checks the two agree on every field of generated and broken pods. Pure.
 * @module
 */
import { isIp } from "../cidr.ts";
import { isDnsLabel, isDnsSubdomain, isPortName } from "./object_names.ts";
import type { Container, ContainerPort, Pod } from "./types.ts";

const PROTOCOLS = new Set(["TCP", "UDP", "SCTP"]);

/**
 * The Pod that `parseManifestObject` would make of `input` (`apiVersion: v1`, `kind: Pod`,
 * trimmed or not), or undefined when it would report a problem or this path cannot tell. The
 * Pod takes `input`'s labels and annotations objects as they are: `input` is the caller's to give.
 */
export function validPod(input: Record<string, unknown>): Pod | undefined {
  if (input.apiVersion !== "v1" || input.kind !== "Pod") return undefined;
  const meta = input.metadata;
  if (!isObject(meta)) return undefined;
  const { name, uid } = meta;
  const namespace = meta.namespace === undefined ? "default" : meta.namespace;
  if (typeof name !== "string" || !isDnsSubdomain(name)) return undefined;
  if (typeof namespace !== "string" || !isDnsLabel(namespace)) return undefined;
  if (uid !== undefined && typeof uid !== "string") return undefined;
  const labels = stringMap(meta.labels);
  const annotations = stringMap(meta.annotations);
  if (labels === undefined || annotations === undefined) return undefined;

  const spec = input.spec === undefined ? {} : input.spec;
  if (!isObject(spec)) return undefined;
  const { nodeName, serviceAccountName, serviceAccount } = spec;
  const hostNetwork = spec.hostNetwork === undefined ? false : spec.hostNetwork;
  if (nodeName !== undefined && (typeof nodeName !== "string" || !isDnsSubdomain(nodeName))) {
    return undefined;
  }
  if (!optionalName(serviceAccountName) || !optionalName(serviceAccount)) return undefined;
  if (typeof hostNetwork !== "boolean") return undefined;
  const containers = containerList(spec.containers);
  if (containers === undefined) return undefined;

  const status = input.status ?? {};
  if (!isObject(status)) return undefined;
  const { phase, podIP } = status;
  if (phase !== undefined && typeof phase !== "string") return undefined;
  if (podIP !== undefined && (typeof podIP !== "string" || !isIp(podIP))) return undefined;
  const listed = addressList(status.podIPs);
  if (listed === undefined) return undefined;
  const podIPs = listed.length > 0 ? listed : podIP !== undefined ? [podIP] : [];

  const account = (serviceAccountName ?? serviceAccount ?? "default") as string;
  if (uid === undefined && nodeName !== undefined && phase !== undefined) {
    // The usual pod from the API server (its uid trimmed away), in one literal: properties added
    // after it would go to a separate array of their own, ~24 bytes a pod for its whole life.
    return {
      kind: "Pod",
      namespace,
      name,
      labels,
      annotations,
      serviceAccountName: account,
      hostNetwork,
      podIPs,
      containers,
      nodeName,
      phase,
    };
  }
  const pod: Pod = {
    kind: "Pod",
    namespace,
    name,
    labels,
    annotations,
    serviceAccountName: account,
    hostNetwork,
    podIPs,
    containers,
  };
  if (uid !== undefined) pod.uid = uid;
  if (nodeName !== undefined) pod.nodeName = nodeName;
  if (phase !== undefined) pod.phase = phase;
  return pod;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * A nullish or all-string map: the object itself (as `JSON.parse` made it, it holds its
 * properties in the object: a copy built key by key costs ~25 bytes more, kept for the pod's
 * life), or undefined when it is neither.
 */
function stringMap(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {};
  if (!isObject(value) || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  for (const key in value) {
    if (Object.hasOwn(value, key) && typeof value[key] !== "string") return undefined;
  }
  return value as Record<string, string>;
}

function optionalName(value: unknown): boolean {
  return value === undefined || (typeof value === "string" && value.length > 0);
}

// Arrays are made at their final length: one grown by push() keeps spare room (16 slots for
// one element), ~400 bytes a pod over its containers, ports and addresses, kept for its life.

function containerList(value: unknown): Container[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  const out = new Array<Container>(value.length);
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (!isObject(c) || typeof c.name !== "string" || c.name.length === 0) return undefined;
    let ports: ContainerPort[] = [];
    if (c.ports !== undefined && c.ports !== null) {
      if (!Array.isArray(c.ports)) return undefined;
      ports = new Array<ContainerPort>(c.ports.length);
      for (let j = 0; j < c.ports.length; j++) {
        const port = containerPort(c.ports[j]);
        if (port === undefined) return undefined;
        ports[j] = port;
      }
    }
    out[i] = { name: c.name, ports };
  }
  return out;
}

function containerPort(value: unknown): ContainerPort | undefined {
  if (!isObject(value)) return undefined;
  const { name, containerPort: number } = value;
  const protocol = value.protocol === undefined ? "TCP" : value.protocol;
  if (name !== undefined && (typeof name !== "string" || !isPortName(name))) return undefined;
  if (typeof number !== "number" || !Number.isInteger(number) || number < 1 || number > 65535) {
    return undefined;
  }
  if (typeof protocol !== "string" || !PROTOCOLS.has(protocol)) return undefined;
  const port = { containerPort: number, protocol } as ContainerPort;
  return name !== undefined ? { name, ...port } : port;
}

/** The IPv4 addresses of a nullish `podIPs`; undefined for anything else (IPv6 included). */
function addressList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  const out = new Array<string>(value.length);
  for (let i = 0; i < value.length; i++) {
    const entry = value[i];
    if (!isObject(entry) || typeof entry.ip !== "string" || !isIp(entry.ip)) return undefined;
    out[i] = entry.ip;
  }
  return out;
}

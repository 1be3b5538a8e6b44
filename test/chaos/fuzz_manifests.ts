/**
 * Scenario 9 of the chaos battery, the cluster's objects: seeded random manifests as the `files`
 * source reads them (YAML or JSON text, several documents, `v1` Lists, raw text damage) and as
 * the `kubernetes` source receives them (decoded objects), made by mutating valid Nodes, Pods,
 * Namespaces, NodeEndpoints and NetworkPolicies. Judged two ways: a mutation known to make an
 * object invalid (by the Kubernetes API's rules and docs/cluster.md) must keep it out of the
 * resources, and every resource that comes out must hold the invariants the routing and policy
 * layers rely on ({@linkcode resourceProblems}). Pure.
 * @module
 */
import { stringify } from "yaml";
import { parseCidr } from "../../src/cidr.ts";
import { ifnameProblem } from "../../src/ifname.ts";
import type { Resource } from "../../src/cluster/types.ts";
import type { SeededRandom } from "./seeded_random.ts";

/** One generated object, its text, and whether a mutation is known to make it invalid. */
export interface ManifestInput {
  object: Record<string, unknown>;
  text: string;
  mustReject: boolean;
  mutations: string[];
}

interface Mutation {
  path: (string | number)[];
  value: unknown;
  invalid?: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CNI_ID = /^[A-Za-z0-9][A-Za-z0-9_.\-]*$/;

const NAMES_BAD = ["", "Web", "a_b", "-a", "a-", "a b", "x".repeat(254), "../x", "a/b", "é"];
const LABELS_BAD = ["a b", "x".repeat(64), "-a", "é"];
const ANY: readonly unknown[] = [null, true, 0, -1, 1.5, "", "x", [], {}, ["a"], { a: 1 }];

function base(kind: string): Record<string, unknown> {
  switch (kind) {
    case "Node":
      return {
        apiVersion: "v1",
        kind,
        metadata: { name: "node-1", labels: { zone: "a" } },
        spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"] },
        status: { addresses: [{ type: "InternalIP", address: "10.98.0.1" }] },
      };
    case "Pod":
      return {
        apiVersion: "v1",
        kind,
        metadata: { name: "web-0", namespace: "default", labels: { app: "web" } },
        spec: {
          nodeName: "node-1",
          containers: [{ name: "c", ports: [{ name: "http", containerPort: 80 }] }],
        },
        status: { phase: "Running", podIP: "10.244.1.7", podIPs: [{ ip: "10.244.1.7" }] },
      };
    case "Namespace":
      return { apiVersion: "v1", kind, metadata: { name: "team-a", labels: { team: "a" } } };
    case "NodeEndpoints":
      return {
        apiVersion: "tern.dev/v1alpha1",
        kind,
        metadata: { name: "node-1" },
        spec: {
          endpoints: [{
            podNamespace: "default",
            podName: "web-0",
            containerID: "c1",
            ifname: "eth0",
            ip: "10.244.1.7",
          }],
        },
      };
    default:
      return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny", namespace: "default" },
        spec: { podSelector: {}, policyTypes: ["Ingress"] },
      };
  }
}

function typedMutation(r: SeededRandom, kind: string): Mutation | undefined {
  const bad = r.chance(0.5);
  const name = bad ? r.pick(NAMES_BAD) : r.pick(["a", "web-1", "a.b"]);
  switch (kind) {
    case "Node":
      return r.pick<Mutation>([
        { path: ["metadata", "name"], value: name, invalid: bad },
        {
          path: ["spec", "podCIDRs", 0],
          value: bad ? r.pick(["10.244.1.1/24", "10.244.1.0/33", "x", ""]) : "10.244.1.0/24",
          invalid: bad,
        },
        {
          path: ["status", "addresses", 0, "address"],
          value: bad ? r.pick(["10.98.0.256", "x", "10.98.0.1/24"]) : "fd00::1",
          invalid: bad,
        },
        {
          path: ["metadata", "labels", "zone"],
          value: bad ? r.pick(LABELS_BAD) : "b",
          invalid: bad,
        },
      ]);
    case "Pod":
      return r.pick<Mutation>([
        { path: ["metadata", "name"], value: name, invalid: bad },
        {
          path: ["metadata", "namespace"],
          value: bad ? r.pick([...NAMES_BAD.filter((n) => n !== ""), "a.b"]) : "kube-system",
          invalid: bad,
        },
        { path: ["spec", "nodeName"], value: name, invalid: bad },
        {
          path: ["status", "podIP"],
          value: bad ? r.pick(["10.244.1.300", "pod", "10.244.1.7/32"]) : "10.244.1.8",
          invalid: bad,
        },
        {
          path: ["spec", "containers", 0, "ports", 0, "containerPort"],
          value: bad ? r.pick([0, 65_536, 1.5, "80"]) : 8080,
          invalid: bad,
        },
        {
          path: ["spec", "containers", 0, "ports", 0, "name"],
          value: bad ? r.pick(["HTTP", "x".repeat(16), "80", "a--b"]) : "web",
          invalid: bad,
        },
        {
          path: ["metadata", "labels", "app"],
          value: bad ? r.pick(LABELS_BAD) : "api",
          invalid: bad,
        },
        {
          path: ["spec", "serviceAccountName"],
          value: bad ? r.pick(["A", "a b"]) : "sa-1",
          invalid: bad,
        },
      ]);
    case "Namespace":
      return {
        path: ["metadata", "name"],
        value: bad ? r.pick([...NAMES_BAD, "a.b"]) : "b",
        invalid: bad,
      };
    case "NodeEndpoints":
      return r.pick<Mutation>([
        { path: ["metadata", "name"], value: name, invalid: bad },
        {
          path: ["spec", "endpoints", 0, "ip"],
          value: bad ? r.pick(["10.244.1.256", "fd00::1", "x"]) : "10.244.1.9",
          invalid: bad,
        },
        {
          path: ["spec", "endpoints", 0, "ifname"],
          value: bad ? r.pick(["éééééééé", "eth 0", "a/b", "x".repeat(16)]) : "net1",
          invalid: bad,
        },
        {
          path: ["spec", "endpoints", 0, "containerID"],
          value: bad ? r.pick(["a b", "-a", "../x"]) : "c-2",
          invalid: bad,
        },
        {
          path: ["spec", "endpoints", 0, "podName"],
          value: bad ? r.pick(["Web", "a b", "../x"]) : "web-1",
          invalid: bad,
        },
        {
          path: ["spec", "endpoints", 0, "podNamespace"],
          value: bad ? r.pick(["a.b", "A", "../x"]) : "kube-system",
          invalid: bad,
        },
      ]);
    default:
      return undefined;
  }
}

function setIn(obj: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let at: Record<string | number, unknown> = obj;
  for (const [i, key] of path.slice(0, -1).entries()) {
    const next = at[key];
    if (next === null || typeof next !== "object") {
      at[key] = typeof path[i + 1] === "number" ? [] : {};
    }
    at = at[key] as Record<string | number, unknown>;
  }
  at[path.at(-1)!] = value;
}

function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const out: (string | number)[][] = prefix.length > 0 ? [prefix] : [];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value);
  for (const [k, v] of entries) out.push(...paths(v, [...prefix, k]));
  return out;
}

/** One random object and its manifest text, from `r`. */
export function generateManifest(r: SeededRandom): ManifestInput {
  const kind = r.pick(["Node", "Pod", "Namespace", "NodeEndpoints", "NetworkPolicy"]);
  const object = base(kind);
  const mutations: string[] = [];
  const invalidAt = new Set<string>();
  let retyped = false;
  for (let i = r.pick([0, 1, 1, 2]); i > 0; i--) {
    const typed = r.chance(0.7) ? typedMutation(r, kind) : undefined;
    const m: Mutation = typed ??
      { path: r.pick(paths(object)), value: structuredClone(r.pick(ANY)) };
    if (m.path.length === 0) continue;
    setIn(object, m.path, m.value);
    const key = m.path.join(".");
    for (const p of [...invalidAt]) if (p === key || p.startsWith(`${key}.`)) invalidAt.delete(p);
    // A path under one that now holds a scalar is gone with it.
    for (const p of [...invalidAt]) if (key.startsWith(`${p}.`)) invalidAt.delete(p);
    if (m.invalid === true) invalidAt.add(key);
    // Another apiVersion or kind makes another object: the kind's rules no longer apply.
    if (key === "apiVersion" || key === "kind") retyped = true;
    mutations.push(
      `${key}=${JSON.stringify(m.value)?.slice(0, 50)}${m.invalid ? " (invalid)" : ""}`,
    );
  }
  let text = r.chance(0.3) ? JSON.stringify(object) : stringify(object);
  let mustReject = invalidAt.size > 0 && !retyped;
  if (r.chance(0.08)) {
    const at = r.int(0, text.length - 1);
    text = text.slice(0, at) + r.pick(["", ":", "\t", "- ", "{", "&a", "*a", "---\n", "\u0000"]) +
      text.slice(at + 1);
    mutations.push(`text damaged at ${at}`);
    mustReject = false;
  }
  return { object, text, mustReject, mutations };
}

const labelKey = (k: string) => {
  const [prefix, name] = k.includes("/") ? k.split("/", 2) as [string, string] : [undefined, k];
  return (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix))) &&
    name.length >= 1 && name.length <= 63 &&
    /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name);
};
const labelValue = (v: string) =>
  v === "" || (v.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v));
const subdomain = (s: string) => s.length <= 253 && DNS_SUBDOMAIN.test(s);
const label = (s: string) => s.length <= 63 && DNS_LABEL.test(s);
const ipv4 = (s: string) => {
  try {
    parseCidr(`${s}/32`);
    return true;
  } catch {
    return false;
  }
};

/** What is wrong with a resource a source delivered, by the Kubernetes API's rules (empty: none). */
export function resourceProblems(res: Resource): string[] {
  const p: string[] = [];
  const labels = (l: Record<string, string>, what: string) => {
    for (const [k, v] of Object.entries(l)) {
      if (typeof v !== "string" || !labelKey(k) || !labelValue(v)) {
        p.push(`${what} label ${k}=${v}`);
      }
    }
  };
  switch (res.kind) {
    case "Node":
      if (!subdomain(res.name)) p.push(`Node name ${res.name}`);
      labels(res.labels, "Node");
      for (const c of res.podCIDRs) {
        if (!c.includes(":") && !ipv4(c.split("/")[0]!)) p.push(`podCIDR ${c}`);
      }
      for (const a of res.addresses) {
        if (a.type.endsWith("IP") && !ipv4(a.address) && !a.address.includes(":")) {
          p.push(`address ${a.address}`);
        }
      }
      break;
    case "Pod":
      if (!subdomain(res.name)) p.push(`Pod name ${res.name}`);
      if (!label(res.namespace)) p.push(`Pod namespace ${res.namespace}`);
      if (res.nodeName !== undefined && !subdomain(res.nodeName)) {
        p.push(`nodeName ${res.nodeName}`);
      }
      if (!subdomain(res.serviceAccountName)) {
        p.push(`serviceAccountName ${res.serviceAccountName}`);
      }
      labels(res.labels, "Pod");
      for (const ip of res.podIPs) if (!ipv4(ip) && !ip.includes(":")) p.push(`podIP ${ip}`);
      for (const c of res.containers) {
        for (const port of c.ports) {
          if (
            !Number.isInteger(port.containerPort) || port.containerPort < 1 ||
            port.containerPort > 65535
          ) {
            p.push(`containerPort ${port.containerPort}`);
          }
        }
      }
      break;
    case "Namespace":
      if (!label(res.name)) p.push(`Namespace name ${res.name}`);
      labels(res.labels, "Namespace");
      break;
    case "NodeEndpoints":
      if (!subdomain(res.node)) p.push(`NodeEndpoints name ${res.node}`);
      for (const e of res.endpoints) {
        if (!CNI_ID.test(e.containerID)) p.push(`endpoint containerID ${e.containerID}`);
        if (ifnameProblem(e.ifname) !== undefined) p.push(`endpoint ifname ${e.ifname}`);
        if (!ipv4(e.ip)) p.push(`endpoint ip ${e.ip}`);
        if (e.podNamespace !== undefined && !label(e.podNamespace)) {
          p.push(`endpoint podNamespace ${e.podNamespace}`);
        }
        if (e.podName !== undefined && !subdomain(e.podName)) {
          p.push(`endpoint podName ${e.podName}`);
        }
      }
      break;
    default:
      if (res.name === "") p.push("nameless object");
  }
  return p;
}

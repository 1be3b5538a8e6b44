/**
 * Policy scenarios with hand-written truth tables, as upstream's NetworkPolicy e2e tests do them,
 * for the lab of `policy_lab.ts` (namespaces x, y, z labelled `ns=<name>`; pods a, b, c labelled
 * `pod=<name>`, service account `sa-<name>`, ports `serve-80`, `serve-81` (TCP) and `dns` (UDP
 * 53); node-1: x/a y/b z/c, node-2: x/b y/c z/a, node-3: x/c y/a z/b, pod CIDRs
 * `10.244.<node>.0/24`). Each scenario lists its manifests, the flows it probes, and `expect`:
 * whether a flow from one pod to another passes. Pure data.
 * @module
 */
import type { Flow, LabPod } from "./policy_lab.ts";

/** One scenario. */
export interface Scenario {
  name: string;
  /** What it covers, for docs/policy_testing.md. */
  about: string;
  items: Record<string, unknown>[];
  flows: Flow[];
  expect: (src: LabPod, dst: LabPod, flow: Flow) => boolean;
}

type Obj = Record<string, unknown>;

function np(ns: string, name: string, spec: Obj): Obj {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: ns },
    spec,
  };
}

function sgp(ns: string, name: string, selector: Obj, groups: string[]): Obj {
  return {
    apiVersion: "vpcresources.k8s.aws/v1beta1",
    kind: "SecurityGroupPolicy",
    metadata: { name, namespace: ns },
    spec: { ...selector, securityGroups: { groupIds: groups } },
  };
}

function sg(name: string, spec: Obj): Obj {
  return { apiVersion: "tern.dev/v1alpha1", kind: "SecurityGroup", metadata: { name }, spec };
}

const pod = (name: string) => ({ podSelector: { matchLabels: { pod: name } } });
const nsSel = (name: string) => ({ namespaceSelector: { matchLabels: { ns: name } } });
const ALLOW_ALL_EGRESS = [{ action: "allow" }];
const is = (p: LabPod, id: string) => p.id === id;
const tcp80 = (f: Flow) => f === "tcp/80";

export const SCENARIOS: Scenario[] = [
  // ---- upstream NetworkPolicy ----
  {
    name: "np-deny-all-ingress",
    about: "NetworkPolicy: deny all ingress to every pod of x",
    items: [np("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress"] })],
    flows: ["tcp/80"],
    expect: (_s, d) => d.ns !== "x",
  },
  {
    name: "np-allow-all-ingress",
    about: "NetworkPolicy: deny-all plus allow-all ingress in x (union: all allowed)",
    items: [
      np("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress"] }),
      np("x", "allow-all", { podSelector: {}, ingress: [{}] }),
    ],
    flows: ["tcp/80"],
    expect: () => true,
  },
  {
    name: "np-allow-from-namespace",
    about: "NetworkPolicy: x/a allows ingress from namespace y only",
    items: [
      np("x", "from-y", { podSelector: pod("a").podSelector, ingress: [{ from: [nsSel("y")] }] }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.ns === "y",
  },
  {
    name: "np-allow-pod-and-namespace",
    about: "NetworkPolicy: x/a allows pod=b AND ns=y in one peer (only y/b)",
    items: [np("x", "and", {
      podSelector: pod("a").podSelector,
      ingress: [{ from: [{ ...nsSel("y"), ...pod("b") }] }],
    })],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.id === "y/b",
  },
  {
    name: "np-allow-pod-or-namespace",
    about: "NetworkPolicy: x/a allows ns=y OR pod=b of x (two peers)",
    items: [np("x", "or", {
      podSelector: pod("a").podSelector,
      ingress: [{ from: [nsSel("y"), pod("b")] }],
    })],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.ns === "y" || s.id === "x/b",
  },
  {
    name: "np-all-namespaces-pod",
    about: "NetworkPolicy: x/a allows pod=c in every namespace (namespaceSelector {})",
    items: [np("x", "any-c", {
      podSelector: pod("a").podSelector,
      ingress: [{ from: [{ namespaceSelector: {}, ...pod("c") }] }],
    })],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.name === "c",
  },
  {
    name: "np-same-namespace",
    about: "NetworkPolicy: every pod of x allows ingress from pods of x only",
    items: [np("x", "same-ns", { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })],
    flows: ["tcp/80"],
    expect: (s, d) => d.ns !== "x" || s.ns === "x",
  },
  {
    name: "np-ipblock-except",
    about: "NetworkPolicy: x/a allows ipBlock 10.244.0.0/16 except node-2's 10.244.2.0/24",
    items: [np("x", "ipblock", {
      podSelector: pod("a").podSelector,
      ingress: [{ from: [{ ipBlock: { cidr: "10.244.0.0/16", except: ["10.244.2.0/24"] } }] }],
    })],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.node !== 2,
  },
  {
    name: "np-named-port",
    about: "NetworkPolicy: x/a allows the named port serve-81 only",
    items: [np("x", "named", {
      podSelector: pod("a").podSelector,
      ingress: [{ ports: [{ port: "serve-81" }] }],
    })],
    flows: ["tcp/80", "tcp/81"],
    expect: (_s, d, f) => !is(d, "x/a") || f === "tcp/81",
  },
  {
    name: "np-endport",
    about: "NetworkPolicy: x/a allows TCP 75-80 (endPort)",
    items: [np("x", "range", {
      podSelector: pod("a").podSelector,
      ingress: [{ ports: [{ protocol: "TCP", port: 75, endPort: 80 }] }],
    })],
    flows: ["tcp/80", "tcp/81"],
    expect: (_s, d, f) => !is(d, "x/a") || f === "tcp/80",
  },
  {
    name: "np-udp-only",
    about: "NetworkPolicy: x/a allows UDP 80 only (TCP 80 denied)",
    items: [np("x", "udp", {
      podSelector: pod("a").podSelector,
      ingress: [{ ports: [{ protocol: "UDP", port: 80 }] }],
    })],
    flows: ["tcp/80", "udp/80"],
    expect: (_s, d, f) => !is(d, "x/a") || f === "udp/80",
  },
  {
    name: "np-egress-deny-all",
    about: "NetworkPolicy: deny all egress of every pod of x",
    items: [np("x", "deny-egress", { podSelector: {}, policyTypes: ["Egress"] })],
    flows: ["tcp/80"],
    expect: (s) => s.ns !== "x",
  },
  {
    name: "np-egress-dns-only",
    about: "NetworkPolicy: pods of x may only send UDP 53 to z/c (the DNS pod)",
    items: [np("x", "dns-only", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [{ ...nsSel("z"), ...pod("c") }], ports: [{ protocol: "UDP", port: 53 }] }],
    })],
    flows: ["tcp/80", "udp/53"],
    expect: (s, d, f) => s.ns !== "x" || (d.id === "z/c" && f === "udp/53"),
  },
  {
    name: "np-egress-to-namespace",
    about: "NetworkPolicy: x/a may only send to namespace y",
    items: [np("x", "to-y", {
      podSelector: pod("a").podSelector,
      policyTypes: ["Egress"],
      egress: [{ to: [nsSel("y")] }],
    })],
    flows: ["tcp/80"],
    expect: (s, d) => !is(s, "x/a") || d.ns === "y",
  },
  {
    name: "np-ingress-only-ignores-egress",
    about: "NetworkPolicy: policyTypes [Ingress] with egress rules: the egress rules are ignored",
    items: [np("x", "ingress-only", {
      podSelector: pod("a").podSelector,
      policyTypes: ["Ingress"],
      ingress: [{ from: [nsSel("z")] }],
      egress: [{ to: [nsSel("y")] }],
    })],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.ns === "z",
  },
  {
    name: "np-union",
    about: "NetworkPolicy: two policies on x/a, from ns y on TCP 80 and from x/b on TCP 81 (union)",
    items: [
      np("x", "p1", {
        podSelector: pod("a").podSelector,
        ingress: [{ from: [nsSel("y")], ports: [{ port: 80 }] }],
      }),
      np("x", "p2", {
        podSelector: pod("a").podSelector,
        ingress: [{ from: [pod("b")], ports: [{ port: 81 }] }],
      }),
    ],
    flows: ["tcp/80", "tcp/81"],
    expect: (s, d, f) =>
      !is(d, "x/a") || (f === "tcp/80" && s.ns === "y") || (f === "tcp/81" && s.id === "x/b"),
  },
  // ---- security groups ----
  {
    name: "sg-by-pod-label",
    about: "SecurityGroupPolicy by pod label: x/a in sg-web (TCP 80 from anywhere, egress all)",
    items: [
      sgp("x", "web", pod("a"), ["sg-web"]),
      sg("sg-web", {
        ingress: [{ action: "allow", protocol: "tcp", ports: [80] }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80", "tcp/81"],
    expect: (_s, d, f) => !is(d, "x/a") || tcp80(f),
  },
  {
    name: "sg-by-service-account",
    about: "SecurityGroupPolicy by service account name (matchNames sa-b in y)",
    items: [
      sgp("y", "by-sa", { serviceAccountSelector: { matchNames: ["sa-b"] } }, ["sg-web"]),
      sg("sg-web", {
        ingress: [{ action: "allow", protocol: "tcp", ports: [80] }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80", "tcp/81"],
    expect: (_s, d, f) => !is(d, "y/b") || tcp80(f),
  },
  {
    name: "sg-default-deny-egress",
    about: "security groups are default-deny both ways: x/a in a group with ingress rules only",
    items: [
      sgp("x", "web", pod("a"), ["sg-in-only"]),
      sg("sg-in-only", { ingress: [{ action: "allow" }] }),
    ],
    flows: ["tcp/80"],
    expect: (s) => !is(s, "x/a"),
  },
  {
    name: "sg-group-membership",
    about: "SecurityGroup peer: x/a allows only members of sg-client (y/a, z/b)",
    items: [
      sgp("y", "client-y", pod("a"), ["sg-client"]),
      sgp("z", "client-z", pod("b"), ["sg-client"]),
      sgp("x", "server", pod("a"), ["sg-server"]),
      sg("sg-client", { ingress: [{ action: "allow" }], egress: ALLOW_ALL_EGRESS }),
      sg("sg-server", {
        ingress: [{ action: "allow", from: [{ securityGroup: "sg-client" }] }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.id === "y/a" || s.id === "z/b",
  },
  {
    name: "sg-priority-deny-first",
    about: "SecurityGroup: deny pod=b at priority 100 before allow all at 200",
    items: [
      sgp("x", "web", pod("a"), ["sg-prio"]),
      sg("sg-prio", {
        ingress: [
          { priority: 200, action: "allow" },
          { priority: 100, action: "deny", from: [pod("b")] },
        ],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.name !== "b",
  },
  {
    name: "sg-priority-allow-first",
    about: "SecurityGroup: allow all at priority 50 before deny pod=b at 100 (first match)",
    items: [
      sgp("x", "web", pod("a"), ["sg-prio"]),
      sg("sg-prio", {
        ingress: [
          { priority: 50, action: "allow" },
          { priority: 100, action: "deny", from: [pod("b")] },
        ],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80"],
    expect: () => true,
  },
  {
    name: "sg-equal-priority-deny-wins",
    about: "SecurityGroup: allow all and deny pod=b both at priority 100, in two groups: deny wins",
    items: [
      sgp("x", "web", pod("a"), ["sg-allow", "sg-deny"]),
      sg("sg-allow", { ingress: [{ priority: 100, action: "allow" }], egress: ALLOW_ALL_EGRESS }),
      sg("sg-deny", { ingress: [{ priority: 100, action: "deny", from: [pod("b")] }] }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.name !== "b",
  },
  {
    name: "sg-port-range",
    about: "SecurityGroup: TCP ports 81-85 and UDP 53 allowed to x/a",
    items: [
      sgp("x", "web", pod("a"), ["sg-range"]),
      sg("sg-range", {
        ingress: [
          { action: "allow", protocol: "tcp", ports: ["81-85"] },
          { action: "allow", protocol: "udp", ports: [53] },
        ],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80", "tcp/81", "udp/53", "udp/80"],
    expect: (_s, d, f) => !is(d, "x/a") || f === "tcp/81" || f === "udp/53",
  },
  {
    name: "sg-icmp",
    about: "SecurityGroup: only ICMP echo request allowed to x/a",
    items: [
      sgp("x", "web", pod("a"), ["sg-icmp"]),
      sg("sg-icmp", {
        ingress: [{ action: "allow", protocol: "icmp", icmp: { type: 8 } }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["icmp", "tcp/80"],
    expect: (_s, d, f) => !is(d, "x/a") || f === "icmp",
  },
  {
    name: "sg-cidr-except",
    about: "SecurityGroup: x/a allows 10.244.0.0/16 except node-3's 10.244.3.0/24",
    items: [
      sgp("x", "web", pod("a"), ["sg-cidr"]),
      sg("sg-cidr", {
        ingress: [{
          action: "allow",
          from: [{ cidr: "10.244.0.0/16", except: ["10.244.3.0/24"] }],
        }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.node !== 3,
  },
  {
    name: "sg-two-groups",
    about: "a pod in two groups (two SecurityGroupPolicies): TCP 80 from all, TCP 81 from ns y",
    items: [
      sgp("x", "web-80", pod("a"), ["sg-80"]),
      sgp("x", "web-81", { serviceAccountSelector: { matchNames: ["sa-a"] } }, ["sg-81"]),
      sg("sg-80", {
        ingress: [{ action: "allow", protocol: "tcp", ports: [80] }],
        egress: ALLOW_ALL_EGRESS,
      }),
      sg("sg-81", {
        ingress: [{
          action: "allow",
          protocol: "tcp",
          ports: [81],
          from: [{ podSelector: {}, ...nsSel("y") }],
        }],
      }),
    ],
    flows: ["tcp/80", "tcp/81"],
    expect: (s, d, f) => !is(d, "x/a") || f === "tcp/80" || s.ns === "y",
  },
  {
    name: "sg-service-account-peer",
    about: "SecurityGroup peer by service account: x/a allows y/sa-c only",
    items: [
      sgp("x", "web", pod("a"), ["sg-sa"]),
      sg("sg-sa", {
        ingress: [{
          action: "allow",
          from: [{ serviceAccount: { namespace: "y", name: "sa-c" } }],
        }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(d, "x/a") || s.id === "y/c",
  },
  {
    name: "sg-udp-only",
    about: "SecurityGroup: x/a allows UDP 80 only",
    items: [
      sgp("x", "web", pod("a"), ["sg-udp"]),
      sg("sg-udp", {
        ingress: [{ action: "allow", protocol: "udp", ports: [80] }],
        egress: ALLOW_ALL_EGRESS,
      }),
    ],
    flows: ["tcp/80", "udp/80"],
    expect: (_s, d, f) => !is(d, "x/a") || f === "udp/80",
  },
  {
    name: "sg-and-np",
    about: "both layers must allow: x/a's group allows TCP 80 from all, its NetworkPolicy ns y",
    items: [
      sgp("x", "web", pod("a"), ["sg-web"]),
      sg("sg-web", {
        ingress: [{ action: "allow", protocol: "tcp", ports: [80] }],
        egress: ALLOW_ALL_EGRESS,
      }),
      np("x", "from-y", { podSelector: pod("a").podSelector, ingress: [{ from: [nsSel("y")] }] }),
    ],
    flows: ["tcp/80", "tcp/81"],
    expect: (s, d, f) => !is(d, "x/a") || (tcp80(f) && s.ns === "y"),
  },
  {
    name: "sg-egress-deny-cidr",
    about: "SecurityGroup egress: x/a may send anywhere but node-2's pod CIDR (deny first)",
    items: [
      sgp("x", "web", pod("a"), ["sg-out"]),
      sg("sg-out", {
        ingress: [{ action: "allow" }],
        egress: [
          { priority: 10, action: "deny", to: [{ cidr: "10.244.2.0/24" }] },
          { priority: 20, action: "allow" },
        ],
      }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => !is(s, "x/a") || d.node !== 2,
  },
  {
    name: "cross-node",
    about:
      "cross-node: x/a (node-1) may send only to ns y (on nodes 1-3, SG egress); z/a (node-2) accepts only x/c (node-3, NetworkPolicy)",
    items: [
      sgp("x", "web", pod("a"), ["sg-to-y"]),
      sg("sg-to-y", {
        ingress: [{ action: "allow" }],
        egress: [{ action: "allow", to: [{ podSelector: {}, ...nsSel("y") }] }],
      }),
      np("z", "from-xc", {
        podSelector: pod("a").podSelector,
        ingress: [{ from: [{ ...nsSel("x"), ...pod("c") }] }],
      }),
    ],
    flows: ["tcp/80"],
    expect: (s, d) => (!is(s, "x/a") || d.ns === "y") && (!is(d, "z/a") || s.id === "x/c"),
  },
];

import { assertEquals, assertStringIncludes } from "../test/assert.ts";
import type { Endpoint, StatusResponse } from "../src/api.ts";
import { compareIp, formatDuration, renderEndpoints, renderStatus, renderTable } from "./render.ts";

function endpoint(overrides: Partial<Endpoint>): Endpoint {
  return {
    containerID: "0123456789abcdef0123456789abcdef",
    ifname: "eth0",
    network: "tern",
    netns: "/var/run/netns/x",
    ip: "10.244.1.2",
    podCIDR: "10.244.1.0/24",
    hostVeth: "tern0123456789a",
    podMac: "0e:00:00:00:00:01",
    state: "programmed",
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

const status: StatusResponse = {
  ready: true,
  version: "0.1.0",
  node: "node-1",
  pools: [
    { cidr: "10.244.1.0/24", capacity: 254, used: 3, free: 251 },
    { cidr: "10.244.9.0/30", capacity: 2, used: 2, free: 0 },
  ],
  free: 251,
  endpoints: 5,
  uptimeMs: 3_723_000,
};

Deno.test("renderTable() aligns columns to the widest cell and leaves no trailing blanks", () => {
  assertEquals(
    renderTable(["A", "LONG HEADER", "C"], [["xxxx", "y", ""], ["z", "w", "last"]]),
    "A     LONG HEADER  C\n" +
      "xxxx  y\n" +
      "z     w            last\n",
  );
});

Deno.test("formatDuration() shows the two largest units", () => {
  assertEquals(formatDuration(0), "0s");
  assertEquals(formatDuration(-5), "0s");
  assertEquals(formatDuration(NaN), "0s");
  assertEquals(formatDuration(42_999), "42s");
  assertEquals(formatDuration(303_000), "5m 3s");
  assertEquals(formatDuration(3_723_000), "1h 2m");
  assertEquals(formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 59_000), "3d 4h");
});

Deno.test("renderStatus() shows node, health, uptime, totals and a line per pool", () => {
  const text = renderStatus(status);
  assertStringIncludes(text, "node:      node-1\n");
  assertStringIncludes(text, "ready:     yes\n");
  assertStringIncludes(text, "uptime:    1h 2m\n");
  assertStringIncludes(text, "endpoints: 5\n");
  assertStringIncludes(text, "addresses: 5 used, 251 free of 256\n");
  assertStringIncludes(
    text,
    "POOL           CAPACITY  USED  FREE  USE%\n" +
      "10.244.1.0/24  254       3     251   1%\n" +
      "10.244.9.0/30  2         2     0     100%\n",
  );
  assertEquals(text.includes("warning"), false);
});

Deno.test("renderStatus() warns when no address is free and says when there is no pool", () => {
  const full = renderStatus({
    ...status,
    ready: false,
    free: 0,
    pools: [{ cidr: "10.0.0.0/30", capacity: 2, used: 2, free: 0 }],
  });
  assertStringIncludes(full, "ready:     no\n");
  assertStringIncludes(full, "warning:   no free address");
  assertStringIncludes(renderStatus({ ...status, pools: [], free: 0 }), "no pools");
});

Deno.test("compareIp() orders IPv4 addresses numerically", () => {
  const ips = ["10.0.0.10", "10.0.0.9", "9.255.255.255", "10.0.1.0"];
  assertEquals(ips.sort(compareIp), ["9.255.255.255", "10.0.0.9", "10.0.0.10", "10.0.1.0"]);
});

Deno.test("renderEndpoints() lists endpoints by address with short IDs, pods and dashes for unknowns", () => {
  const text = renderEndpoints([
    endpoint({ ip: "10.244.1.10", podNamespace: "kube-system", podName: "coredns-1" }),
    endpoint({
      containerID: "ffffffffffffffffffff",
      ip: "10.244.1.9",
      state: "allocated",
      hostVeth: "",
      ifname: "net1",
    }),
    endpoint({ containerID: "abc", ip: "10.244.1.200", podName: "solo" }),
  ]);
  assertEquals(
    text,
    "CONTAINER     IFNAME  IP            STATE       HOST VETH        POD\n" +
      "ffffffffffff  net1    10.244.1.9    allocated   -                -\n" +
      "0123456789ab  eth0    10.244.1.10   programmed  tern0123456789a  kube-system/coredns-1\n" +
      "abc           eth0    10.244.1.200  programmed  tern0123456789a  default/solo\n",
  );
});

Deno.test("renderEndpoints() shows whole container IDs when wide, and says when there are none", () => {
  assertStringIncludes(
    renderEndpoints([endpoint({})], { wide: true }),
    "0123456789abcdef0123456789abcdef  eth0",
  );
  assertEquals(renderEndpoints([]), "no endpoints\n");
});

const NOW = 1_800_000_000_000;

const clustered: StatusResponse = {
  ...status,
  cluster: {
    source: "files:/etc/tern/cluster",
    nodes: 3,
    pods: 7,
    errors: ['Invalid Node "node-9" in /etc/tern/cluster/nodes.yaml:7: spec.podCIDR: bad'],
    publishEndpoints: true,
    published: { at: NOW - 2_000, endpoints: 3 },
  },
  routing: {
    mode: "routes",
    podCIDRsFrom: "node",
    peers: [
      {
        node: "node-2",
        address: "192.168.50.2",
        podCIDRs: ["10.244.2.0/24"],
        routed: ["10.244.2.0/24"],
      },
      { node: "node-3", podCIDRs: ["10.244.3.0/24"], routed: [] },
    ],
    problems: [{
      kind: "no_address",
      message: "Node has no IPv4 address of type InternalIP: node-3: no route to 10.244.3.0/24",
    }],
    reconcile: {
      passes: 42,
      intervalMs: 10_000,
      monitor: "running",
      lastPass: {
        trigger: "periodic",
        startedAt: NOW - 3_000,
        durationMs: 4.2,
        added: 0,
        replaced: 0,
        deleted: 0,
        failed: 0,
        deferred: 1,
      },
      lastChange: {
        trigger: "monitor",
        startedAt: NOW - 300_000,
        durationMs: 6.1,
        added: 1,
        replaced: 0,
        deleted: 0,
        failed: 1,
        deferred: 0,
      },
      ownedRoutes: 6,
      ownedRules: 4,
      failing: [{
        item: "route replace 0.0.0.0/0 via 10.97.0.1 dev eg0 table 100 proto 116",
        error: 'Cannot find device "eg0"',
        attempts: 3,
        since: NOW - 7_000,
        retryAt: NOW + 4_000,
      }],
    },
  },
};

Deno.test("renderStatus() shows the cluster source, routing mode, last passes, owned counts, peers, problems and failures", () => {
  const text = renderStatus(clustered, { now: NOW });
  assertStringIncludes(
    text,
    "cluster:   files:/etc/tern/cluster (3 nodes, 7 pods), 3 endpoints published 2s ago\n" +
      "routing:   routes: 1 peer routes to 1 of 2 peers; pod CIDRs from the node\n" +
      "owned:     6 routes, 4 rules; 42 passes every 10s and on change; ip monitor running\n" +
      "last pass: 3s ago (periodic, 4.2 ms): no change\n" +
      "changed:   5m 0s ago (monitor, 6.1 ms): 1 added, 0 replaced, 0 deleted, 1 failed\n",
  );
  assertStringIncludes(
    text,
    "PEER    ADDRESS       POD CIDRS      ROUTED\n" +
      "node-2  192.168.50.2  10.244.2.0/24  yes\n" +
      "node-3  -             10.244.3.0/24  no\n",
  );
  assertStringIncludes(
    text,
    "problems:\n  Node has no IPv4 address of type InternalIP: node-3: no route to 10.244.3.0/24\n",
  );
  assertStringIncludes(
    text,
    "failing changes (retried with backoff):\n" +
      '  route replace 0.0.0.0/0 via 10.97.0.1 dev eg0 table 100 proto 116: Cannot find device "eg0" (3 attempts since 7s ago, next in 4s)\n',
  );
  assertStringIncludes(text, "bad manifests (latest 1, skipped):\n  Invalid Node");
});

Deno.test("renderStatus() says that native mode installs no peer routes, and shows a failed pass", () => {
  const routing = clustered.routing!;
  const text = renderStatus({
    ...clustered,
    routing: {
      ...routing,
      mode: "native",
      peers: routing.peers.map((p) => ({ ...p, routed: [] })),
      problems: [],
      reconcile: {
        ...routing.reconcile,
        failing: [],
        lastPass: { ...routing.reconcile.lastPass!, error: "Command failed: ip -json: exit 1" },
      },
    },
  }, { now: NOW });
  assertStringIncludes(
    text,
    "routing:   native: tern installs no peer routes (the underlay routes pod CIDRs); pod CIDRs from the node\n",
  );
  assertStringIncludes(
    text,
    "last pass: 3s ago (periodic, 4.2 ms): FAILED: Command failed: ip -json: exit 1\n",
  );
  assertStringIncludes(text, "node-2  192.168.50.2  10.244.2.0/24  native\n");
  assertEquals(text.includes("problems:"), false);
});

Deno.test("renderStatus() leaves out cluster and routing for a daemon that does not report them", () => {
  const text = renderStatus(status, { now: NOW });
  assertEquals(text.includes("routing:"), false);
  assertEquals(text.includes("cluster:"), false);
});

Deno.test("renderStatus() shows a policy summary line: enforced, held pods, last transaction", () => {
  const text = renderStatus({
    ...status,
    policy: {
      enabled: true,
      policies: 4,
      pods: 5,
      pending: 1,
      problems: 2,
      upToDate: true,
      lastApply: {
        at: NOW - 2_000,
        trigger: "cluster",
        kind: "incremental",
        durationMs: 5.5,
        computeMs: 1,
        lines: 3,
        pods: 5,
        pending: 1,
      },
    },
  }, { now: NOW });
  assertStringIncludes(
    text,
    "policy:    4 policies, 5 pods programmed, 1 HELD CLOSED, 2 problems; applied 2s ago (incremental, 5.5 ms) (tern policy status)\n",
  );
  const off = renderStatus({ ...status, policy: { enabled: false } }, { now: NOW });
  assertStringIncludes(off, "policy:    disabled (policy.enabled is false): nothing enforced\n");
});

Deno.test("renderStatus() of a starting daemon says what it waits for and each kind's list", () => {
  const text = renderStatus({
    ...status,
    ready: false,
    pools: [],
    free: 0,
    starting: "waiting for the first lists from the Kubernetes API server",
    cluster: {
      source: "kubernetes:https://10.0.0.1:6443",
      nodes: 3,
      pods: 0,
      errors: [],
      publishEndpoints: true,
      synced: false,
      kinds: [
        {
          kind: "Node",
          apiVersion: "v1",
          synced: true,
          missing: false,
          watching: true,
          objects: 3,
          invalid: 0,
          staleSeconds: 0,
          reconnects: 0,
          relists: 0,
        },
        {
          kind: "Pod",
          apiVersion: "v1",
          synced: false,
          missing: false,
          watching: false,
          objects: 0,
          invalid: 0,
          reconnects: 2,
          relists: 0,
          lastError: "Kubernetes API refused the request: 429 TooManyRequests: slow down",
        },
        {
          kind: "SecurityGroup",
          apiVersion: "tern.dev/v1alpha1",
          synced: true,
          missing: true,
          watching: false,
          objects: 0,
          invalid: 0,
          reconnects: 0,
          relists: 0,
        },
      ],
    },
  }, { now: 0 });
  assertStringIncludes(
    text,
    "ready:     no, starting: waiting for the first lists from the Kubernetes API server\n",
  );
  assertStringIncludes(text, "NOT SYNCED: first lists not in yet");
  assertStringIncludes(text, "Node           watching     3        0        0s");
  assertStringIncludes(text, "Pod            listing      0        0        -      2");
  assertStringIncludes(text, "429 TooManyRequests: slow down");
  assertStringIncludes(text, "SecurityGroup  crd missing");
  assertEquals(
    text.includes("no pools"),
    false,
    "a starting daemon has no pools yet: not a problem",
  );
});

Deno.test("renderStatus() of a daemon the API server refuses shows the refusal and its fix", () => {
  const refused =
    "Cannot list Pod from https://10.0.0.1:6443: 403 Forbidden: pods is forbidden: grant tern's ClusterRole list and watch on Pod";
  const text = renderStatus({
    ...status,
    ready: false,
    pools: [],
    free: 0,
    starting: "waiting for the first lists from the Kubernetes API server",
    cluster: {
      source: "kubernetes:https://10.0.0.1:6443",
      nodes: 0,
      pods: 0,
      errors: [],
      publishEndpoints: true,
      synced: false,
      refused,
    },
  }, { now: 0 });
  assertStringIncludes(text, `refused:   ${refused}\n`);
});

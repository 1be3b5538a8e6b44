import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../test/assert.ts";
import { ConfigError, loadConfig, parseConfig, parseListenAddress } from "./config.ts";

const testdata = new URL("../testdata/", import.meta.url);

const DEFAULT_POLICY = { enabled: true, logRate: 5, pendingWaitMs: 2_000 };

const DEFAULT_METRICS = { policyCountersIntervalMs: 30_000 };

const DEFAULT_ROUTING = {
  mode: "routes" as const,
  addressTypes: ["InternalIP"],
  clusterCIDRs: [],
  egressTables: [],
  egressBinding: { annotation: "tern.dev/egress-table", label: "tern.dev/egress-table" },
};

const DEFAULT_BLOCKS = {
  warmIPTarget: 8,
  minimumIPTarget: 0,
  maxBlocks: 32,
  releaseCooldownMs: 300_000,
  nodeGracePeriodMs: 300_000,
  intervalMs: 30_000,
};

Deno.test("parseConfig() fills every default around the required podCIDRs", () => {
  const config = parseConfig("podCIDRs: [10.244.1.0/24]\n", { hostname: "Node-A" });
  assertEquals(config, {
    nodeName: "node-a",
    podCIDRs: ["10.244.1.0/24"],
    socket: "/run/tern/ternd.sock",
    stateFile: "/var/lib/tern/state.kv",
    releaseQueueDir: "/var/lib/tern/release-queue",
    routeProtocol: 116,
    ipam: { releaseCooldownMs: 30_000, mode: "node-cidr", blocks: DEFAULT_BLOCKS },
    gc: { intervalMs: 60_000, gracePeriodMs: 120_000 },
    log: { level: "info", format: "text" },
    routing: DEFAULT_ROUTING,
    reconcile: { intervalMs: 10_000, monitor: true },
    policy: DEFAULT_POLICY,
    metrics: DEFAULT_METRICS,
  });
});

Deno.test("parseConfig() accepts the commented example in testdata/ternd.yaml", async () => {
  const text = await Deno.readTextFile(new URL("ternd.yaml", testdata));
  const config = parseConfig(text, { hostname: "ignored" });
  assertEquals(config.nodeName, "node-1");
  assertEquals(config.podCIDRs, ["10.244.1.0/24"]);
  assertEquals(config.gc, { intervalMs: 60_000, gracePeriodMs: 120_000 });
  assertEquals(config.cluster, undefined);
  assertEquals(config.routing, DEFAULT_ROUTING);
  assertEquals(config.reconcile, { intervalMs: 10_000, monitor: true });
  assertEquals(config.policy, DEFAULT_POLICY);
});

Deno.test("parseConfig() reads the cluster, routing and reconcile sections of the issue-3 contract", async () => {
  const text = await Deno.readTextFile(new URL("config/good-cluster.yaml", testdata));
  assertEquals(parseConfig(text), {
    nodeName: "node-a",
    podCIDRs: ["10.244.1.0/24"],
    socket: "/run/tern/ternd.sock",
    stateFile: "/var/lib/tern/state.kv",
    releaseQueueDir: "/var/lib/tern/release-queue",
    routeProtocol: 116,
    ipam: { releaseCooldownMs: 30_000, mode: "node-cidr", blocks: DEFAULT_BLOCKS },
    gc: { intervalMs: 60_000, gracePeriodMs: 120_000 },
    log: { level: "info", format: "text" },
    cluster: {
      source: "files",
      dir: "/etc/tern/cluster",
      publishEndpoints: true,
      podCIDRWaitMs: 60_000,
      settleMs: 10,
      debounceMs: 100,
    },
    routing: {
      mode: "routes",
      addressTypes: ["InternalIP"],
      clusterCIDRs: ["10.244.0.0/16"],
      egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1", dev: "eg0" }],
      egressBinding: { annotation: "tern.dev/egress-table", label: "tern.dev/egress-table" },
    },
    reconcile: { intervalMs: 10_000, monitor: true },
    policy: DEFAULT_POLICY,
    metrics: DEFAULT_METRICS,
  });
});

Deno.test("parseConfig() lets a cluster source stand in for podCIDRs, learned from the Node", async () => {
  const text = await Deno.readTextFile(new URL("config/good-learn-pod-cidrs.yaml", testdata));
  const config = parseConfig(text, { hostname: "h" });
  assertEquals(config.podCIDRs, []);
  assertEquals(config.cluster, {
    source: "files",
    dir: "/srv/cluster",
    publishEndpoints: false,
    podCIDRWaitMs: 5_000,
    settleMs: 10,
    debounceMs: 100,
  });
  assertEquals(config.routing.mode, "native");
  assertEquals(config.routing.ownPodCIDRRoute, "blackhole");
  assertEquals(config.reconcile, { intervalMs: 2_000, monitor: false });
  assertEquals(
    parseConfig("cluster: {source: files}\npodCIDRs: []\n", { hostname: "h" }).podCIDRs,
    [],
  );
});

Deno.test("parseConfig() reads the files source's settle and debounce times, and refuses a bad one", () => {
  const config = parseConfig(
    "cluster: {source: files, settle: 0, debounce: 250ms}\npodCIDRs: []\n",
    { hostname: "h" },
  );
  const cluster = config.cluster;
  assert(cluster?.source === "files");
  assertEquals([cluster.settleMs, cluster.debounceMs], [0, 250]);
  const err = assertThrows(
    () => parseConfig("cluster: {source: files, settle: soon}\npodCIDRs: []\n", { hostname: "h" }),
    ConfigError,
  );
  assertStringIncludes(err.message, "cluster.settle");
});

Deno.test("parseConfig() still requires podCIDRs without a cluster source, and says how to do without", () => {
  assertThrows(
    () => parseConfig("routing: {mode: native}\n", { hostname: "h" }),
    ConfigError,
    "podCIDRs: is required: list this node's pod CIDRs, e.g. podCIDRs: [10.244.1.0/24], or configure a cluster source",
  );
});

Deno.test("parseConfig() reads every key of a full config", async () => {
  const text = await Deno.readTextFile(new URL("config/good-two-pools.yaml", testdata));
  assertEquals(parseConfig(text), {
    nodeName: "worker-7.example.internal",
    podCIDRs: ["10.244.7.0/25", "10.245.7.0/26"],
    socket: "/tmp/ternd-test/ternd.sock",
    stateFile: "/tmp/ternd-test/state.kv",
    releaseQueueDir: "/tmp/ternd-test/queue",
    routeProtocol: 200,
    ipam: { releaseCooldownMs: 90_000, mode: "node-cidr", blocks: DEFAULT_BLOCKS },
    gc: { intervalMs: 10_000, gracePeriodMs: 0 },
    log: { level: "debug", format: "json", file: "/tmp/ternd-test/ternd.log" },
    routing: DEFAULT_ROUTING,
    reconcile: { intervalMs: 10_000, monitor: true },
    policy: DEFAULT_POLICY,
    metrics: { listen: { hostname: "127.0.0.1", port: 9464 }, policyCountersIntervalMs: 60_000 },
  });
});

Deno.test("parseConfig() reads the policy section", async () => {
  const text = await Deno.readTextFile(new URL("config/good-policy.yaml", testdata));
  assertEquals(parseConfig(text, { hostname: "h" }).policy, {
    enabled: true,
    logRate: 0,
    dir: "/etc/tern/policy.d",
    pendingWaitMs: 500,
  });
  assertEquals(
    parseConfig("podCIDRs: [10.244.1.0/24]\npolicy: {enabled: false}\n", { hostname: "h" }).policy,
    {
      ...DEFAULT_POLICY,
      enabled: false,
    },
  );
});

Deno.test("parseConfig() rejects each bad example with the message its '# expect:' line names", async () => {
  let seen = 0;
  for await (const entry of Deno.readDir(new URL("config/", testdata))) {
    if (!entry.name.startsWith("bad-")) continue;
    seen++;
    const file = `/etc/tern/${entry.name}`;
    const text = await Deno.readTextFile(new URL(`config/${entry.name}`, testdata));
    const expect = /^# expect: (.*)$/m.exec(text)?.[1];
    assert(expect, `${entry.name} has no "# expect:" line`);
    const err = assertThrows(() => parseConfig(text, { file, hostname: "h" }), ConfigError);
    assertStringIncludes(err.message, `Invalid config ${file}: `);
    assertStringIncludes(err.message, expect, entry.name);
  }
  assert(seen >= 8, `only ${seen} bad examples found`);
});

Deno.test("parseConfig() names the file, key path and value of a CIDR with host bits", () => {
  const err = assertThrows(
    () => parseConfig("podCIDRs: [10.244.1.5/24]", { file: "/etc/tern/ternd.yaml" }),
    ConfigError,
  );
  assertEquals(
    err.message,
    'Invalid config /etc/tern/ternd.yaml: podCIDRs[0]: "10.244.1.5/24" has host bits set, did you mean 10.244.1.0/24?',
  );
});

Deno.test("parseConfig() reports every unknown key, top-level and nested", () => {
  const err = assertThrows(
    () =>
      parseConfig("podCIDRs: [10.0.0.0/24]\npodCIDR: x\nlog: {lvl: debug}\n", { hostname: "h" }),
    ConfigError,
  );
  assertStringIncludes(err.message, "podCIDR: unknown key");
  assertStringIncludes(err.message, "log.lvl: unknown key");
});

Deno.test("parseConfig() rejects a wrong type, naming the value", () => {
  const err = assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24, 7]\n", { hostname: "h" }),
    ConfigError,
  );
  assertStringIncludes(err.message, "podCIDRs[1]: expected string: got 7");
});

Deno.test("parseConfig() refuses a hostname that is no valid node name when nodeName is unset", () => {
  const err = assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\n", { hostname: "bad_host" }),
    ConfigError,
  );
  assertStringIncludes(err.message, 'nodeName: is not set and the hostname "bad_host"');
});

Deno.test("parseConfig() treats an empty file as missing podCIDRs", () => {
  assertThrows(() => parseConfig("", { hostname: "h" }), ConfigError, "podCIDRs: is required");
});

Deno.test("loadConfig() names a missing file and how to fix it", async () => {
  await assertRejects(
    () => loadConfig("/nonexistent/ternd.yaml"),
    ConfigError,
    "Invalid config /nonexistent/ternd.yaml: cannot read it: the file does not exist",
  );
});

Deno.test("loadConfig() reads through the injected reader and hostname", async () => {
  const config = await loadConfig("/x.yaml", {
    readTextFile: () => Promise.resolve("podCIDRs: [192.168.0.0/30]"),
    hostname: () => "box",
  });
  assertEquals(config.nodeName, "box");
  assertEquals(config.podCIDRs, ["192.168.0.0/30"]);
});

Deno.test("parseConfig() refuses a gc.interval under 100ms and a bare number", () => {
  assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\ngc: {interval: 10ms}\n", { hostname: "h" }),
    ConfigError,
    'gc.interval: "10ms" is too short: must be at least 100ms',
  );
  assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\ngc: {gracePeriod: 60}\n", { hostname: "h" }),
    ConfigError,
    "gc.gracePeriod: 60 is not a duration",
  );
});

Deno.test("parseConfig() accepts the DaemonSet's ConfigMap, naming the node from NODE_NAME", async () => {
  const { parse } = await import("yaml");
  const manifest = parse(
    await Deno.readTextFile(new URL("../deploy/20-configmap.yaml", import.meta.url)),
  ) as { data: Record<string, string> };
  const text = manifest.data["ternd.yaml"];
  assert(text !== undefined);
  const config = parseConfig(text, { hostname: "ip-10-0-0-1", nodeNameEnv: "node-7" });
  assertEquals(config.nodeName, "node-7");
  assertEquals(config.cluster, {
    source: "kubernetes",
    podCIDRWaitMs: 60_000,
    syncWaitMs: 8_000,
    publishPodIPs: true,
  });
});

Deno.test("parseConfig() takes nodeName over NODE_NAME over the hostname, and checks NODE_NAME", () => {
  const text = "cluster: {source: kubernetes, kubeconfig: /etc/tern/kubeconfig}\n";
  assertEquals(
    parseConfig(`nodeName: a\n${text}`, { hostname: "c", nodeNameEnv: "b" }).nodeName,
    "a",
  );
  assertEquals(parseConfig(text, { hostname: "c", nodeNameEnv: "b" }).nodeName, "b");
  assertEquals(parseConfig(text, { hostname: "C", nodeNameEnv: "" }).nodeName, "c");
  const err = assertThrows(
    () => parseConfig(text, { hostname: "c", nodeNameEnv: "Not_A_Node" }),
    ConfigError,
  );
  assertStringIncludes(err.message, 'NODE_NAME "Not_A_Node" is not a valid node name');
});

Deno.test("parseConfig() reads ipam.mode blocks and its warm targets", () => {
  const config = parseConfig(
    [
      "cluster: { source: kubernetes }",
      "ipam:",
      "  mode: blocks",
      "  blocks: { warmIPTarget: 20, minimumIPTarget: 40, maxBlocks: 4, releaseCooldown: 1m, nodeGracePeriod: 10m }",
    ].join("\n"),
    { hostname: "n1" },
  );
  assertEquals(config.ipam, {
    releaseCooldownMs: 30_000,
    mode: "blocks",
    blocks: {
      warmIPTarget: 20,
      minimumIPTarget: 40,
      maxBlocks: 4,
      releaseCooldownMs: 60_000,
      nodeGracePeriodMs: 600_000,
      intervalMs: 30_000,
    },
  });
});

Deno.test("parseConfig() refuses blocks mode without the Kubernetes API, or with podCIDRs", () => {
  assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\nipam: { mode: blocks }\n", { hostname: "n" }),
    ConfigError,
    'ipam.mode: "blocks" needs the Kubernetes API: set cluster.source: kubernetes',
  );
  assertThrows(
    () =>
      parseConfig(
        "podCIDRs: [10.0.0.0/24]\ncluster: { source: kubernetes }\nipam: { mode: blocks }\n",
        { hostname: "n" },
      ),
    ConfigError,
    "podCIDRs: must be absent with ipam.mode: blocks",
  );
  assertThrows(
    () =>
      parseConfig("cluster: { source: kubernetes }\nipam: { blocks: { maxBlocks: 0 } }\n", {
        hostname: "n",
      }),
    ConfigError,
    "ipam.blocks.maxBlocks: 0 must be an integer 1..65536",
  );
});

Deno.test("parseConfig() refuses a duration longer than a timer can wait (2^31-1 ms)", () => {
  // setTimeout fires at once for a longer delay: gc.interval 1000h would sweep every millisecond.
  assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\ngc: {interval: 1000h}\n", { hostname: "h" }),
    ConfigError,
    'gc.interval: "1000h" is too long: must be at most 596h31m23s647ms',
  );
  assertEquals(
    parseConfig("podCIDRs: [10.0.0.0/24]\ngc: {gracePeriod: 596h}\n", { hostname: "h" }).gc
      .gracePeriodMs,
    596 * 3_600_000,
  );
});

Deno.test("parseConfig() reports an alias without an anchor as a ConfigError", () => {
  assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\nsocket: *nowhere\n", { hostname: "h" }),
    ConfigError,
    "Invalid config /etc/tern/ternd.yaml: not valid YAML: Unresolved alias",
  );
});

Deno.test("parseConfig() reads the metrics section: a TCP address to serve them on, the counters' interval", () => {
  const parse = (metrics: string) =>
    parseConfig(`podCIDRs: [10.244.1.0/24]\nmetrics: ${metrics}\n`, { hostname: "h" }).metrics;
  assertEquals(parse('{listen: "[::1]:9464", policyCountersInterval: 0}'), {
    listen: { hostname: "::1", port: 9464 },
    policyCountersIntervalMs: 0,
  });
  assertEquals(parse("{policyCountersInterval: 2m}"), { policyCountersIntervalMs: 120_000 });
  const err = assertThrows(() => parse("{policyCountersInterval: 10ms}"), ConfigError);
  assertStringIncludes(err.message, "metrics.policyCountersInterval: 10ms is too short");
});

Deno.test("parseListenAddress() takes an IPv4 or bracketed IPv6 address and a port 1..65535", () => {
  assertEquals(parseListenAddress("0.0.0.0:9464"), { hostname: "0.0.0.0", port: 9464 });
  assertEquals(parseListenAddress("[fd00::1]:80"), { hostname: "fd00::1", port: 80 });
  for (
    const bad of [
      "9464",
      ":9464",
      "localhost:9464",
      "1.2.3.4",
      "1.2.3.4:0",
      "1.2.3.4:65536",
      "300.1.1.1:80",
      "::1:80",
      "[::g]:80",
      "[1::2::3]:80",
    ]
  ) {
    assertEquals(parseListenAddress(bad), undefined, bad);
  }
});

Deno.test("parseConfig() refuses a log.format other than text or json, naming both", () => {
  const err = assertThrows(
    () => parseConfig("podCIDRs: [10.0.0.0/24]\nlog: {format: xml}\n", { hostname: "h" }),
    ConfigError,
  );
  assertStringIncludes(err.message, "log.format:");
  assertStringIncludes(err.message, '"text"');
  assertStringIncludes(err.message, '"json"');
});

import { assertEquals, assertRejects, assertThrows } from "../../test/assert.ts";
import { ClusterState } from "../../src/cluster/state.ts";
import type { Node, Snapshot } from "../../src/cluster/types.ts";
import { PodCIDRError, resolvePodCIDRs, waitForPodCIDRs } from "./pod_cidrs.ts";

function node(name: string, podCIDRs: string[]): Node {
  return { kind: "Node", name, labels: {}, addresses: [], podCIDRs };
}

function snapshot(nodes: Node[]): Snapshot {
  return {
    resourceVersion: "1",
    nodes,
    pods: [],
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: [],
  };
}

const where = { nodeName: "node-a", source: "files:/c", configFile: "/etc/tern/ternd.yaml" };

Deno.test("resolvePodCIDRs() takes the config's when the Node agrees or has none, in any order", () => {
  assertEquals(resolvePodCIDRs(["10.244.1.0/24"], undefined, where), {
    podCIDRs: ["10.244.1.0/24"],
    from: "config",
  });
  assertEquals(
    resolvePodCIDRs(
      ["10.245.0.0/24", "10.244.1.0/24"],
      node("node-a", ["10.244.1.0/24", "fd00::/64", "10.245.0.0/24"]),
      where,
    ),
    { podCIDRs: ["10.245.0.0/24", "10.244.1.0/24"], from: "config" },
  );
  assertEquals(resolvePodCIDRs(["10.244.1.0/24"], node("node-a", []), where), {
    podCIDRs: ["10.244.1.0/24"],
    from: "config",
  });
});

Deno.test("resolvePodCIDRs() refuses a config and a Node that disagree, naming both", () => {
  assertThrows(
    () => resolvePodCIDRs(["10.244.1.0/24"], node("node-a", ["10.244.2.0/24"]), where),
    PodCIDRError,
    "Pod CIDRs disagree: podCIDRs in /etc/tern/ternd.yaml is 10.244.1.0/24 but Node node-a in files:/c has 10.244.2.0/24",
  );
});

Deno.test("resolvePodCIDRs() learns the Node's IPv4 CIDRs in its order, or says what is missing", () => {
  assertEquals(
    resolvePodCIDRs([], node("node-a", ["10.244.7.0/24", "fd00::/64", "10.200.0.0/26"]), where),
    {
      podCIDRs: ["10.244.7.0/24", "10.200.0.0/26"],
      from: "node",
    },
  );
  assertEquals(resolvePodCIDRs([], undefined, where), {
    waiting: "no Node named node-a in files:/c",
  });
  assertEquals(resolvePodCIDRs([], node("node-a", ["fd00::/64"]), where), {
    waiting: "Node node-a in files:/c has no IPv4 pod CIDR (spec.podCIDRs)",
  });
});

Deno.test("waitForPodCIDRs() resolves when the Node gets its pod CIDR", async () => {
  const state = new ClusterState();
  state.reset(snapshot([node("node-b", ["10.244.2.0/24"])]));
  const logged: string[] = [];
  const wait = waitForPodCIDRs(state, {
    ...where,
    configured: [],
    timeoutMs: 5_000,
    log: {
      debug() {},
      info: (m, f) => logged.push(`${m} ${JSON.stringify(f)}`),
      warn() {},
      error() {},
    },
  });
  state.apply({ type: "added", resource: node("node-a", []), resourceVersion: "2" });
  state.apply({
    type: "modified",
    resource: node("node-a", ["10.244.1.0/24"]),
    resourceVersion: "3",
  });
  assertEquals(await wait, { podCIDRs: ["10.244.1.0/24"], from: "node" });
  assertEquals(logged, [
    'Waiting for this node\'s pod CIDR {"why":"no Node named node-a in files:/c","timeoutMs":5000}',
  ]);
});

Deno.test("waitForPodCIDRs() gives up after its bound with what was missing, and stops on abort", async () => {
  const state = new ClusterState();
  state.reset(snapshot([node("node-a", [])]));
  await assertRejects(
    () => waitForPodCIDRs(state, { ...where, configured: [], timeoutMs: 30 }),
    PodCIDRError,
    "No pod CIDR for this node after 30 ms: Node node-a in files:/c has no IPv4 pod CIDR (spec.podCIDRs): give the Node spec.podCIDRs, or set podCIDRs in /etc/tern/ternd.yaml",
  );
  const stop = new AbortController();
  const waiting = waitForPodCIDRs(state, {
    ...where,
    configured: [],
    timeoutMs: 5_000,
    signal: stop.signal,
  });
  stop.abort(new Error("Stopped"));
  await assertRejects(() => waiting, Error, "Stopped");
});

Deno.test("waitForPodCIDRs() does not wait when the config gives them, and fails at once on disagreement", async () => {
  const state = new ClusterState();
  assertEquals(
    await waitForPodCIDRs(state, { ...where, configured: ["10.244.1.0/24"], timeoutMs: 0 }),
    {
      podCIDRs: ["10.244.1.0/24"],
      from: "config",
    },
  );
  state.reset(snapshot([node("node-a", ["10.244.3.0/24"])]));
  await assertRejects(
    () => waitForPodCIDRs(state, { ...where, configured: ["10.244.1.0/24"], timeoutMs: 0 }),
    PodCIDRError,
    "Pod CIDRs disagree",
  );
});

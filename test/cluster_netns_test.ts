/**
 * Kernel tests across nodes (issue 3): a sandbox cluster of nodes joined by a fabric, a `ternd`
 * on each that learns the cluster from its source, pods wired through libcni. Every wait polls a
 * condition with a deadline; nothing asserts after a fixed sleep. Needs root.
 *
 * Each test runs on the `files` source; those whose subject is the cluster's state (nodes
 * joining, leaving and conflicting, pods and their labels) run on `kubernetes` too, against the
 * fake API server, with the same fixture. The others (repairs from netlink, foreign routes,
 * native mode) test the kernel side, which does not depend on the source. The kubernetes runs
 * are skipped, with the reason, while the daemon does not take that source.
 */
import { assert, assertEquals } from "./assert.ts";
import { pollUntil } from "./poll.ts";
import { pingMatrix, sourceMatrix } from "./reachability.ts";
import { askPeer, startPeerEcho } from "./peer_echo.ts";
import {
  CLUSTER_SOURCES,
  type ClusterMode,
  type ClusterSource,
  formatRoute,
  SandboxCluster,
  sourceUnsupported,
  TERN_PROTO,
} from "./sandbox_cluster.ts";
import type { SandboxNode } from "./sandbox.ts";

/** Peer-route changes must show within ~1 s (issue 3); the deadline leaves room for a busy CI. */
const ROUTE_DEADLINE_MS = 3000;
/**
 * Repairs must come from netlink events, not from the periodic pass: the deadline is well under
 * the periodic interval the clusters below use (30 s).
 */
const REPAIR_DEADLINE_MS = 5000;
const PERIODIC = "30s";

/** Why each source cannot run here (undefined: it can). */
const unsupported = new Map<ClusterSource, string | undefined>();
for (const source of CLUSTER_SOURCES) {
  unsupported.set(source, await sourceUnsupported(source));
  const reason = unsupported.get(source);
  if (reason !== undefined) {
    console.warn(`Skipping the cross-node tests on the ${source} source: ${reason}`);
  }
}

interface ClusterOptions {
  mode?: ClusterMode;
  reconcileInterval?: string;
  /** The sources to run on (default `files` only). */
  sources?: readonly ClusterSource[];
}

/** One test per source in `options.sources`, each on a fresh cluster; `[source]` in the name. */
function clusterTest(
  name: string,
  options: ClusterOptions,
  fn: (cluster: SandboxCluster) => Promise<void>,
) {
  for (const source of options.sources ?? ["files"]) {
    Deno.test({
      name: source === "files" ? name : `${name} [${source}]`,
      ignore: unsupported.get(source) !== undefined,
      fn: () => withCluster({ ...options, source }, fn),
    });
  }
}

async function withCluster(
  options: ClusterOptions & { source: ClusterSource },
  fn: (cluster: SandboxCluster) => Promise<void>,
) {
  const cluster = await SandboxCluster.create({
    source: options.source,
    reconcileInterval: options.reconcileInterval ?? PERIODIC,
    ...(options.mode ? { mode: options.mode } : {}),
  });
  try {
    await fn(cluster);
  } catch (err) {
    for (const node of cluster.nodes) {
      console.error(`--- ${node.name} daemon log\n${await cluster.sb.daemonLog(node)}`);
    }
    throw err;
  } finally {
    await cluster.cleanup();
  }
}

/** What `routes` mode should install on `node`: every other node's pod CIDRs via its address. */
function expectedPeerRoutes(cluster: SandboxCluster, node: SandboxNode): string[] {
  return cluster.nodes.filter((n) => n !== node).flatMap((n) =>
    cluster.podCIDRs(n).map((cidr) => `${cidr} via ${n.nodeIp}`)
  ).sort();
}

/** Waits until every node's peer routes are exactly `expected(node)`; returns the time it took. */
async function peerRoutesSettle(
  cluster: SandboxCluster,
  nodes: SandboxNode[],
  expected: (node: SandboxNode) => string[] = (n) => expectedPeerRoutes(cluster, n),
  timeoutMs = ROUTE_DEADLINE_MS,
): Promise<number> {
  const { ms } = await pollUntil(async () => {
    for (const node of nodes) {
      const have = await cluster.peerRoutes(node);
      if (JSON.stringify(have) !== JSON.stringify(expected(node))) return false;
    }
    return true;
  }, {
    what: `peer routes on ${nodes.map((n) => n.name).join(", ")}`,
    timeoutMs,
    lastSeen: async () =>
      Object.fromEntries(
        await Promise.all(nodes.map(async (n) => [n.name, {
          have: await cluster.peerRoutes(n),
          want: expected(n),
        }])),
      ),
  });
  return ms;
}

clusterTest(
  "routes mode: pods on three nodes reach every pod and node, and receivers see the sender's pod address",
  { sources: CLUSTER_SOURCES },
  async (cluster) => {
    const nodes = await cluster.addNodes(["node-1", "node-2", "node-3"]);
    for (const node of nodes) {
      await cluster.addPod(node, `a${node.index}`);
      await cluster.addPod(node, `b${node.index}`);
    }
    // Each daemon learned its pod CIDR from its Node manifest (the configs name none).
    for (const node of nodes) {
      assertEquals((await cluster.status(node)).routing?.podCIDRsFrom, "node");
    }
    for (const pod of cluster.pods) {
      assert(
        pod.ip!.startsWith(`10.244.${pod.node.index}.`),
        `${pod.name} on ${pod.node.name} got ${pod.ip}, outside 10.244.${pod.node.index}.0/24`,
      );
    }
    await peerRoutesSettle(cluster, nodes);

    const pods = cluster.podEndpoints();
    const all = [...pods, ...nodes.map((n) => ({ name: n.name, netns: n.netns, ip: n.nodeIp }))];
    const pings = await pingMatrix(cluster.sb, all);
    assertEquals(pings.filter((c) => !c.ok), [], "every pod and node pings every other");
    assertEquals(pings.length, all.length * (all.length - 1));

    // No pod is bound to an egress table: not one rule of tern's on any node, so no route lookup
    // there walks a rule list.
    for (const node of nodes) assertEquals(await cluster.ternRules(node), [], node.name);

    await cluster.startPeerEchos(pods.map((p) => p.netns));
    const seen = await sourceMatrix(cluster.sb, pods);
    assertEquals(seen.filter((c) => !c.ok), [], "every receiver saw the sender's own address");
    assertEquals(seen.length, 30);

    if (cluster.apiServer) {
      // Each daemon published its pods' addresses on their Pods, as a pod annotation.
      for (const pod of cluster.pods) {
        const ref = { apiVersion: "v1", kind: "Pod", namespace: pod.namespace, name: pod.name };
        let published = "";
        await pollUntil(async () => {
          const obj = await cluster.apiServer!.objects.get(ref);
          published = obj?.metadata.annotations?.["tern.dev/pod-ips"] ?? "";
          return published.includes(pod.ip!);
        }, {
          what: `${pod.name}'s address ${pod.ip} in its tern.dev/pod-ips annotation`,
          timeoutMs: ROUTE_DEADLINE_MS,
          lastSeen: () => published,
        });
      }
      return;
    }
    // Each daemon published its endpoints for the others, one file per node.
    for (const node of nodes) {
      const text = await Deno.readTextFile(`${cluster.dir}/endpoints-${node.name}.yaml`);
      for (const pod of cluster.pods.filter((p) => p.node === node)) {
        assert(text.includes(`ip: ${pod.ip}`), `endpoints-${node.name}.yaml lists ${pod.ip}`);
        assert(text.includes(`podName: ${pod.name}`), `and names ${pod.name}: ${text}`);
      }
    }
  },
);

clusterTest(
  "a node that leaves takes its peer routes with it, and a node that joins is routed to",
  { sources: CLUSTER_SOURCES },
  async (cluster) => {
    const [n1, n2, n3] = await cluster.addNodes(["node-1", "node-2", "node-3"]) as [
      SandboxNode,
      SandboxNode,
      SandboxNode,
    ];
    const p1 = await cluster.addPod(n1, "p1");
    await peerRoutesSettle(cluster, [n1, n2, n3]);

    await cluster.removeNode(n3);
    const leftMs = await peerRoutesSettle(cluster, [n1, n2]);
    assertEquals(await cluster.peerRoutes(n1), ["10.244.2.0/24 via 10.98.0.2"]);
    assertEquals(await cluster.peerRoutes(n2), ["10.244.1.0/24 via 10.98.0.1"]);

    // The Node manifest alone makes the others route to the newcomer, before its daemon runs.
    const n4 = await cluster.addNode("node-4", { start: false });
    const joinedMs = await peerRoutesSettle(cluster, [n1, n2]);
    assertEquals(await cluster.peerRoutes(n1), [
      "10.244.2.0/24 via 10.98.0.2",
      "10.244.4.0/24 via 10.98.0.4",
    ]);
    await cluster.sb.startDaemon(n4);
    const p4 = await cluster.addPod(n4, "p4");
    await peerRoutesSettle(cluster, [n1, n2, n4]);
    const { ms: reachMs } = await pollUntil(() => cluster.sb.ping(p1.netns, p4.ip!), {
      what: `${p1.name} reaching ${p4.name} on the new node`,
      timeoutMs: ROUTE_DEADLINE_MS,
    });
    console.log(
      `  leave reflected in ${leftMs.toFixed(0)} ms, join in ${joinedMs.toFixed(0)} ms, ` +
        `new pod reachable ${reachMs.toFixed(0)} ms after that`,
    );
  },
);

clusterTest(
  "deleted or changed peer routes and host routes are put back from netlink events, and a stray rule is taken away",
  {},
  async (cluster) => {
    const [n1, n2] = await cluster.addNodes(["node-1", "node-2"]) as [SandboxNode, SandboxNode];
    const pod = await cluster.addPod(n1, "web");
    await cluster.addPod(n2, "db");
    await peerRoutesSettle(cluster, [n1, n2]);
    const hostRouteOf = (r: string) => r.startsWith(`${pod.ip} dev tern`);
    await pollUntil(async () => (await cluster.ternRoutes(n1)).some(hostRouteOf), {
      what: `the host route of ${pod.ip} on node-1`,
      lastSeen: () => cluster.ternRoutes(n1),
    });
    const routes = await cluster.ternRoutes(n1);
    const rules = await cluster.ternRules(n1);
    assertEquals(rules, [], "no pod is bound: no rule");
    assert(routes.includes("10.244.2.0/24 via 10.98.0.2"), JSON.stringify(routes));
    assert(routes.includes("unreachable 10.244.1.0/24"), JSON.stringify(routes));
    const hostRoute = routes.find(hostRouteOf);
    assert(hostRoute, JSON.stringify(routes));

    const breakages: [string, string[]][] = [
      ["peer route deleted", ["ip", "route", "del", "10.244.2.0/24"]],
      ["peer route changed", [
        "ip",
        "route",
        "replace",
        "10.244.2.0/24",
        "via",
        "10.98.0.99",
        "proto",
        String(TERN_PROTO),
      ]],
      ["host route deleted", ["ip", "route", "del", `${pod.ip}/32`]],
      // What an earlier version installed for every pod: unwanted now, so it goes.
      ["stray rule of ours added", [
        "ip",
        "rule",
        "add",
        "to",
        pod.ip!,
        "lookup",
        "main",
        "priority",
        "512",
        "proto",
        String(TERN_PROTO),
      ]],
      ["own pod CIDR's unreachable route deleted", [
        "ip",
        "route",
        "del",
        "unreachable",
        "10.244.1.0/24",
      ]],
    ];
    for (const [what, argv] of breakages) {
      const out = await cluster.sb.exec(n1.netns, argv);
      assertEquals(out.code, 0, `${what}: ${out.stderr}`);
      const { ms } = await pollUntil(async () => {
        const [r, u] = await Promise.all([cluster.ternRoutes(n1), cluster.ternRules(n1)]);
        return JSON.stringify(r) === JSON.stringify(routes) &&
          JSON.stringify(u) === JSON.stringify(rules);
      }, {
        what: `repair after ${what}`,
        timeoutMs: REPAIR_DEADLINE_MS,
        lastSeen: async () => ({
          routes: await cluster.ternRoutes(n1),
          rules: await cluster.ternRules(n1),
        }),
      });
      console.log(`  ${what}: repaired in ${ms.toFixed(0)} ms`);
    }
    assert(
      (await cluster.ternRoutes(n1)).includes(hostRoute),
      "the host route came back on its veth",
    );
    assert(await cluster.sb.ping(pod.netns, cluster.pods[1]!.ip!), "web reaches db again");
  },
);

clusterTest(
  "routes and rules that tern does not own survive every pass",
  // A short periodic interval, so that many full passes run while the test watches.
  { reconcileInterval: "1s" },
  async (cluster) => {
    const [n1, n2] = await cluster.addNodes(["node-1", "node-2"]) as [SandboxNode, SandboxNode];
    const pod = await cluster.addPod(n1, "p1");
    await peerRoutesSettle(cluster, [n1, n2]);
    const foreignRoutes = [
      // Inside the cluster CIDR but nobody's pod CIDR, with another protocol.
      "10.244.99.0/24 via 10.98.0.2 proto static",
      // Elsewhere, in the main table and in a table tern might use.
      "192.0.2.0/24 via 10.98.0.2",
      "198.51.100.0/24 via 10.98.0.2 table 100",
      // A host route for an address in this node's pod CIDR that tern never handed out.
      "10.244.1.250 dev fab0 proto static",
    ];
    const foreignRules = [
      "from 192.0.2.0/24 lookup 100 priority 3000",
      // tern's own priorities, but not tern's protocol.
      "to 10.244.1.251 lookup main priority 512",
      "from 10.244.1.252 lookup 100 priority 1536",
    ];
    for (const r of foreignRoutes) {
      const out = await cluster.sb.exec(n1.netns, ["ip", "route", "add", ...r.split(" ")]);
      assertEquals(out.code, 0, `${r}: ${out.stderr}`);
    }
    for (const r of foreignRules) {
      const out = await cluster.sb.exec(n1.netns, ["ip", "rule", "add", ...r.split(" ")]);
      assertEquals(out.code, 0, `${r}: ${out.stderr}`);
    }
    const snapshot = async () => {
      const main = await cluster.sb.exec(n1.netns, ["ip", "-4", "route", "show", "table", "all"]);
      const rules = await cluster.sb.exec(n1.netns, ["ip", "-4", "rule", "show"]);
      return {
        routes: main.stdout.split("\n").filter((l) => !l.includes("proto 116")).filter(Boolean)
          .filter((l) => !/ table local /.test(l) && !l.startsWith("local ")),
        rules: rules.stdout.split("\n").filter((l) => !l.includes("proto 116")).filter(Boolean),
      };
    };
    const before = await snapshot();
    assertEquals(before.routes.filter((l) => l.includes("10.244.99.0/24")).length, 1);

    // Passes of every kind: netlink events (a deleted tern route), cluster changes (a node
    // joins and leaves), a pod added and deleted, and periodic passes (1 s) all along.
    await cluster.sb.exec(n1.netns, ["ip", "route", "del", "10.244.2.0/24"]);
    await peerRoutesSettle(cluster, [n1, n2], undefined, REPAIR_DEADLINE_MS);
    const n3 = await cluster.addNode("node-3");
    await peerRoutesSettle(cluster, [n1, n2, n3]);
    const extra = await cluster.addPod(n1, "p2");
    await cluster.removePod(extra);
    await cluster.removeNode(n3);
    await peerRoutesSettle(cluster, [n1, n2]);
    // At least two more full passes (periodic, 1 s) after the last change.
    await cluster.morePasses(n1, { count: 2 });

    assertEquals(await snapshot(), before, "nothing tern does not own changed");
    assert(await cluster.sb.ping(n1.netns, pod.ip!), "and tern's own pod still works");
  },
);

clusterTest(
  "an egress table carries a bound pod's traffic; an unbound pod cannot reach what only the table routes",
  { sources: CLUSTER_SOURCES },
  async (cluster) => {
    const n1 = await cluster.addNode("node-1", {
      start: false,
      routing: { egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1", dev: "eg0" }] },
    });
    const egress = await cluster.addEgress(n1);
    await cluster.sb.startDaemon(n1);
    const n2 = await cluster.addNode("node-2");
    const byLabel = await cluster.addPod(n1, "by-label", {
      labels: { app: "crawler", "tern.dev/egress-table": "egress-a" },
    });
    const byAnnotation = await cluster.addPod(n1, "by-annotation", {
      annotations: { "tern.dev/egress-table": "egress-a" },
    });
    const unbound = await cluster.addPod(n1, "unbound", { labels: { app: "crawler" } });
    const remote = await cluster.addPod(n2, "remote");
    await peerRoutesSettle(cluster, [n1, n2]);

    const want = [
      `1536 from ${byAnnotation.ip} lookup 100`,
      `1536 from ${byLabel.ip} lookup 100`,
    ];
    await pollUntil(async () => {
      const rules = await cluster.ternRules(n1);
      return want.every((w) => rules.includes(w)) &&
        !rules.some((r) => r.includes(`from ${unbound.ip} `));
    }, { what: "the egress rules on node-1", lastSeen: () => cluster.ternRules(n1) });
    // With the `from` rules: the local pod CIDR and the cluster CIDR stay on the main table, and
    // no per-pod `to` rule (every local pod is inside the pod CIDR).
    assertEquals(
      await cluster.ternRules(n1),
      [
        ...want,
        "512 to 10.244.0.0/16 lookup 254",
        "512 to 10.244.1.0/24 lookup 254",
      ].sort(),
    );
    assertEquals(await cluster.ternRules(n2), [], "node-2 has no binding: no rule");
    const table = await cluster.routes(n1, { table: "100" });
    assertEquals(
      table.map((r) => [r.dst, r.gateway, r.dev, r.protocol]),
      [["default", "10.97.0.1", "eg0", String(TERN_PROTO)]],
    );

    const server = await startPeerEcho(egress.netns);
    try {
      for (const pod of [byLabel, byAnnotation]) {
        assertEquals(
          await askPeer(cluster.sb, pod.netns, egress.destination),
          pod.ip,
          `${pod.name} reaches ${egress.destination} through table 100, unNATed`,
        );
      }
      assertEquals(await askPeer(cluster.sb, unbound.netns, egress.destination), undefined);
      // Bound pods reach the pods of their own node: the pod CIDR stays on the main table.
      assert(await cluster.sb.ping(byLabel.netns, unbound.ip!), "bound pod reaches a local pod");
      assert(await cluster.sb.ping(unbound.netns, byLabel.ip!), "and is reached from it");
      assert(await cluster.sb.ping(byLabel.netns, byAnnotation.ip!), "and another bound one");
      // Bound pods still reach pods on other nodes: the cluster CIDR stays on the main table.
      assert(await cluster.sb.ping(byLabel.netns, remote.ip!), "bound pod reaches node-2's pod");
      assert(await cluster.sb.ping(remote.netns, byLabel.ip!), "and is reached from it");

      // The table's route and a pod's egress rule are tern's too: deleted, they come back.
      const owned = async () => ({
        table: (await cluster.routes(n1, { table: "100" })).map(formatRoute),
        rules: await cluster.ternRules(n1),
      });
      const before = await owned();
      await cluster.sb.exec(n1.netns, ["ip", "route", "del", "default", "table", "100"]);
      await cluster.sb.exec(n1.netns, [
        "ip",
        "rule",
        "del",
        "from",
        byAnnotation.ip!,
        "priority",
        "1536",
      ]);
      await pollUntil(async () => JSON.stringify(await owned()) === JSON.stringify(before), {
        what: "table 100's default route and the egress rule back",
        timeoutMs: REPAIR_DEADLINE_MS,
        lastSeen: owned,
      });
      assertEquals(
        await askPeer(cluster.sb, byAnnotation.netns, egress.destination),
        byAnnotation.ip,
      );

      // Unbinding (the label goes) takes the rule away, and the destination with it.
      await cluster.setPodMetadata(byLabel, { labels: { app: "crawler" } });
      await pollUntil(
        async () => !(await cluster.ternRules(n1)).some((r) => r.includes(`from ${byLabel.ip} `)),
        { what: "the unbound pod's rule to go", lastSeen: () => cluster.ternRules(n1) },
      );
      assertEquals(await askPeer(cluster.sb, byLabel.netns, egress.destination), undefined);

      // The last binding goes: every rule of tern's goes with it, and the pods still reach
      // each other and the other node.
      await cluster.setPodMetadata(byAnnotation, { annotations: {} });
      await pollUntil(async () => (await cluster.ternRules(n1)).length === 0, {
        what: "every rule on node-1 to go with the last binding",
        lastSeen: () => cluster.ternRules(n1),
      });
      assertEquals(await askPeer(cluster.sb, byAnnotation.netns, egress.destination), undefined);
      assert(await cluster.sb.ping(byAnnotation.netns, unbound.ip!), "local pods still reach");
      assert(await cluster.sb.ping(byAnnotation.netns, remote.ip!), "and node-2's pod too");
    } finally {
      await server.stop();
    }
  },
);

clusterTest(
  "native mode installs no peer routes; the underlay carries pods across nodes",
  { mode: "native", reconcileInterval: "1s" },
  async (cluster) => {
    const nodes = await cluster.addNodes(["node-1", "node-2", "node-3"]);
    for (const node of nodes) await cluster.addPod(node, `p${node.index}`);
    // Full passes have run since the last pod came: whatever tern would install is there.
    await Promise.all(nodes.map((n) => cluster.morePasses(n, { count: 2 })));
    const pods = cluster.podEndpoints();
    const pings = await pingMatrix(cluster.sb, pods);
    assertEquals(pings.filter((c) => !c.ok), [], "pods reach each other through the underlay");
    for (const node of nodes) {
      // No peer route: tern's routes on the node are its own pods' host routes and the
      // route of last resort for its own pod CIDR, and its status says why (mode native,
      // peers known but not routed).
      const mine = cluster.pods.filter((p) => p.node === node).map((p) => p.ip!);
      assertEquals(await cluster.peerRoutes(node), []);
      assertEquals(
        (await cluster.routes(node, { proto: TERN_PROTO })).map((r) => r.dst).sort(),
        [...mine, ...cluster.podCIDRs(node)].sort(),
      );
      assertEquals(
        (await cluster.routes(node, { proto: TERN_PROTO })).filter((r) => r.gateway),
        [],
      );
      assertEquals(await cluster.ternRules(node), [], "no binding, no rule");
      const routing = (await cluster.status(node)).routing!;
      assertEquals(routing.mode, "native");
      assertEquals(routing.peers.map((p) => [p.node, p.routed]).sort(), [
        ...nodes.filter((n) => n !== node).map((n) => [n.name, []]),
      ]);
    }
  },
);

clusterTest(
  "duplicate and overlapping pod CIDRs are not installed, and the routes return when the conflict goes",
  { sources: CLUSTER_SOURCES },
  async (cluster) => {
    const [n1, n2, n3] = await cluster.addNodes(["node-1", "node-2", "node-3"]) as [
      SandboxNode,
      SandboxNode,
      SandboxNode,
    ];
    await peerRoutesSettle(cluster, [n1, n2, n3]);
    // node-8 duplicates node-3's CIDR; node-9 sits inside node-2's. Neither has a daemon: a
    // conflicting Node object is enough.
    await cluster.writeNode("node-8", { podCIDRs: ["10.244.3.0/24"], internalIP: "10.98.0.8" });
    await cluster.writeNode("node-9", { podCIDRs: ["10.244.2.0/25"], internalIP: "10.98.0.9" });
    // Both sides of each conflict are left out everywhere: node-1 routes to neither node-2 nor
    // node-3; node-2 and node-3, whose own CIDRs are in conflict, route only to node-1.
    await peerRoutesSettle(
      cluster,
      [n1, n2, n3],
      (node) => node === n1 ? [] : ["10.244.1.0/24 via 10.98.0.1"],
    );
    for (const node of [n1, n2, n3]) {
      const problems = (await cluster.status(node)).routing!.problems;
      const conflicts = problems.filter((p) => p.kind === "cidr_conflict").map((p) => p.message);
      assertEquals(conflicts.length, 2, `${node.name} reports both conflicts: ${conflicts}`);
      assert(conflicts.some((m) => m.includes("node-9") && m.includes("10.244.2.0/25")));
      assert(conflicts.some((m) => m.includes("node-8") && m.includes("10.244.3.0/24")));
    }

    await cluster.removeNodeObject("node-8");
    await cluster.removeNodeObject("node-9");
    await peerRoutesSettle(cluster, [n1, n2, n3]);
  },
);

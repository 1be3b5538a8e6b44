/**
 * `deno task demo`: a small cluster in network namespaces. Three nodes joined by a fabric (a
 * bridge in its own namespace), a `ternd` on each that learns the cluster (its own pod CIDR
 * included) from a shared directory of Kubernetes-style manifests or an API server, a few pods on each wired by tern
 * through the path a container runtime uses (the libcni driver and the node's conflist: tern,
 * then portmap). Prints the pods, the peer routes, a reachability matrix across nodes and who
 * saw which source address (no NAT), deletes a peer route and shows it come back, then tears
 * everything down. Needs root. `TERN_DEMO_PODS` sets the pods per node (default 2).
 *
 * `--source files|kubernetes` (default `files`): where the daemons learn the cluster from, the
 * shared directory or the fake API server in the fabric (each ternd with a kubeconfig).
 * @module
 */
import { type SandboxNode, type SandboxPod } from "../test/sandbox.ts";
import { type ClusterSource, SandboxCluster } from "../test/sandbox_cluster.ts";
import { formatMatrix, pingMatrix, sourceMatrix } from "../test/reachability.ts";
import { pollUntil } from "../test/poll.ts";
import { demoPolicy, demoSource } from "./demo_policy.ts";

const PODS_PER_NODE = Number(Deno.env.get("TERN_DEMO_PODS") ?? 2);
const NODES = ["node-1", "node-2", "node-3"];

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

async function main(source: ClusterSource): Promise<number> {
  const started = performance.now();
  const cluster = await SandboxCluster.create({ source });
  const sb = cluster.sb;
  try {
    console.log(`tern demo: sandbox ${sb.prefix} (every object carries this prefix)`);
    console.log(
      `fabric: netns ${cluster.fabric.netns}, bridge ${cluster.fabric.bridge}, ` +
        `${cluster.fabric.subnetPrefix}.0/${cluster.fabric.prefixLen}; ` +
        (cluster.apiServer
          ? `cluster source kubernetes: the API server at ${cluster.apiServer.url}`
          : `cluster source files: ${cluster.dir}`),
    );
    const nodes = await cluster.addNodes(NODES);
    for (const node of nodes) {
      const status = await cluster.status(node);
      console.log(
        `${node.name}: InternalIP ${node.nodeIp}, pod CIDR ${
          status.pools.map((p) => p.cidr).join(", ")
        } (from its ${status.routing?.podCIDRsFrom === "node" ? "Node" : "config"}), ` +
          `ternd pid ${node.daemon?.pid}, mode ${status.routing?.mode}`,
      );
    }

    console.log(`\npods (ADD via libcni: tern + portmap, K8S_POD_NAMESPACE/NAME in CNI_ARGS):`);
    console.log(`  ${"pod".padEnd(12)} ${"node".padEnd(8)} ${"ip".padEnd(13)} host veth`);
    const pods: SandboxPod[] = [];
    for (const node of nodes) {
      for (let i = 1; i <= PODS_PER_NODE; i++) {
        const pod = await cluster.addPod(node, `web-${node.index}${i}`, {
          labels: { app: "web" },
        });
        const veth = (await cluster.routes(node, { table: "main" }))
          .find((r) => r.dst === pod.ip)?.dev ?? "?";
        console.log(
          `  ${pod.name.padEnd(12)} ${node.name.padEnd(8)} ${pod.ip!.padEnd(13)} ${veth}`,
        );
        pods.push(pod);
      }
    }

    const want = (node: SandboxNode) =>
      nodes.filter((n) => n !== node).flatMap((n) =>
        cluster.podCIDRs(n).map((c) => `${c} via ${n.nodeIp}`)
      ).sort();
    await pollUntil(async () => {
      for (const node of nodes) {
        if (JSON.stringify(await cluster.peerRoutes(node)) !== JSON.stringify(want(node))) {
          return false;
        }
      }
      return true;
    }, { what: "peer routes on every node", timeoutMs: 10_000 });
    console.log(`\npeer routes (proto 116, installed by each ternd from the Nodes):`);
    for (const node of nodes) {
      console.log(`  ${node.name}: ${(await cluster.peerRoutes(node)).join(", ")}`);
    }

    const endpoints = [
      ...cluster.podEndpoints(pods).map((e) => ({ ...e, name: e.name.split("@")[0]! })),
      ...nodes.map((n) => ({ name: n.name, netns: n.netns, ip: n.nodeIp })),
    ];
    const pings = await pingMatrix(sb, endpoints);
    let failures = pings.filter((c) => !c.ok).length;
    console.log(`\nping matrix (row = from, column = to; ok = reached):`);
    console.log(formatMatrix(endpoints.map((e) => e.name), pings, { width: 9 }));

    const podEndpoints = endpoints.slice(0, pods.length);
    await cluster.startPeerEchos(podEndpoints.map((e) => e.netns));
    const sources = await sourceMatrix(sb, podEndpoints);
    const natted = sources.filter((c) => !c.ok);
    failures += natted.length;
    console.log(
      `\nno NAT: ${sources.length - natted.length} of ${sources.length} pod-to-pod TCP ` +
        `connections arrived with the sender's own pod address`,
    );
    for (const c of natted) {
      console.log(`  ${c.from} -> ${c.to}: receiver saw ${c.seen ?? "nothing"}`);
    }

    const [n1, n2] = nodes as [SandboxNode, SandboxNode];
    const victim = `${cluster.podCIDRs(n2)[0]} via ${n2.nodeIp}`;
    console.log(`\nrepair: on ${n1.name}, ip route del ${cluster.podCIDRs(n2)[0]}`);
    await sb.exec(n1.netns, ["ip", "route", "del", cluster.podCIDRs(n2)[0]!]);
    const { ms } = await pollUntil(async () => (await cluster.peerRoutes(n1)).includes(victim), {
      what: `${victim} back on ${n1.name}`,
      timeoutMs: 15_000,
      intervalMs: 5,
    });
    const pass = (await cluster.status(n1)).routing?.reconcile.lastChange;
    console.log(
      `  back after ${ms.toFixed(0)} ms: ${victim}` +
        (pass
          ? ` (pass triggered by ${pass.trigger}, ${pass.durationMs.toFixed(1)} ms, +${pass.added})`
          : ""),
    );

    console.log("\npolicy: a SecurityGroup, then a NetworkPolicy, taking effect in the matrix");
    await demoPolicy(cluster);

    for (const pod of pods) await sb.driverDel(pod);
    console.log(`\nDEL of ${pods.length} pods done; tearing down the sandbox`);
    console.log(
      `demo finished in ${seconds(started)}: ${
        failures === 0 ? "every pod reached, no NAT" : `${failures} checks FAILED`
      }`,
    );
    return failures === 0 ? 0 : 1;
  } catch (err) {
    for (const node of cluster.nodes) {
      console.error(`--- ${node.name} daemon log\n${await sb.daemonLog(node)}`);
    }
    throw err;
  } finally {
    await cluster.cleanup();
  }
}

const source = await demoSource(Deno.args, "deno task demo");
Deno.exit(source === undefined ? 2 : await main(source));

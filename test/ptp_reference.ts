/**
 * The reference network for comparisons: the CNI project's `ptp` plugin with `host-local` IPAM
 * on the same sandbox fabric as tern, each node with its own range (`10.250.<node index>.0/24`)
 * and hand-made routes between the nodes (`range via node address`, protocol `static`, which
 * tern does not own), as an operator of a host-gw cluster without a CNI daemon would write them.
 * The reference's nodes are either nodes of their own on the fabric ({@linkcode addPtpNode}: no
 * `ternd`, no Node manifest, so nothing of tern's is in their packets' way), or tern's own nodes.
 * Pods are added through the same libcni driver as tern's. No masquerade: pod to pod is direct.
 * @module
 */
import { must, type SandboxNode, type SandboxPod } from "./sandbox.ts";
import type { SandboxCluster } from "./sandbox_cluster.ts";

/** The network name of the reference conflist. */
export const PTP_NET = "ptpref";

/** The reference set up on a cluster: where each node's conflist lives and each node's range. */
export interface PtpReference {
  net: string;
  confDir(node: SandboxNode): string;
  range(node: SandboxNode): string;
}

/** The ptp + host-local conflist for a node (pure). */
export function ptpConflist(
  options: { range: string; dataDir: string; mtu?: number },
): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    name: PTP_NET,
    plugins: [{
      type: "ptp",
      mtu: options.mtu ?? 1500,
      ipMasq: false,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: options.range }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: options.dataDir,
      },
    }],
  };
}

/**
 * Adds a node for the reference alone: on the cluster's fabric (its address `10.98.0.<index>`),
 * IPv4 forwarding on, but no daemon and no Node manifest, so tern's daemons never hear of it.
 */
export async function addPtpNode(cluster: SandboxCluster, name: string): Promise<SandboxNode> {
  const node = await cluster.sb.addNode(name, { fabric: cluster.fabric });
  await must(["ip", "netns", "exec", node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  return node;
}

/**
 * The nftables table that turns on connection tracking for every packet a node forwards, as
 * kube-proxy's rules do on every node of a Kubernetes cluster whatever its CNI (pure): a table of
 * its own named `table`, one `ct state` rule that accepts, nothing dropped.
 */
export function nodeConntrackTable(table: string): string {
  return `table inet ${table} {\n` +
    "  chain forward {\n" +
    "    type filter hook forward priority filter; policy accept;\n" +
    "    ct state established,related accept\n" +
    "  }\n" +
    "}\n";
}

/** The name of the node-conntrack table of a sandbox whose objects are named with `prefix` (pure). */
export function nodeConntrackTableName(prefix: string): string {
  return `${prefix}_kubeproxy`;
}

/**
 * Turns on connection tracking for every packet that `node` forwards ({@linkcode
 * nodeConntrackTable}), in the node's namespace only, in a table named `table` (the sandbox's
 * {@linkcode nodeConntrackTableName}, so that it is told apart from tern's own table).
 */
export async function enableNodeConntrack(node: SandboxNode, table: string): Promise<void> {
  await must(["ip", "netns", "exec", node.netns, "nft", "-f", "-"], {
    stdin: nodeConntrackTable(table),
  });
}

/**
 * Writes the reference conflist on `nodes` (default: every node of `cluster`) and the routes
 * between them. Nodes added later are not covered: call it once the nodes are there.
 */
export async function setUpPtpReference(
  cluster: SandboxCluster,
  options: { mtu?: number; nodes?: SandboxNode[] } = {},
): Promise<PtpReference> {
  const nodes = options.nodes ?? cluster.nodes;
  const range = (node: SandboxNode) => `10.250.${node.index}.0/24`;
  const confDir = (node: SandboxNode) => `${node.dir}/ptp.d`;
  for (const node of nodes) {
    await Deno.mkdir(confDir(node), { recursive: true });
    await Deno.writeTextFile(
      `${confDir(node)}/20-${PTP_NET}.conflist`,
      JSON.stringify(ptpConflist({
        range: range(node),
        dataDir: `${node.dir}/host-local`,
        ...(options.mtu ? { mtu: options.mtu } : {}),
      })),
    );
    const peers = nodes.filter((n) => n !== node);
    if (peers.length) {
      await must(["ip", "-n", node.netns, "-batch", "-"], {
        stdin: peers.map((p) => `route replace ${range(p)} via ${p.nodeIp} proto static\n`)
          .join(""),
      });
    }
  }
  return { net: PTP_NET, confDir, range };
}

/** Adds a pod on `node` wired by the reference (ADD through libcni with the ptp conflist). */
export async function addPtpPod(
  cluster: SandboxCluster,
  ref: PtpReference,
  node: SandboxNode,
  name: string,
): Promise<SandboxPod> {
  const pod = await cluster.sb.addPod(node, name);
  await cluster.sb.driverAdd(pod, { net: ref.net, confDir: ref.confDir(node) });
  return pod;
}

/**
 * A sandbox cluster for the cross-node kernel tests, the demo and the benchmarks: a
 * {@linkcode Sandbox} whose nodes are joined by a fabric (one L2 segment, a bridge in its own
 * netns), the cluster's objects (`v1` Node with `spec.podCIDRs` and its InternalIP, `v1`
 * Namespace, `v1` Pod with labels, annotations and `status.podIPs`, policies) and a `ternd` per
 * node that learns them from one of two sources, the same fixture for both:
 * - `files`: a shared cluster directory of manifests (`cluster.dir`); each daemon also publishes
 *   its endpoints there.
 * - `kubernetes`: the fake API server in the fabric's netns (`sandbox_apiserver.ts`), each daemon
 *   with a kubeconfig; the sandbox writes objects as kubectl and kubelet would.
 * Every write goes through {@linkcode ClusterObjects}. Each daemon learns its own pod CIDR from
 * its Node. In `native` mode the fabric also routes the pod CIDRs, as a VPC's underlay does, so
 * pods still reach each other while tern installs no peer routes.
 * @module
 */
import { stringify } from "yaml";
import type { StatusResponse } from "../src/api.ts";
import { ConfigError, parseConfig } from "../daemon/config.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import { DEFAULT_ROUTE_PROTOCOL } from "../src/names.ts";
import { must, Sandbox, type SandboxFabric, type SandboxNode, type SandboxPod } from "./sandbox.ts";
import type { Endpoint } from "./reachability.ts";
import { pollUntil } from "./poll.ts";
import { type PeerEcho, startPeerEcho } from "./peer_echo.ts";
import {
  asKubeObject,
  type ClusterObjects,
  type KubeObject,
  type ObjectRef,
  refOf,
} from "./cluster_objects.ts";
import { FilesClusterObjects } from "./cluster_objects_files.ts";
import {
  FAKE_APISERVER_MAIN,
  type SandboxApiServer,
  type SandboxApiServerOptions,
  startSandboxApiServer,
} from "./sandbox_apiserver.ts";

/** Where the daemons learn the cluster from (the daemon's `cluster.source`). */
export type ClusterSource = "files" | "kubernetes";

/** Both sources, for tests that run one fixture on each. */
export const CLUSTER_SOURCES: readonly ClusterSource[] = ["files", "kubernetes"];

/**
 * `text` as a cluster source (pure); `where` names the flag or key in the error, which says
 * what to use.
 */
export function parseClusterSource(text: string, where: string): ClusterSource {
  if ((CLUSTER_SOURCES as readonly string[]).includes(text)) return text as ClusterSource;
  throw new TypeError(
    `Unknown cluster source in ${where}: ${JSON.stringify(text)}: use ${
      CLUSTER_SOURCES.join(" or ")
    }`,
  );
}

/** How pods on different nodes reach each other (the daemon's `routing.mode`). */
export type ClusterMode = "routes" | "native";

/** The cluster's pod address space; each node gets `10.244.<node index>.0/24` by default. */
export const CLUSTER_CIDR = "10.244.0.0/16";

/** tern's route protocol as the sandbox's daemons use it (the default). */
export const TERN_PROTO = DEFAULT_ROUTE_PROTOCOL;

/** The fabric's own address when it routes pod CIDRs (the `native` mode's underlay). */
export const UNDERLAY_ROUTER_SUFFIX = 254;

/** A route as `ip -json route show` prints it (the fields the tests read). */
export interface KernelRoute {
  /** `unicast` is left out by `ip`; `unreachable`, `blackhole`… are given. */
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  table?: string;
}

/** A rule as `ip -json rule show` prints it (the fields the tests read). */
export interface KernelRule {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  table?: string;
  protocol?: string;
}

/** Labels and annotations of a sandbox pod, as its Pod manifest carries them. */
export interface PodMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A namespace linked to one node that routes a destination nothing else reaches. */
export interface SandboxEgress {
  /** Network namespace of the gateway. */
  netns: string;
  /** The gateway's address, on the node's link `dev`. */
  gateway: string;
  /** The node's end of the link. */
  dev: string;
  /** An address only reachable through the gateway (on the gateway's lo). */
  destination: string;
}

/** The `v1` Node manifest for a node: name, pod CIDRs and InternalIP (pure). */
export function nodeManifest(
  name: string,
  options: { podCIDRs: string[]; internalIP: string },
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name } },
    spec: {
      ...(options.podCIDRs[0] ? { podCIDR: options.podCIDRs[0] } : {}),
      podCIDRs: options.podCIDRs,
    },
    status: {
      addresses: [
        { type: "InternalIP", address: options.internalIP },
        { type: "Hostname", address: name },
      ],
    },
  };
}

/** The `v1` Pod manifest of a sandbox pod, with its node, labels, annotations and status (pure). */
export function podManifest(
  pod: { namespace: string; name: string; nodeName: string; ip?: string | undefined },
  metadata: PodMetadata = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      labels: metadata.labels ?? {},
      annotations: metadata.annotations ?? {},
    },
    spec: {
      nodeName: pod.nodeName,
      containers: [{ name: "main", image: "sandbox" }],
    },
    status: pod.ip
      ? { phase: "Running", podIP: pod.ip, podIPs: [{ ip: pod.ip }] }
      : { phase: "Pending" },
  };
}

/**
 * The `cluster` section of a node's daemon config for `source` (pure): the files source's
 * directory (`dir`), or the kubernetes source's kubeconfig, with its waits.
 */
export function clusterSection(
  source: ClusterSource,
  options: { dir: string; kubeconfig: string },
): Record<string, unknown> {
  return source === "files"
    ? { source: "files", dir: options.dir, publishEndpoints: true }
    : { source: "kubernetes", kubeconfig: options.kubeconfig, podCIDRWait: "60s", syncWait: "30s" };
}

/**
 * The `cluster`, `routing` and `reconcile` sections of a sandbox node's daemon config, and any
 * `extra` top-level sections (e.g. `policy`; `extra.cluster` is merged into the `cluster` section,
 * e.g. `{ publishPodIPs: false }`) (pure). `source` defaults to `files`; `kubeconfig` is the
 * kubernetes source's.
 */
export function clusterConfig(options: {
  dir: string;
  mode: ClusterMode;
  source?: ClusterSource;
  kubeconfig?: string;
  routing?: Record<string, unknown>;
  reconcileInterval?: string;
  extra?: Record<string, unknown>;
}): string {
  const { cluster, ...extra } = options.extra ?? {};
  return stringify({
    ...extra,
    cluster: {
      ...clusterSection(options.source ?? "files", {
        dir: options.dir,
        kubeconfig: options.kubeconfig ?? "",
      }),
      ...(cluster as Record<string, unknown> | undefined),
    },
    routing: {
      mode: options.mode,
      addressTypes: ["InternalIP"],
      clusterCIDRs: [CLUSTER_CIDR],
      ...options.routing,
    },
    reconcile: { interval: options.reconcileInterval ?? "10s", monitor: true },
  });
}

/**
 * Why a sandbox cluster cannot run on `source` here, or undefined when it can. For `kubernetes`:
 * the fake API server must be in the checkout, and the daemon's config parser
 * (`daemon/config.ts`) must accept the config the sandbox writes. Asked of the code, not
 * hard-coded, so the kubernetes runs start by themselves once the daemon takes the source.
 */
export async function sourceUnsupported(source: ClusterSource): Promise<string | undefined> {
  if (source === "files") return undefined;
  try {
    await Deno.stat(FAKE_APISERVER_MAIN);
  } catch {
    return `the fake API server is not in this checkout (${FAKE_APISERVER_MAIN})`;
  }
  const text = stringify({
    nodeName: "node-1",
    cluster: clusterSection("kubernetes", { dir: "/", kubeconfig: "/tmp/kubeconfig" }),
  });
  try {
    parseConfig(text, { file: "ternd.yaml" });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return `the daemon does not accept cluster.source: kubernetes yet (daemon/config.ts: ${
      err.message.split("\n")[0]
    })`;
  }
  return undefined;
}

/** A sandbox of several nodes on one fabric; create with {@linkcode SandboxCluster.create}. */
export class SandboxCluster {
  /** The sandbox underneath (nodes, pods, daemons, cleanup). */
  readonly sb: Sandbox;
  readonly fabric: SandboxFabric;
  /** Where the daemons learn the cluster from. */
  readonly source: ClusterSource;
  /** Where the cluster's objects are written (the directory or the API server). */
  readonly objects: ClusterObjects;
  /** The API server, with `source: kubernetes`. */
  readonly apiServer: SandboxApiServer | undefined;
  /**
   * The shared cluster directory (`cluster.dir` of every daemon with `source: files`; with
   * `kubernetes` it exists but the daemons do not read it).
   */
  readonly dir: string;
  readonly mode: ClusterMode;
  /** Whether the fabric routes the pod CIDRs (and nodes route through it by default). */
  readonly underlay: boolean;
  readonly #reconcileInterval: string;
  readonly #daemonConfig: Record<string, unknown>;
  readonly #podCIDRs = new Map<string, string[]>();
  readonly #podMetadata = new Map<SandboxPod, PodMetadata>();
  readonly #podManifests = new Map<SandboxPod, PodManifestBuilder>();
  readonly #namespaces = new Set<string>();
  readonly #servers: PeerEcho[] = [];

  private constructor(
    sb: Sandbox,
    fabric: SandboxFabric,
    options: {
      source: ClusterSource;
      apiServer: SandboxApiServer | undefined;
      mode: ClusterMode;
      underlay: boolean;
      reconcileInterval: string;
      daemonConfig: Record<string, unknown>;
    },
  ) {
    this.sb = sb;
    this.fabric = fabric;
    this.dir = `${sb.dir}/cluster`;
    this.source = options.source;
    this.apiServer = options.apiServer;
    this.objects = options.apiServer?.objects ?? new FilesClusterObjects(this.dir);
    this.mode = options.mode;
    this.underlay = options.underlay;
    this.#reconcileInterval = options.reconcileInterval;
    this.#daemonConfig = options.daemonConfig;
  }

  /**
   * A new cluster with no nodes yet: the sandbox, the fabric, the `default` Namespace, in the
   * cluster directory or, with `source: kubernetes`, on the API server started in the fabric
   * (`apiServer` its options: TLS by default). `source` defaults to `files`; `mode` to `routes`;
   * `underlay` (the fabric routes pod CIDRs) to `mode === "native"`; `reconcileInterval` to
   * `10s`; `daemonConfig` (default none) adds top-level sections to every daemon's config, such
   * as `{ policy: { enabled: false } }`.
   */
  static async create(
    options: {
      source?: ClusterSource;
      apiServer?: SandboxApiServerOptions;
      mode?: ClusterMode;
      underlay?: boolean;
      reconcileInterval?: string;
      daemonConfig?: Record<string, unknown>;
    } = {},
  ): Promise<SandboxCluster> {
    const sb = await Sandbox.create();
    let apiServer: SandboxApiServer | undefined;
    try {
      const fabric = await sb.addFabric();
      const mode = options.mode ?? "routes";
      const source = options.source ?? "files";
      apiServer = source === "kubernetes"
        ? await startSandboxApiServer(sb, fabric, options.apiServer)
        : undefined;
      const cluster = new SandboxCluster(sb, fabric, {
        source,
        apiServer,
        mode,
        underlay: options.underlay ?? mode === "native",
        reconcileInterval: options.reconcileInterval ?? "10s",
        daemonConfig: options.daemonConfig ?? {},
      });
      await Deno.mkdir(cluster.dir, { recursive: true });
      await cluster.#ensureNamespace("default");
      if (cluster.underlay) {
        await must(["ip", "-n", fabric.netns, "-batch", "-"], {
          stdin: `addr add ${cluster.underlayRouter}/${fabric.prefixLen} dev ${fabric.bridge}\n`,
        });
        await must(["ip", "netns", "exec", fabric.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      }
      return cluster;
    } catch (err) {
      await apiServer?.stop();
      await sb.cleanup();
      throw err;
    }
  }

  /** The fabric's address when it is the underlay router. */
  get underlayRouter(): string {
    return `${this.fabric.subnetPrefix}.${UNDERLAY_ROUTER_SUFFIX}`;
  }

  /** The nodes, in the order they joined. */
  get nodes(): SandboxNode[] {
    return [...this.sb.nodes.values()];
  }

  /** The pods, in the order they were made. */
  get pods(): SandboxPod[] {
    return this.sb.pods;
  }

  /** The pod CIDRs written in the node's Node manifest. */
  podCIDRs(node: SandboxNode): string[] {
    return this.#podCIDRs.get(node.name) ?? [];
  }

  /** Creates or replaces a cluster object (see {@linkcode ClusterObjects.apply}). */
  async apply(obj: Record<string, unknown>): Promise<void> {
    await this.objects.apply(asKubeObject(obj));
  }

  /** Applies each object, in order (a `List`'s items, say). */
  async applyAll(objs: Record<string, unknown>[]): Promise<void> {
    for (const obj of objs) await this.apply(obj);
  }

  /** Deletes a cluster object; one already gone is fine. */
  async remove(ref: ObjectRef): Promise<void> {
    await this.objects.remove(ref);
  }

  /** Deletes each object, in reverse order. */
  async removeAll(objs: Record<string, unknown>[]): Promise<void> {
    for (const obj of [...objs].reverse()) await this.remove(refOf(asKubeObject(obj)));
  }

  /**
   * The cluster directory's writer, for what only the files source has (one `List` file of many
   * objects, a benchmark of the source's reads). Throws on another source.
   */
  get files(): FilesClusterObjects {
    if (!(this.objects instanceof FilesClusterObjects)) {
      throw new TypeError(
        `Cannot write manifest files: the sandbox cluster's source is ${this.source}, not files`,
      );
    }
    return this.objects;
  }

  /** Writes a Node by itself (a node with no sandbox behind it, e.g. a conflicting one). */
  async writeNode(name: string, options: { podCIDRs: string[]; internalIP: string }) {
    await this.objects.apply(nodeManifest(name, options));
  }

  /** Deletes a Node object by name (one written by {@linkcode writeNode}, say). */
  async removeNodeObject(name: string): Promise<void> {
    await this.objects.remove({ apiVersion: "v1", kind: "Node", name });
  }

  /**
   * Adds a node on the fabric: its netns and address (`10.98.0.<index>`), its Node manifest
   * (pod CIDRs default to `10.244.<index>.0/24`), a daemon config pointing at the cluster
   * directory, and (unless `start: false`) its running daemon. The pod CIDR reaches the daemon
   * through its Node only, unless `podCIDRInConfig`. `routing` is merged into the config's
   * `routing` section (egress tables, a different mode).
   */
  async addNode(
    name: string,
    options: {
      podCIDRs?: string[];
      podCIDRInConfig?: boolean;
      routing?: Record<string, unknown>;
      start?: boolean;
    } = {},
  ): Promise<SandboxNode> {
    if (options.podCIDRInConfig && !options.podCIDRs?.[0]) {
      throw new TypeError("Cannot put the pod CIDR in the config: podCIDRs is not given");
    }
    const kubeconfig = `${this.sb.dir}/${name}/kubeconfig`;
    const node = await this.sb.addNode(name, {
      fabric: this.fabric,
      extraConfig: clusterConfig({
        dir: this.dir,
        source: this.source,
        kubeconfig,
        mode: this.mode,
        reconcileInterval: this.#reconcileInterval,
        extra: this.#daemonConfig,
        ...(options.routing ? { routing: options.routing } : {}),
      }),
      ...(options.podCIDRInConfig ? { podCIDR: options.podCIDRs![0]! } : {}),
    });
    if (this.apiServer) {
      await Deno.writeTextFile(kubeconfig, this.apiServer.kubeconfig(name), { mode: 0o600 });
    }
    const podCIDRs = options.podCIDRs ?? [`10.244.${node.index}.0/24`];
    this.#podCIDRs.set(name, podCIDRs);
    await this.writeNode(name, { podCIDRs, internalIP: node.nodeIp });
    if (this.underlay) {
      await must(["ip", "-n", node.netns, "route", "add", "default", "via", this.underlayRouter]);
      await must(["ip", "-n", this.fabric.netns, "-batch", "-"], {
        stdin: podCIDRs.map((c) => `route replace ${c} via ${node.nodeIp}\n`).join(""),
      });
    }
    if (options.start ?? true) await this.sb.startDaemon(node);
    return node;
  }

  /** Adds several nodes at once, their daemons starting in parallel. */
  async addNodes(names: string[]): Promise<SandboxNode[]> {
    const nodes: SandboxNode[] = [];
    for (const name of names) nodes.push(await this.addNode(name, { start: false }));
    await Promise.all(nodes.map((n) => this.sb.startDaemon(n)));
    return nodes;
  }

  /**
   * A node leaves, as when its machine is removed from the cluster: its Node goes (which is
   * what the other daemons react to), then its daemon, pods and namespace; then the control
   * plane's clean-up of what the dead node cannot remove itself: its Pods and, with the files
   * source, its endpoints file.
   */
  async removeNode(node: SandboxNode): Promise<void> {
    await this.removeNodeObject(node.name);
    const pods = this.pods.filter((p) => p.node === node);
    await this.sb.removeNode(node);
    for (const pod of pods) {
      this.#podMetadata.delete(pod);
      this.#podManifests.delete(pod);
      await this.objects.remove(podRef(pod));
    }
    if (this.objects instanceof FilesClusterObjects) {
      await this.objects.removeManifest(`endpoints-${node.name}.yaml`);
    }
    if (this.underlay) {
      await must(["ip", "-n", this.fabric.netns, "-batch", "-"], {
        stdin: this.podCIDRs(node).map((c) => `route del ${c}\n`).join(""),
      });
    }
    this.#podCIDRs.delete(node.name);
  }

  /**
   * Adds a pod on `node`: its Pod (Pending, with its labels and annotations), its netns, then
   * ADD through the libcni driver with its namespace and name in CNI_ARGS, then the Pod's
   * status updated as a kubelet does (Running, `status.podIPs`). With `wire: false` the pod is
   * left unwired (Pending; {@linkcode writePodStatus} after an ADD of one's own). `manifest`
   * builds the Pod instead of {@linkcode podManifest} (other spec fields), for every write.
   */
  async addPod(
    node: SandboxNode,
    name: string,
    options: PodMetadata & {
      namespace?: string;
      wire?: boolean;
      manifest?: PodManifestBuilder;
    } = {},
  ): Promise<SandboxPod> {
    const namespace = options.namespace ?? "default";
    await this.#ensureNamespace(namespace);
    const pod = await this.sb.addPod(node, name, { namespace });
    const metadata: PodMetadata = {
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    };
    this.#podMetadata.set(pod, metadata);
    if (options.manifest) this.#podManifests.set(pod, options.manifest);
    await this.#writePod(pod);
    if (options.wire ?? true) {
      await this.sb.driverAdd(pod);
      await this.#writePod(pod);
    }
    return pod;
  }

  /** Writes the pod's Pod again, its status as kubelet would after an ADD (Running, podIPs). */
  async writePodStatus(pod: SandboxPod): Promise<void> {
    await this.#writePod(pod);
  }

  /** Replaces a pod's labels and annotations in its Pod. */
  async setPodMetadata(pod: SandboxPod, metadata: PodMetadata): Promise<void> {
    this.#podMetadata.set(pod, metadata);
    await this.#writePod(pod);
  }

  /** DEL through libcni, then the pod's netns and its Pod go. */
  async removePod(pod: SandboxPod): Promise<void> {
    await this.sb.driverDel(pod);
    await must(["ip", "netns", "del", pod.netns]);
    this.sb.pods.splice(this.sb.pods.indexOf(pod), 1);
    this.#podMetadata.delete(pod);
    this.#podManifests.delete(pod);
    await this.objects.remove(podRef(pod));
  }

  async #writePod(pod: SandboxPod): Promise<void> {
    const metadata = this.#podMetadata.get(pod) ?? {};
    const build = this.#podManifests.get(pod);
    await this.objects.apply(
      build ? build(pod, metadata) : podManifest(
        { namespace: pod.namespace, name: pod.name, nodeName: pod.node.name, ip: pod.ip },
        metadata,
      ),
    );
  }

  async #ensureNamespace(name: string): Promise<void> {
    if (this.#namespaces.has(name)) return;
    this.#namespaces.add(name);
    await this.objects.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }

  /**
   * Links `node` to a new gateway namespace (`<node netns>-egress`) by a veth `dev` (default
   * `eg0`): the node's end `10.97.0.2/24`, the gateway `10.97.0.1/24`. The gateway holds
   * `destination` (default 203.0.113.10) on its lo, which nothing else routes, and routes the
   * cluster CIDR back via the node. The node gets no route to it: only an egress table does.
   * Call before the node's daemon starts when its config names the link.
   */
  async addEgress(
    node: SandboxNode,
    options: { dev?: string; destination?: string } = {},
  ): Promise<SandboxEgress> {
    const dev = options.dev ?? "eg0";
    const destination = options.destination ?? "203.0.113.10";
    const netns = `${node.netns}-egress`;
    await must(["ip", "netns", "add", netns]);
    await must([
      "ip",
      "-n",
      node.netns,
      "link",
      "add",
      dev,
      "type",
      "veth",
      "peer",
      "name",
      "eg0",
      "netns",
      netns,
    ]);
    await must(["ip", "-n", node.netns, "-batch", "-"], {
      stdin: `addr add 10.97.0.2/24 dev ${dev}\nlink set ${dev} up\n`,
    });
    await must(["ip", "-n", netns, "-batch", "-"], {
      stdin: [
        "link set lo up",
        `addr add ${destination}/32 dev lo`,
        "addr add 10.97.0.1/24 dev eg0",
        "link set eg0 up",
        `route add ${CLUSTER_CIDR} via 10.97.0.2`,
      ].join("\n") + "\n",
    });
    return { netns, gateway: "10.97.0.1", dev, destination };
  }

  /** Every pod (wired ones) as a reachability endpoint, named `<pod>@<node>`. */
  podEndpoints(pods: SandboxPod[] = this.pods): Endpoint[] {
    return pods.filter((p) => p.ip).map((p) => ({
      name: `${p.name}@${p.node.name}`,
      netns: p.netns,
      ip: p.ip!,
    }));
  }

  /** Starts a peer echo server in each endpoint's namespace; {@linkcode cleanup} stops them. */
  async startPeerEchos(netnses: string[]): Promise<void> {
    const servers = await Promise.all(netnses.map((n) => startPeerEcho(n)));
    this.#servers.push(...servers);
  }

  /** The node's daemon status (`GET /v1/status`). */
  status(node: SandboxNode): Promise<StatusResponse> {
    return new DaemonClient(node.socket, { timeoutMs: 5000 }).status();
  }

  /** How many reconcile passes the node's daemon has run (0 before its first). */
  async passes(node: SandboxNode): Promise<number> {
    return (await this.status(node)).routing?.reconcile.passes ?? 0;
  }

  /** Waits until the node's daemon has run `count` more passes than now (default 2). */
  async morePasses(node: SandboxNode, options: { count?: number; timeoutMs?: number } = {}) {
    const start = await this.passes(node);
    const want = start + (options.count ?? 2);
    let last = start;
    await pollUntil(async () => (last = await this.passes(node)) >= want, {
      what: `${want - start} more reconcile passes on ${node.name}`,
      timeoutMs: options.timeoutMs ?? 10_000,
      lastSeen: () => `${last - start} passes`,
    });
  }

  /** The node's routes (IPv4, `table` default `all`), filtered by protocol when given. */
  async routes(
    node: SandboxNode,
    options: { proto?: number; table?: string } = {},
  ): Promise<KernelRoute[]> {
    const args = ["ip", "-json", "-4", "-N", "route", "show", "table", options.table ?? "all"];
    if (options.proto !== undefined) args.push("proto", String(options.proto));
    const out = await this.sb.exec(node.netns, args);
    if (out.code !== 0) throw new Error(`Cannot list routes on ${node.name}: ${out.stderr}`);
    return out.stdout.trim() ? JSON.parse(out.stdout) : [];
  }

  /** tern's routes on the node, as `[type] dst via gateway|dev device [table t]`, sorted. */
  async ternRoutes(node: SandboxNode): Promise<string[]> {
    const routes = await this.routes(node, { proto: TERN_PROTO });
    return routes.map(formatRoute).sort();
  }

  /** tern's peer routes on the node (routes via a gateway in the main table), `cidr via ip`. */
  async peerRoutes(node: SandboxNode): Promise<string[]> {
    const routes = await this.routes(node, { proto: TERN_PROTO, table: "main" });
    return routes.filter((r) => r.gateway).map((r) => `${r.dst} via ${r.gateway}`).sort();
  }

  /** The node's `ip rule` list. */
  async rules(node: SandboxNode): Promise<KernelRule[]> {
    const out = await this.sb.exec(node.netns, ["ip", "-json", "-4", "-N", "rule", "show"]);
    if (out.code !== 0) throw new Error(`Cannot list rules on ${node.name}: ${out.stderr}`);
    return out.stdout.trim() ? JSON.parse(out.stdout) : [];
  }

  /** The node's rules that carry tern's protocol, as `priority selector lookup table`, sorted. */
  async ternRules(node: SandboxNode): Promise<string[]> {
    const rules = await this.rules(node);
    return rules.filter((r) => r.protocol === String(TERN_PROTO)).map(formatRule).sort();
  }

  /**
   * Stops the echo servers, then cleans the sandbox up (daemons, the API server, namespaces,
   * temp dir).
   */
  async cleanup(): Promise<void> {
    await Promise.all(this.#servers.splice(0).map((s) => s.stop()));
    await this.sb.cleanup();
    await this.apiServer?.stop();
  }
}

/** Route types as `ip -N` prints them: numbers (`rtnetlink.h`'s RTN_*). */
const ROUTE_TYPES: Record<string, string> = {
  "1": "unicast",
  "2": "local",
  "6": "blackhole",
  "7": "unreachable",
  "8": "prohibit",
};

/** A route as `[type] dst via gateway|dev device [table t]` (the main table is left out). */
export function formatRoute(r: KernelRoute): string {
  const type = r.type ? ROUTE_TYPES[r.type] ?? r.type : "unicast";
  const parts = type !== "unicast" ? [type, r.dst] : [r.dst];
  if (r.gateway) parts.push(`via ${r.gateway}`);
  else if (r.dev) parts.push(`dev ${r.dev}`);
  if (r.table && r.table !== "main" && r.table !== "254") parts.push(`table ${r.table}`);
  return parts.join(" ");
}

/** A rule as `priority [from X] [to Y] lookup T` (`from all` is left out). */
export function formatRule(r: KernelRule): string {
  const parts = [String(r.priority)];
  if (r.src && r.src !== "all") {
    parts.push(`from ${r.src}${r.srclen !== undefined ? `/${r.srclen}` : ""}`);
  }
  if (r.dst) parts.push(`to ${r.dst}${r.dstlen !== undefined ? `/${r.dstlen}` : ""}`);
  parts.push(`lookup ${r.table}`);
  return parts.join(" ");
}

/** Builds a pod's Pod from the sandbox pod (its IP once wired) and its labels and annotations. */
export type PodManifestBuilder = (pod: SandboxPod, metadata: PodMetadata) => KubeObject;

function podRef(pod: SandboxPod): ObjectRef {
  return { apiVersion: "v1", kind: "Pod", namespace: pod.namespace, name: pod.name };
}

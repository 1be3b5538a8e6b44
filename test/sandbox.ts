/**
 * A sandbox cluster made of network namespaces, for kernel tests, the demo and the benchmarks.
 * A node is a netns running its own `ternd` (socket, state and config in a temp dir); a pod is a
 * netns wired by the real plugin process, run inside the node's netns exactly as a container
 * runtime would run it. Nodes stand alone (their address on lo) or are joined by a **fabric**: a
 * netns holding a Linux bridge, one L2 segment to which each node is linked by a veth whose node
 * end (`fab0`) carries the node's address, as hosts on one subnet (see `sandbox_cluster.ts` for
 * the cluster built on it). Every object is named with one unique prefix (`ternt<pid>x<random>`),
 * so {@linkcode Sandbox.cleanup} — and `scripts/cleanup.sh` after a crash — finds all of it.
 * Nothing is ever created in the root namespace.
 * @module
 */
import { denoRunner, type RunResult } from "../src/runner.ts";
import { netlinkSubscribed } from "../src/lib/netlink_listening.ts";

/** Prefix shared by every sandbox object; `scripts/cleanup.sh` removes namespaces that carry it. */
export const SANDBOX_PREFIX = "ternt";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** How the sandbox runs tern: `[executable, ...args]` to which role arguments are appended. */
export function ternCommand(): string[] {
  const bin = Deno.env.get("TERN_BIN");
  if (bin) return [bin];
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--allow-all",
    "--unstable-kv",
    "--no-lock",
    `${ROOT}/main.ts`,
  ];
}

/** The L2 segment that joins the nodes of a sandbox: a netns holding a Linux bridge. */
export interface SandboxFabric {
  /** Network namespace name. */
  netns: string;
  /** The bridge inside it. */
  bridge: string;
  /** The nodes' addresses are `${subnetPrefix}.<node index>`. */
  subnetPrefix: string;
  /** Prefix length of the nodes' addresses on the fabric. */
  prefixLen: number;
}

/** The fabric's bridge name inside its netns. */
export const FABRIC_BRIDGE = "br0";

/**
 * The fabric bridge's own MAC (locally administered). Each sandbox's fabric is an L2 segment of
 * its own, so every sandbox may use the same one.
 */
export const FABRIC_BRIDGE_MAC = "02:74:65:72:6e:00";

/** The node end of the veth that links a node to the fabric. */
export const FABRIC_LINK = "fab0";

/** A node of the sandbox. */
export interface SandboxNode {
  name: string;
  /** Network namespace name. */
  netns: string;
  /** 1, 2, …: the order in which the sandbox made its nodes; never reused. */
  index: number;
  /**
   * The node's own address, source of node→pod traffic: on `fab0` when the node is on a fabric
   * (its InternalIP), else a /32 on lo.
   */
  nodeIp: string;
  dir: string;
  socket: string;
  config: string;
  stateFile: string;
  confDir: string;
  /** The pod CIDR given in the daemon's config; undefined when the daemon learns it from its Node. */
  podCIDR: string | undefined;
  daemon?: Deno.ChildProcess | undefined;
  daemonLog: string;
}

/** A pod of the sandbox. */
export interface SandboxPod {
  name: string;
  /** Kubernetes namespace, passed as `K8S_POD_NAMESPACE`; default `default`. */
  namespace: string;
  node: SandboxNode;
  /** Network namespace name and path. */
  netns: string;
  netnsPath: string;
  containerID: string;
  ifname: string;
  ip?: string;
}

/** Runs a command, failing with its stderr when it exits non-zero. */
export async function must(argv: string[], options: { stdin?: string } = {}): Promise<RunResult> {
  const result = await denoRunner(argv, options);
  if (result.code !== 0) {
    throw new Error(
      `Command failed: ${argv.join(" ")}: exit ${result.code}: ${result.stderr.trim()}`,
    );
  }
  return result;
}

/**
 * Kills every process still running in `netns`: a stray left by a test, or a helper of a ternd
 * built before its children died with it (they ran on after the namespace was deleted, holding
 * whatever they inherited, such as the file descriptor of a `flock` around the tests). Only the
 * sandbox's own namespaces are ever passed here.
 */
export async function killNetnsProcesses(netns: string): Promise<void> {
  const pids = (await denoRunner(["ip", "netns", "pids", netns])).stdout.split(/\s+/)
    .filter((p) => /^\d+$/.test(p));
  for (const pid of pids) await denoRunner(["kill", "-KILL", pid]);
}

/**
 * Waits until every `… monitor …` child of process `pid` (ternd) is subscribed, or `deadline`
 * (ms since the epoch) passed. ternd waits for that itself before it answers, but only 5 s; a
 * test that changes something right after the start must not race a monitor that was slower.
 */
export async function monitorsSubscribed(pid: number, deadline: number): Promise<void> {
  const children = (await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => ""))
    .trim().split(/\s+/).filter(Boolean).map(Number);
  for (const child of children) {
    const cmdline = await Deno.readTextFile(`/proc/${child}/cmdline`).catch(() => "");
    if (!cmdline.split("\0").includes("monitor")) continue;
    while (Date.now() < deadline && !await netlinkSubscribed(child).catch(() => true)) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** The network namespaces whose names start with `prefix`. */
export async function listNetns(prefix: string): Promise<string[]> {
  const out = await denoRunner(["ip", "netns", "list"]);
  return out.stdout.split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) =>
    n.startsWith(prefix)
  );
}

/** A sandbox; create with {@linkcode Sandbox.create}, always end with {@linkcode Sandbox.cleanup}. */
export class Sandbox {
  readonly prefix: string;
  readonly dir: string;
  readonly nodes = new Map<string, SandboxNode>();
  readonly pods: SandboxPod[] = [];
  #podSeq = 0;
  #nodeSeq = 0;

  private constructor(prefix: string, dir: string) {
    this.prefix = prefix;
    this.dir = dir;
  }

  /** A fresh, empty sandbox with a unique prefix and its own temp dir. */
  static async create(): Promise<Sandbox> {
    const rand = crypto.getRandomValues(new Uint8Array(3));
    const prefix = `${SANDBOX_PREFIX}${Deno.pid}x${[...rand].map((b) => b.toString(16)).join("")}`;
    const dir = await Deno.makeTempDir({ prefix: `${prefix}-` });
    return new Sandbox(prefix, dir);
  }

  /** Runs `argv` inside network namespace `netns`. */
  exec(netns: string, argv: string[], options: { stdin?: string } = {}): Promise<RunResult> {
    return denoRunner(["ip", "netns", "exec", netns, ...argv], options);
  }

  /**
   * Makes the fabric: a netns with a bridge (up, no address, a MAC of its own), to which
   * {@linkcode addNode} links nodes given `fabric`. Node addresses are `10.98.0.<node index>/24`
   * unless given.
   */
  async addFabric(): Promise<SandboxFabric> {
    const netns = `${this.prefix}-fabric`;
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "-batch", "-"], {
      stdin: [
        "link set lo up",
        `link add ${FABRIC_BRIDGE} type bridge`,
        // A bridge whose MAC was never set wears its lowest port's, and takes another when that
        // port goes: a node leaving would change the MAC of the addresses on the bridge (the API
        // server's, the underlay's) under the other nodes' neighbour caches, and their packets
        // to it would go nowhere for 20 s to a minute. A MAC set once stays.
        `link set ${FABRIC_BRIDGE} address ${FABRIC_BRIDGE_MAC}`,
        `link set ${FABRIC_BRIDGE} up`,
      ].join("\n") + "\n",
    });
    return { netns, bridge: FABRIC_BRIDGE, subnetPrefix: "10.98.0", prefixLen: 24 };
  }

  /**
   * Adds a node: its netns with loopback up, its address, a daemon config, and a conflist
   * (tern + portmap). With `fabric`, a veth links it to the fabric's bridge and the node's end,
   * `fab0`, holds the address with the fabric's prefix length; without, the address is a /32 on
   * lo. Without `podCIDR` the config has no `podCIDRs` (the daemon learns them from its Node).
   * `extraConfig` is YAML appended to the config.
   */
  async addNode(
    name: string,
    options: {
      podCIDR?: string;
      mtu?: number;
      extraConfig?: string;
      nodeIp?: string;
      fabric?: SandboxFabric;
    },
  ): Promise<SandboxNode> {
    const index = ++this.#nodeSeq;
    const netns = `${this.prefix}-${name}`;
    const dir = `${this.dir}/${name}`;
    await Deno.mkdir(`${dir}/net.d`, { recursive: true });
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "link", "set", "lo", "up"]);
    const fabric = options.fabric;
    const nodeIp = options.nodeIp ?? `${fabric?.subnetPrefix ?? "10.98.0"}.${index}`;
    if (fabric) {
      // The veth is made inside the node and its far end moved straight into the fabric, so
      // nothing ever exists in the root namespace, even for a moment.
      const port = `fab${index}`;
      await must([
        "ip",
        "-n",
        netns,
        "link",
        "add",
        FABRIC_LINK,
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        fabric.netns,
      ]);
      await must(["ip", "-n", fabric.netns, "link", "set", port, "master", fabric.bridge, "up"]);
      await must(["ip", "-n", netns, "-batch", "-"], {
        stdin: `addr add ${nodeIp}/${fabric.prefixLen} dev ${FABRIC_LINK}\n` +
          `link set ${FABRIC_LINK} up\n`,
      });
    } else {
      // A real node has an address of its own (its InternalIP), which is the source of
      // node→pod traffic; without one the kernel has no source address to pick. It sits on lo:
      // the test machines' kernel has no `dummy` link type.
      await must(["ip", "-n", netns, "addr", "add", `${nodeIp}/32`, "dev", "lo"]);
    }
    const node: SandboxNode = {
      nodeIp,
      name,
      netns,
      index,
      dir,
      socket: `${dir}/ternd.sock`,
      config: `${dir}/ternd.yaml`,
      stateFile: `${dir}/state.kv`,
      confDir: `${dir}/net.d`,
      podCIDR: options.podCIDR,
      daemonLog: `${dir}/ternd.log`,
    };
    await Deno.writeTextFile(
      node.config,
      [
        `nodeName: ${name}`,
        ...(options.podCIDR ? [`podCIDRs: [${options.podCIDR}]`] : []),
        `socket: ${node.socket}`,
        `stateFile: ${node.stateFile}`,
        `log:`,
        `  level: debug`,
        options.extraConfig ?? "",
      ].join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${node.confDir}/10-tern.conflist`,
      JSON.stringify(this.conflist(node, options.mtu), null, 2),
    );
    this.nodes.set(name, node);
    return node;
  }

  /**
   * Removes a node as if its machine went away: stops its daemon (SIGKILL: a vanished machine
   * says no goodbye), deletes its pods' namespaces and its own (which takes its fabric link
   * with it). Its files stay in the temp dir, for post-mortems.
   */
  async removeNode(node: SandboxNode): Promise<void> {
    await this.stopDaemon(node, "SIGKILL");
    const gone = this.pods.filter((p) => p.node === node);
    for (const pod of gone) {
      await denoRunner(["ip", "netns", "del", pod.netns]);
      this.pods.splice(this.pods.indexOf(pod), 1);
    }
    const attached = new Set([`${node.netns}-client`, `${node.netns}-egress`]);
    for (const netns of await listNetns(`${node.netns}-`)) {
      if (attached.has(netns)) await denoRunner(["ip", "netns", "del", netns]);
    }
    await killNetnsProcesses(node.netns);
    await must(["ip", "netns", "del", node.netns]);
    this.nodes.delete(node.name);
  }

  /** The conflist the node's runtime uses: tern, then the reference portmap. */
  conflist(node: SandboxNode, mtu = 1500, cniVersion = "1.0.0"): Record<string, unknown> {
    return {
      cniVersion,
      name: "tern",
      plugins: [
        {
          type: "tern",
          mtu,
          daemonSocket: node.socket,
          releaseQueueDir: `${node.dir}/release-queue`,
          logFile: `${node.dir}/plugin.log`,
          logLevel: "debug",
        },
        { type: "portmap", capabilities: { portMappings: true }, snat: true },
      ],
    };
  }

  /** The single-plugin netconf (what the runtime hands tern as first in the list). */
  netconf(
    node: SandboxNode,
    extra: Record<string, unknown> = {},
    cniVersion = "1.1.0",
  ): Record<string, unknown> {
    return {
      cniVersion,
      name: "tern",
      type: "tern",
      mtu: 1500,
      daemonSocket: node.socket,
      // The daemon's default: `release-queue` beside its state file.
      releaseQueueDir: `${node.dir}/release-queue`,
      logFile: `${node.dir}/plugin.log`,
      logLevel: "debug",
      ...extra,
    };
  }

  /**
   * Starts the node's daemon inside its netns and waits until it answers on its socket.
   * `options.wrap` is a command that execs the rest (e.g. `unshare -m … sh -c '…; exec "$@"'`).
   */
  async startDaemon(
    node: SandboxNode,
    options: { timeoutMs?: number; args?: string[]; wrap?: string[] } = {},
  ) {
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        node.netns,
        ...(options.wrap ?? []),
        ...ternCommand(),
        "daemon",
        "--config",
        node.config,
        ...(options.args ?? []),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Copy both streams to the node's log file.
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        await Deno.writeFile(node.daemonLog, chunk, { append: true });
      }
    };
    pump(child.stdout).catch(() => {});
    pump(child.stderr).catch(() => {});
    node.daemon = child;
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      const status = await Promise.race([
        child.status.then((s) => s),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
      ]);
      if (status !== undefined) {
        throw new Error(
          `ternd on ${node.name} exited with ${status.code}: ${await this.daemonLog(node)}`,
        );
      }
      if (await this.daemonAnswers(node)) {
        await monitorsSubscribed(child.pid, deadline);
        return;
      }
    }
    throw new Error(
      `ternd on ${node.name} did not answer within the timeout: ${await this.daemonLog(node)}`,
    );
  }

  /** Whether the node's daemon answers GET /v1/status and says it is ready (not starting). */
  async daemonAnswers(node: SandboxNode): Promise<boolean> {
    try {
      const { DaemonClient } = await import("../src/daemon_client.ts");
      return (await new DaemonClient(node.socket, { timeoutMs: 1000 }).status()).ready;
    } catch {
      return false;
    }
  }

  /** The tail of the node's daemon log. */
  async daemonLog(node: SandboxNode): Promise<string> {
    try {
      return (await Deno.readTextFile(node.daemonLog)).split("\n").slice(-30).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Stops the node's daemon (SIGTERM, then SIGKILL after 5 s) and waits for it. */
  async stopDaemon(
    node: SandboxNode,
    signal: Deno.Signal = "SIGTERM",
  ): Promise<number | undefined> {
    const child = node.daemon;
    if (!child) return undefined;
    node.daemon = undefined;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 5000);
    const status = await child.status;
    clearTimeout(timer);
    return status.code;
  }

  /** Creates a pod netns (loopback up) on `node`; not yet wired. */
  async addPod(
    node: SandboxNode,
    name?: string,
    options: { ifname?: string; namespace?: string } = {},
  ): Promise<SandboxPod> {
    const seq = ++this.#podSeq;
    const podName = name ?? `pod${seq}`;
    const netns = `${this.prefix}-${node.name}-${podName}`;
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "link", "set", "lo", "up"]);
    const pod: SandboxPod = {
      name: podName,
      namespace: options.namespace ?? "default",
      node,
      netns,
      netnsPath: `/var/run/netns/${netns}`,
      containerID: `${this.prefix}${node.name}${podName}`,
      ifname: options.ifname ?? "eth0",
    };
    this.pods.push(pod);
    return pod;
  }

  /** The CNI_ARGS a kubelet passes for the pod: its namespace and name. */
  cniArgs(pod: SandboxPod): Record<string, string> {
    return { IgnoreUnknown: "1", K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name };
  }

  /** Runs the plugin as a process inside the node's netns with CNI env and a netconf on stdin. */
  async plugin(
    pod: SandboxPod,
    command: string,
    options: {
      conf?: Record<string, unknown>;
      env?: Record<string, string>;
      netns?: string | null;
    } = {},
  ): Promise<RunResult & { json: Record<string, unknown> | undefined }> {
    const conf = options.conf ?? this.netconf(pod.node);
    const env: Record<string, string> = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerID,
      CNI_IFNAME: pod.ifname,
      CNI_PATH: "/usr/lib/cni",
      CNI_ARGS: Object.entries(this.cniArgs(pod)).map(([k, v]) => `${k}=${v}`).join(";"),
      ...options.env,
    };
    if (options.netns !== null) env.CNI_NETNS = options.netns ?? pod.netnsPath;
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const result = await denoRunner(
      ["ip", "netns", "exec", pod.node.netns, "env", ...envArgs, ...ternCommand()],
      { stdin: JSON.stringify(conf) },
    );
    let json: Record<string, unknown> | undefined;
    try {
      json = result.stdout.trim() ? JSON.parse(result.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { ...result, json };
  }

  /** ADD through the plugin; throws with the plugin's output when it fails. Records the pod's IP. */
  async wire(pod: SandboxPod, conf?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = await this.plugin(pod, "ADD", conf ? { conf } : {});
    if (result.code !== 0 || !result.json) {
      throw new Error(
        `ADD of ${pod.name} failed: exit ${result.code}: ${result.stdout}${result.stderr}`,
      );
    }
    const ips = result.json.ips as { address: string }[];
    pod.ip = ips[0]!.address.split("/")[0]!;
    return result.json;
  }

  /**
   * A CNI bin dir for the node's runtime: `tern` (a wrapper that runs this checkout, or
   * `TERN_BIN`) and the reference plugins from /usr/lib/cni (portmap, ptp, host-local).
   */
  async binDir(): Promise<string> {
    const bin = `${this.dir}/bin`;
    try {
      await Deno.stat(`${bin}/tern`);
      return bin;
    } catch {
      // not made yet
    }
    await Deno.mkdir(bin, { recursive: true });
    const quoted = ternCommand().map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    await Deno.writeTextFile(`${bin}/tern`, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
    for (const ref of ["portmap", "ptp", "host-local", "loopback"]) {
      await Deno.symlink(`/usr/lib/cni/${ref}`, `${bin}/${ref}`);
    }
    return bin;
  }

  /** Runs the libcni driver (tools/cnidriver) inside the node's netns with the node's conflist. */
  async driver(
    node: SandboxNode,
    args: string[],
    options: { net?: string; confDir?: string } = {},
  ) {
    const bin = await this.binDir();
    const driver = `${ROOT}/tools/cnidriver/cnidriver`;
    const [verb, ...rest] = args;
    const common = [
      "--confdir",
      options.confDir ?? node.confDir,
      "--bin",
      bin,
      "--net",
      options.net ?? "tern",
      "--cachedir",
      `${node.dir}/cni-cache`,
    ];
    const argv = verb === "bulk"
      ? [driver, "bulk", rest[0]!, ...common, ...rest.slice(1)]
      : [driver, verb!, ...common, ...rest];
    return await this.exec(node.netns, argv);
  }

  /**
   * ADD of `pod` through the libcni driver and the node's conflist, with the pod's CNI_ARGS, as
   * a runtime does it; records the pod's IP and returns the CNI result. Throws when it fails.
   */
  async driverAdd(
    pod: SandboxPod,
    options: { net?: string; confDir?: string } = {},
  ): Promise<{ ips: { address: string }[]; interfaces: { name: string }[] }> {
    const out = await this.driver(pod.node, ["add", ...this.#driverPodArgs(pod)], options);
    if (out.code !== 0) {
      throw new Error(`ADD of ${pod.name} failed: exit ${out.code}: ${out.stderr}${out.stdout}`);
    }
    const result = JSON.parse(out.stdout);
    pod.ip = String(result.ips[0].address).split("/")[0]!;
    return result;
  }

  /** DEL of `pod` through the libcni driver; throws when it fails. */
  async driverDel(pod: SandboxPod, options: { net?: string; confDir?: string } = {}) {
    const out = await this.driver(pod.node, ["del", ...this.#driverPodArgs(pod)], options);
    if (out.code !== 0) {
      throw new Error(`DEL of ${pod.name} failed: exit ${out.code}: ${out.stderr}${out.stdout}`);
    }
  }

  #driverPodArgs(pod: SandboxPod): string[] {
    return [
      "--netns",
      pod.netnsPath,
      "--id",
      pod.containerID,
      "--ifname",
      pod.ifname,
      ...Object.entries(this.cniArgs(pod)).flatMap(([k, v]) => ["--arg", `${k}=${v}`]),
    ];
  }

  /**
   * Links the node to a new "client" netns by a veth pair made inside the node's netns:
   * node `uplink0` 10.99.0.1/24, client `uplink0` 10.99.0.2/24. Returns the client's netns.
   */
  async addUplink(node: SandboxNode): Promise<{ netns: string; nodeIp: string; clientIp: string }> {
    const netns = `${node.netns}-client`;
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "link", "set", "lo", "up"]);
    await must([
      "ip",
      "-n",
      node.netns,
      "link",
      "add",
      "uplink0",
      "type",
      "veth",
      "peer",
      "name",
      "uplink0",
      "netns",
      netns,
    ]);
    await must(["ip", "-n", node.netns, "addr", "add", "10.99.0.1/24", "dev", "uplink0"]);
    await must(["ip", "-n", node.netns, "link", "set", "uplink0", "up"]);
    await must(["ip", "-n", netns, "addr", "add", "10.99.0.2/24", "dev", "uplink0"]);
    await must(["ip", "-n", netns, "link", "set", "uplink0", "up"]);
    return { netns, nodeIp: "10.99.0.1", clientIp: "10.99.0.2" };
  }

  /** Whether one ping from netns `from` reaches `ip` within `timeoutS` seconds. */
  async ping(from: string, ip: string, timeoutS = 1): Promise<boolean> {
    const result = await this.exec(from, ["ping", "-c", "1", "-W", String(timeoutS), "-q", ip]);
    return result.code === 0;
  }

  /**
   * Removes every pod netns, stops daemons, kills what still runs in the sandbox's namespaces,
   * deletes every netns with the prefix and the temp dir.
   */
  async cleanup(): Promise<void> {
    for (const node of this.nodes.values()) await this.stopDaemon(node, "SIGKILL").catch(() => {});
    for (const netns of await listNetns(this.prefix)) {
      await killNetnsProcesses(netns);
      await denoRunner(["ip", "netns", "del", netns]);
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

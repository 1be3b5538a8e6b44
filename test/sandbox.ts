/**
 * A sandbox cluster made of network namespaces, for kernel tests, the demo and the benchmarks.
 * A node is a netns running its own `ternd` (socket, state and config in a temp dir); a pod is a
 * netns wired by the real plugin process, run inside the node's netns exactly as a container
 * runtime would run it. Every object is named with one unique prefix (`ternt<pid>x<random>`), so
 * {@linkcode Sandbox.cleanup} — and `scripts/cleanup.sh` after a crash — finds all of it. Nothing
 * is ever created in the root namespace.
 * @module
 */
import { denoRunner, type RunResult } from "../src/runner.ts";

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

/** A node of the sandbox. */
export interface SandboxNode {
  name: string;
  /** Network namespace name. */
  netns: string;
  /** The node's own address (a /32 on lo), source of node→pod traffic. */
  nodeIp: string;
  dir: string;
  socket: string;
  config: string;
  stateFile: string;
  confDir: string;
  podCIDR: string;
  daemon?: Deno.ChildProcess | undefined;
  daemonLog: string;
}

/** A pod of the sandbox. */
export interface SandboxPod {
  name: string;
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

  /** Adds a node: its netns with loopback up, a daemon config, and a conflist (tern + portmap). */
  async addNode(
    name: string,
    options: { podCIDR: string; mtu?: number; extraConfig?: string; nodeIp?: string },
  ): Promise<SandboxNode> {
    const netns = `${this.prefix}-${name}`;
    const dir = `${this.dir}/${name}`;
    await Deno.mkdir(`${dir}/net.d`, { recursive: true });
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "link", "set", "lo", "up"]);
    // A real node has an address of its own (its InternalIP), which is the source of node→pod
    // traffic; without one the kernel has no source address to pick. It sits on lo: the test
    // machines' kernel has no `dummy` link type.
    const nodeIp = options.nodeIp ?? `10.98.0.${this.nodes.size + 1}`;
    await must(["ip", "-n", netns, "addr", "add", `${nodeIp}/32`, "dev", "lo"]);
    const node: SandboxNode = {
      nodeIp,
      name,
      netns,
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
        `podCIDRs: [${options.podCIDR}]`,
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
      logFile: `${node.dir}/plugin.log`,
      logLevel: "debug",
      ...extra,
    };
  }

  /** Starts the node's daemon inside its netns and waits until it answers on its socket. */
  async startDaemon(node: SandboxNode, options: { timeoutMs?: number; args?: string[] } = {}) {
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        node.netns,
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
      if (await this.daemonAnswers(node)) return;
    }
    throw new Error(
      `ternd on ${node.name} did not answer within the timeout: ${await this.daemonLog(node)}`,
    );
  }

  /** Whether the node's daemon answers GET /v1/status. */
  async daemonAnswers(node: SandboxNode): Promise<boolean> {
    try {
      const { DaemonClient } = await import("../src/daemon_client.ts");
      await new DaemonClient(node.socket, { timeoutMs: 1000 }).status();
      return true;
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
    options: { ifname?: string } = {},
  ): Promise<SandboxPod> {
    const seq = ++this.#podSeq;
    const podName = name ?? `pod${seq}`;
    const netns = `${this.prefix}-${node.name}-${podName}`;
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "link", "set", "lo", "up"]);
    const pod: SandboxPod = {
      name: podName,
      node,
      netns,
      netnsPath: `/var/run/netns/${netns}`,
      containerID: `${this.prefix}${node.name}${podName}`,
      ifname: options.ifname ?? "eth0",
    };
    this.pods.push(pod);
    return pod;
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
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.name}`,
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

  /** Removes every pod netns, stops daemons, deletes every netns with the prefix and the temp dir. */
  async cleanup(): Promise<void> {
    for (const node of this.nodes.values()) await this.stopDaemon(node, "SIGKILL").catch(() => {});
    for (const netns of await listNetns(this.prefix)) {
      await denoRunner(["ip", "netns", "del", netns]);
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The policy scenarios' fixture on a {@linkcode SandboxCluster}: three nodes, namespaces x, y, z
 * (labelled `ns=<name>`), pods a, b, c in each (labelled `pod=<name>`, service account
 * `sa-<name>`, named container ports), spread so that every node runs one pod of each namespace
 * and one of each name (node-1: x/a y/b z/c; node-2: x/b y/c z/a; node-3: x/c y/a z/b). Each pod
 * runs one {@linkcode AGENT_PORTS} agent (`policy_agent.ts`) that serves TCP and UDP and runs
 * probes for the others, so a whole truth table costs no process per cell.
 * @module
 */
import { DaemonClient } from "../src/daemon_client.ts";
import type { PolicyStatusResponse } from "../src/api.ts";
import { killChild } from "../src/lib/kill_child.ts";
import { pooled } from "../src/lib/pooled.ts";
import type { SandboxNode, SandboxPod } from "./sandbox.ts";
import { type ClusterSource, SandboxCluster } from "./sandbox_cluster.ts";
import type { KubeObject } from "./cluster_objects.ts";
import { pollUntil } from "./poll.ts";

const AGENT = new URL("./policy_agent.ts", import.meta.url).pathname;

/** A flow of a truth table: `tcp/80`, `udp/53`, `icmp`. */
export type Flow = `${"tcp" | "udp"}/${number}` | "icmp";

/** A pod of the lab as the expectations see it. */
export interface LabPod {
  /** `x/a`. */
  id: string;
  ns: string;
  name: string;
  /** 1, 2 or 3. */
  node: number;
  ip: string;
}

/** One cell of a truth table. */
export interface ProbeCell {
  from: string;
  to: string;
  flow: Flow;
  ok: boolean;
}

/** A probe agent running in a pod. */
export class Agent {
  readonly pod: SandboxPod;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<number, (answer: string) => void>();
  #seq = 0;

  private constructor(pod: SandboxPod, child: Deno.ChildProcess) {
    this.pod = pod;
    this.#child = child;
    this.#writer = child.stdin.getWriter();
  }

  /** Starts the agent in the pod's netns and waits until its servers listen. */
  static async start(pod: SandboxPod): Promise<Agent> {
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        pod.netns,
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-net",
        "--unstable-net",
        AGENT,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const agent = new Agent(pod, child);
    let listening!: () => void;
    const ready = new Promise<void>((r) => listening = r);
    (async () => {
      let buffer = "";
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === "listening") listening();
          // `<id> <answer…>`: the answer is the rest of the line.
          const space = line.indexOf(" ");
          const id = Number(space < 0 ? line : line.slice(0, space));
          const done = agent.#waiting.get(id);
          if (done) {
            agent.#waiting.delete(id);
            done(space < 0 ? "" : line.slice(space + 1));
          }
        }
      }
    })().catch(() => {});
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 15_000));
    if ((await Promise.race([ready, timer])) === "timeout") {
      await agent.stop();
      throw new Error(`The policy agent in ${pod.netns} did not start`);
    }
    return agent;
  }

  /** One probe from this pod: a TCP connection or a UDP exchange, within `timeoutMs`. */
  probe(proto: "tcp" | "udp", ip: string, port: number, timeoutMs = 1000): Promise<boolean> {
    const id = ++this.#seq;
    const answer = new Promise<string>((r) => this.#waiting.set(id, r));
    this.#writer.write(new TextEncoder().encode(`${id} ${proto} ${ip} ${port} ${timeoutMs}\n`));
    return answer.then((a) => a === "1");
  }

  /**
   * TCP connections to `ip`:`port` completed in `ms` (4 loops, each connect, read, close), and
   * the attempts that failed (1 s timeout each).
   */
  async connectRate(
    ip: string,
    port: number,
    ms: number,
  ): Promise<{ count: number; failed: number }> {
    const id = ++this.#seq;
    const answer = new Promise<string>((r) => this.#waiting.set(id, r));
    this.#writer.write(new TextEncoder().encode(`${id} rate ${ip} ${port} ${ms}\n`));
    const [count, failed] = (await answer).split(" ").map(Number);
    return { count: count ?? 0, failed: failed ?? 0 };
  }

  async stop(): Promise<void> {
    await killChild(this.#child);
    for (const done of this.#waiting.values()) done("0");
  }
}

/** The Pod manifest of a lab pod: labels, service account, named ports, status. */
export function labPodManifest(pod: SandboxPod, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod.name, namespace: pod.namespace, labels },
    spec: {
      nodeName: pod.node.name,
      serviceAccountName: `sa-${pod.name}`,
      containers: [{
        name: "main",
        image: "sandbox",
        ports: [
          { name: "serve-80", containerPort: 80, protocol: "TCP" },
          { name: "serve-81", containerPort: 81, protocol: "TCP" },
          { name: "dns", containerPort: 53, protocol: "UDP" },
        ],
      }],
    },
    status: pod.ip
      ? { phase: "Running", podIP: pod.ip, podIPs: [{ ip: pod.ip }] }
      : { phase: "Pending" },
  };
}

/** The lab's layout: which pod names each node runs, per namespace x, y, z. */
export const LAYOUT: Record<number, [string, string][]> = {
  1: [["x", "a"], ["y", "b"], ["z", "c"]],
  2: [["x", "b"], ["y", "c"], ["z", "a"]],
  3: [["x", "c"], ["y", "a"], ["z", "b"]],
};

/** A policy ref as the status lists it. */
export interface PolicyKey {
  kind: string;
  namespace?: string | undefined;
  name: string;
}

/** The three-node lab. */
export class PolicyLab {
  readonly cluster: SandboxCluster;
  readonly nodes: SandboxNode[];
  readonly pods = new Map<string, LabPod>();
  readonly agents = new Map<string, Agent>();
  readonly sandboxPods = new Map<string, SandboxPod>();

  private constructor(cluster: SandboxCluster, nodes: SandboxNode[]) {
    this.cluster = cluster;
    this.nodes = nodes;
  }

  /**
   * Builds the cluster on `source` (default `files`), the nine pods and their agents.
   * `cleanup()` in a finally.
   */
  static async create(options: { source?: ClusterSource } = {}): Promise<PolicyLab> {
    const cluster = await SandboxCluster.create({
      reconcileInterval: "10s",
      ...(options.source ? { source: options.source } : {}),
    });
    try {
      const nodes = await cluster.addNodes(["node-1", "node-2", "node-3"]);
      const lab = new PolicyLab(cluster, nodes);
      for (const node of nodes) {
        for (const [ns, name] of LAYOUT[node.index]!) await lab.addPod(node, ns, name);
      }
      for (const ns of ["x", "y", "z"]) {
        await cluster.apply({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: ns, labels: { ns } },
        });
      }
      return lab;
    } catch (err) {
      await cluster.cleanup();
      throw err;
    }
  }

  /**
   * Adds pod `ns/name` on `node` with its manifest (labels `pod=<name>` plus `labels`), starts its
   * agent before the ADD, then wires it. `duringAdd` runs once the ADD has started.
   */
  async addPod(
    node: SandboxNode,
    ns: string,
    name: string,
    options: { labels?: Record<string, string>; duringAdd?: (pod: SandboxPod) => void } = {},
  ): Promise<LabPod> {
    const labels = { pod: name, ...options.labels };
    const pod = await this.cluster.addPod(node, name, {
      namespace: ns,
      labels,
      wire: false,
      manifest: (p, metadata) => labPodManifest(p, metadata.labels ?? {}),
    });
    const agent = await Agent.start(pod);
    this.agents.set(`${ns}/${name}`, agent);
    const add = this.cluster.sb.driverAdd(pod);
    options.duringAdd?.(pod);
    await add;
    await this.cluster.writePodStatus(pod);
    const lab: LabPod = { id: `${ns}/${name}`, ns, name, node: node.index, ip: pod.ip! };
    this.pods.set(lab.id, lab);
    this.sandboxPods.set(lab.id, pod);
    return lab;
  }

  node(index: number): SandboxNode {
    return this.nodes.find((n) => n.index === index)!;
  }

  client(node: SandboxNode): DaemonClient {
    return new DaemonClient(node.socket, { timeoutMs: 5000 });
  }

  /** One probe of the table. */
  async probe(from: string, to: string, flow: Flow, timeoutMs = 1000): Promise<boolean> {
    const dst = this.pods.get(to)!;
    if (flow === "icmp") {
      return await this.cluster.sb.ping(this.sandboxPods.get(from)!.netns, dst.ip, 1);
    }
    const [proto, port] = flow.split("/") as ["tcp" | "udp", string];
    return await this.agents.get(from)!.probe(proto, dst.ip, Number(port), timeoutMs);
  }

  /** Every pod to every other, for each flow; `concurrency` probes at a time. */
  table(flows: Flow[], options: { concurrency?: number; pods?: string[] } = {}) {
    const ids = options.pods ?? [...this.pods.keys()];
    const cells: Omit<ProbeCell, "ok">[] = [];
    for (const flow of flows) {
      for (const from of ids) {
        for (const to of ids) if (from !== to) cells.push({ from, to, flow });
      }
    }
    return pooled(cells, options.concurrency ?? 48, async (c) => ({
      ...c,
      ok: await this.probe(c.from, c.to, c.flow),
    }));
  }

  /** The explain verdict of `from` → `to`, asked of the sender's node. */
  async explain(from: string, to: string, flow: Flow): Promise<"allow" | "deny"> {
    const node = this.sandboxPods.get(from)!.node;
    const [proto, port] = flow.split("/");
    const body = flow === "icmp"
      ? { src: from, dst: to, proto: "icmp" }
      : { src: from, dst: to, proto, port: Number(port) };
    const out = await this.client(node).request<{ verdict: "allow" | "deny" }>(
      "POST",
      "/v1/policy/explain",
      body,
    );
    return out.verdict;
  }

  /** Each node's policy status. */
  status(node: SandboxNode): Promise<PolicyStatusResponse> {
    return this.client(node).request<PolicyStatusResponse>("GET", "/v1/policy/status");
  }

  /**
   * Waits until every node lists exactly `keys` as its policies, none invalid, its table up to
   * date and no pod held; returns the time it took.
   */
  async settled(keys: PolicyKey[], timeoutMs = 10_000): Promise<number> {
    const want = keys.map(keyString).sort().join(",");
    const seen: Record<string, unknown> = {};
    const { ms } = await pollUntil(async () => {
      for (const node of this.nodes) {
        const s = await this.status(node);
        const have = s.policies.map(keyString).sort().join(",");
        const invalid = s.policies.filter((p) => p.state === "invalid").map(keyString);
        const e = s.enforcement;
        seen[node.name] = { have, invalid, enforcement: e, rejected: s.rejected };
        if (have !== want || invalid.length > 0) return false;
        if (!e.enabled || !e.upToDate || e.pending.length > 0) return false;
      }
      return true;
    }, {
      what: `policies [${want}] applied on every node`,
      timeoutMs,
      intervalMs: 25,
      lastSeen: () => seen,
    });
    return ms;
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
    await this.cluster.cleanup();
  }
}

/** `Kind/ns/name`. */
export function keyString(k: PolicyKey): string {
  return `${k.kind}/${k.namespace ?? ""}/${k.name}`;
}

/** The policy keys of a list of manifests. */
export function keysOf(items: Record<string, unknown>[]): PolicyKey[] {
  return items.map((i) => {
    const m = i.metadata as { name: string; namespace?: string };
    return { kind: i.kind as string, namespace: m.namespace, name: m.name };
  });
}

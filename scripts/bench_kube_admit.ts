/**
 * `deno task bench --only kube-admit` (or this script alone): how soon a new pod's address reaches
 * a peer node's policy on the `kubernetes` cluster source (issue 11). On a two-node sandbox
 * cluster against the fake API server, node-2 runs `server`, whose ingress a NetworkPolicy opens
 * only to pods labelled `role=client`. For each of N new pods on node-1: its Pod is created first
 * through the API, Pending and without `status.podIPs` (as the scheduler leaves it); then ADD
 * through libcni; from ADD's start, a TCP connection to the server is tried every few ms from the
 * new pod (each with its own source port, so a dropped SYN does not hold the next one back); the
 * time to the first that succeeds is when node-2's policy admitted the pod. kubelet's own status
 * write (`status.podIPs`) is simulated too, a fixed delay after ADD returns (default 1 s: kubelet
 * learns the sandbox's address from the runtime and writes it with the pod's status after its
 * next pod sync, which its PLEG relist, once a second, starts), so the two series differ only in
 * `cluster.publishPodIPs`: with it, ternd patches the `tern.dev/pod-ips` annotation right after
 * ADD; without it only the status write admits the pod.
 *
 * Run alone: `deno run -A --unstable-kv scripts/bench_kube_admit.ts [--pods 20]
 * [--status-delay-ms 1000] [--probe-every-ms 5] [--json FILE]`. Needs root, the libcni driver and
 * the fake API server.
 * @module
 */
import { parseArgs } from "node:util";
import { Agent } from "../test/policy_lab.ts";
import { pollUntil } from "../test/poll.ts";
import type { SandboxNode } from "../test/sandbox.ts";
import { SandboxCluster } from "../test/sandbox_cluster.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import type { PolicyStatusResponse } from "../src/api.ts";
import { serverFromClientsPolicy } from "../test/cluster_fixtures.ts";

/** Knobs of {@linkcode benchKubeAdmit}. */
export interface KubeAdmitOptions {
  /** New pods per series (default 20). */
  pods?: number;
  /** From ADD's return to kubelet's status write (default 1000). */
  statusDelayMs?: number;
  /** Between two connection attempts (default 5). */
  probeEveryMs?: number;
  /** Each attempt's own timeout (default 250). */
  probeTimeoutMs?: number;
  /** Give up on a pod after this long (default 20 000). */
  deadlineMs?: number;
}

/** One series: every pod's ADD time and admission time, ms from ADD's start. */
export interface KubeAdmitSeries {
  publishPodIPs: boolean;
  addMs: number[];
  admitMs: number[];
}

/** Both series. */
export interface KubeAdmitResult {
  statusDelayMs: number;
  probeEveryMs: number;
  series: KubeAdmitSeries[];
}

const NS = "bench";

const POLICY = serverFromClientsPolicy(NS);

/** Both series, with the annotation and without, each on a cluster of its own. */
export async function benchKubeAdmit(options: KubeAdmitOptions = {}): Promise<KubeAdmitResult> {
  const series: KubeAdmitSeries[] = [];
  for (const publishPodIPs of [true, false]) series.push(await runSeries(publishPodIPs, options));
  return {
    statusDelayMs: options.statusDelayMs ?? 1000,
    probeEveryMs: options.probeEveryMs ?? 5,
    series,
  };
}

async function runSeries(
  publishPodIPs: boolean,
  options: KubeAdmitOptions,
): Promise<KubeAdmitSeries> {
  const pods = options.pods ?? 20;
  const statusDelayMs = options.statusDelayMs ?? 1000;
  const probeEveryMs = options.probeEveryMs ?? 5;
  const probeTimeoutMs = options.probeTimeoutMs ?? 250;
  const deadlineMs = options.deadlineMs ?? 20_000;
  const cluster = await SandboxCluster.create({
    source: "kubernetes",
    daemonConfig: { cluster: { publishPodIPs } },
  });
  const agents: Agent[] = [];
  try {
    const [node1, node2] = await cluster.addNodes(["node-1", "node-2"]) as [
      SandboxNode,
      SandboxNode,
    ];
    await cluster.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    await cluster.apply(POLICY);
    const server = await cluster.addPod(node2, "server", {
      namespace: NS,
      labels: { app: "server" },
      wire: false,
    });
    agents.push(await Agent.start(server));
    await cluster.sb.driverAdd(server);
    await cluster.writePodStatus(server);
    await settled([node1, node2]);

    const out: KubeAdmitSeries = { publishPodIPs, addMs: [], admitMs: [] };
    for (let i = 0; i < pods; i++) {
      const pod = await cluster.addPod(node1, `client-${i}`, {
        namespace: NS,
        labels: { role: "client" },
        wire: false,
      });
      const agent = await Agent.start(pod);
      agents.push(agent);
      let admittedAt: number | undefined;
      const attempts: Promise<void>[] = [];
      const t0 = performance.now();
      const probing = (async () => {
        while (admittedAt === undefined && performance.now() - t0 < deadlineMs) {
          const at = performance.now();
          attempts.push(
            agent.probe("tcp", server.ip!, 80, probeTimeoutMs).then((ok) => {
              if (ok && (admittedAt === undefined || at < admittedAt)) admittedAt = at;
            }),
          );
          await new Promise((r) => setTimeout(r, probeEveryMs));
        }
      })();
      await cluster.sb.driverAdd(pod);
      out.addMs.push(performance.now() - t0);
      const kubelet = (async () => {
        await new Promise((r) => setTimeout(r, statusDelayMs));
        await cluster.writePodStatus(pod);
      })();
      await probing;
      await Promise.all(attempts);
      await kubelet;
      if (admittedAt === undefined) {
        throw new Error(
          `Pod client-${i} was not admitted by node-2 within ${deadlineMs} ms (publishPodIPs: ${publishPodIPs})`,
        );
      }
      out.admitMs.push(admittedAt - t0);
      await agents.pop()!.stop();
    }
    return out;
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await cluster.cleanup();
  }
}

/** Waits until both nodes enforce the policy, up to date. */
async function settled(nodes: SandboxNode[]): Promise<void> {
  await pollUntil(async () => {
    for (const node of nodes) {
      const s = await new DaemonClient(node.socket, { timeoutMs: 5000 })
        .request<PolicyStatusResponse>("GET", "/v1/policy/status");
      if (s.policies.length !== 1 || !s.enforcement.enabled || !s.enforcement.upToDate) {
        return false;
      }
    }
    return true;
  }, { what: "the policy on both nodes", timeoutMs: 20_000 });
}

/** The p-th percentile (0..100) by nearest rank (pure). */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? NaN;
}

/** The result as a table: per series, ADD and admission p50/p99/max (pure). */
export function formatKubeAdmit(result: KubeAdmitResult): string {
  const f = (v: number) => v.toFixed(0).padStart(7);
  const rows = result.series.map((s) => {
    const name = s.publishPodIPs ? "annotation (publishPodIPs)" : "status only (kubelet)";
    const after = afterAdd(s);
    const cells = [
      percentile(s.addMs, 50),
      percentile(s.admitMs, 50),
      percentile(s.admitMs, 99),
      Math.max(...s.admitMs),
      percentile(after, 50),
      percentile(after, 99),
    ];
    return `  ${name.padEnd(28)} ${String(s.admitMs.length).padStart(4)}${cells.map(f).join(" ")}`;
  });
  return [
    `  kubelet's status write ${result.statusDelayMs} ms after ADD returns; ` +
    `a probe every ${result.probeEveryMs} ms`,
    `  ${"".padEnd(28)} pods  ADD50   adm50   adm99  admMax  -ADD50  -ADD99`,
    "  (ms; adm: from ADD's start to the first admitted connection; -ADD: after ADD returned)",
    ...rows,
  ].join("\n");
}

/** Each pod's admission after its ADD returned (negative: before) (pure). */
function afterAdd(s: KubeAdmitSeries): number[] {
  return s.admitMs.map((a, i) => a - s.addMs[i]!);
}

/** The figures for `--json` (pure). */
export function kubeAdmitSummary(result: KubeAdmitResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of result.series) {
    const key = s.publishPodIPs ? "annotation" : "statusOnly";
    out[`kubeAdmit.${key}.p50Ms`] = percentile(s.admitMs, 50);
    out[`kubeAdmit.${key}.p99Ms`] = percentile(s.admitMs, 99);
    out[`kubeAdmit.${key}.addP50Ms`] = percentile(s.addMs, 50);
    out[`kubeAdmit.${key}.afterAddP50Ms`] = percentile(afterAdd(s), 50);
    out[`kubeAdmit.${key}.afterAddP99Ms`] = percentile(afterAdd(s), 99);
  }
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      pods: { type: "string", default: "20" },
      "status-delay-ms": { type: "string", default: "1000" },
      "probe-every-ms": { type: "string", default: "5" },
      json: { type: "string" },
    },
  });
  const result = await benchKubeAdmit({
    pods: Number(values.pods),
    statusDelayMs: Number(values["status-delay-ms"]),
    probeEveryMs: Number(values["probe-every-ms"]),
  });
  console.log(
    `\nkube-admit: ADD on node-1 → node-2's policy admits the pod\n${formatKubeAdmit(result)}`,
  );
  if (values.json) {
    await Deno.writeTextFile(values.json, JSON.stringify(kubeAdmitSummary(result), null, 2));
  }
}

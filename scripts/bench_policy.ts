/**
 * Policy benchmark (issue 4, Speed), on a two-node sandbox cluster (root; nothing in the root
 * namespace): pod `srv/client` on node-1 talks to `srv/server` on node-2 while rules are present.
 *
 * - Cases: no policy; 1k and 10k SecurityGroup rules on other pods (`bench/loaded-<n>`, one per
 *   node, so both nodes' tables hold them: present, not on the pair's path); 10k rules in the
 *   server's own group (its own map holds them, plus one allow for the client); and the foil:
 *   no tern policy, but 10k non-matching rules in a linear iptables chain jumped to from FORWARD
 *   on both nodes, then ACCEPT.
 * - For each: iperf3 TCP throughput (median of `--rounds` runs of `--seconds`) and the TCP
 *   connection rate (4 loops of connect, read, close for `--seconds`), as ratios of the mean of
 *   two 0-rule runs (the first case and the last, which shows the machine's noise).
 * - Programming latency with 10k rules present: `measurePolicyLatency` (the daemon's manager, change
 *   → nft returned, in a throwaway netns), and end to end: a deny NetworkPolicy written to the
 *   cluster directory → the first refused probe, then removed → the first passing probe (this
 *   includes the files source's 100 ms debounce).
 *
 * `deno run -A --unstable-kv scripts/bench_policy.ts [--seconds=2] [--rounds=3] [--samples=10]
 * [--json]`; {@linkcode benchPolicy} is what `deno task bench` calls.
 * @module
 */
import { parseArgs } from "node:util";
import { SandboxCluster } from "../test/sandbox_cluster.ts";
import { must, type SandboxNode } from "../test/sandbox.ts";
import { Agent } from "../test/policy_lab.ts";
import { pollUntil } from "../test/poll.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import type { PolicyStatusResponse } from "../src/api.ts";
import { runIperf, startIperfServer } from "./iperf.ts";
import { CLK_TCK, descendants, readUsage } from "./proc_usage.ts";
import { measurePolicyLatency, type PolicyLatencyResult } from "../daemon/policy_latency.ts";
import { Nft } from "../src/nft.ts";
import { denoRunner } from "../src/runner.ts";

/** One case's figures. */
export interface PolicyBenchCase {
  name: string;
  /** Throughput, bits per second (median), and connections per second. */
  bps: number;
  connPerS: number;
  /** Ratios to the 0-rule case. */
  bpsRatio: number;
  connRatio: number;
  /** CPU the two daemons (with their children) used during the case, percent of one CPU. */
  daemonCpuPercent: number;
  /** How long the daemons stayed busy (over 5% of a CPU) before the case was measured, ms. */
  quietMs: number;
  /** Each node's policy transactions so far: `applies/whole/restores/checks`. */
  daemonCounters: string[];
  /** How long the rules took to be applied on both nodes (tern cases), ms. */
  applyMs?: number;
}

/** Everything the benchmark measured. */
export interface PolicyBenchResult {
  cases: PolicyBenchCase[];
  /** The manager's latency with 10k rules (change → nft returned). */
  manager: PolicyLatencyResult[];
  /** End to end: manifest written → first refused probe, and removed → first passing probe. */
  endToEnd: EndToEnd;
  /** The same with no rules present. */
  endToEndNoRules: EndToEnd;
  iptables: string;
}

/** Manifest written → first refused probe, removed → first passing probe, ms. */
export interface EndToEnd {
  rules: number;
  denyMs: number[];
  allowMs: number[];
  denyP50: number;
  denyP99: number;
  allowP50: number;
  allowP99: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const median = (v: number[]) => percentile(v, 50);

/** `n` SecurityGroup rules, each TCP to one port from one address of 10.200.0.0/14. */
export function loadRules(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    action: "allow",
    protocol: "tcp",
    ports: [1024 + (i % 50_000)],
    from: [{ cidr: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32` }],
  }));
}

function list(items: Record<string, unknown>[]) {
  return { apiVersion: "v1", kind: "List", items };
}

function loadManifests(rules: number, selector: string, extra: Record<string, unknown>[] = []) {
  return list([
    {
      apiVersion: "vpcresources.k8s.aws/v1beta1",
      kind: "SecurityGroupPolicy",
      metadata: { name: "load", namespace: selector === "server" ? "srv" : "bench" },
      spec: {
        podSelector: { matchLabels: { role: selector } },
        securityGroups: { groupIds: ["sg-load"] },
      },
    },
    {
      apiVersion: "tern.dev/v1alpha1",
      kind: "SecurityGroup",
      metadata: { name: "sg-load" },
      spec: { ingress: [...extra, ...loadRules(rules)], egress: [{ action: "allow" }] },
    },
  ]);
}

async function settled(nodes: SandboxNode[], count: number, timeoutMs = 60_000) {
  const { ms } = await pollUntil(async () => {
    for (const node of nodes) {
      const s = await new DaemonClient(node.socket, { timeoutMs: 10_000 }).request<
        PolicyStatusResponse
      >("GET", "/v1/policy/status");
      const e = s.enforcement;
      if (s.policies.length !== count || !e.enabled || !e.upToDate || e.pending.length) {
        return false;
      }
    }
    return true;
  }, { what: `${count} policies applied`, timeoutMs, intervalMs: 20 });
  return ms;
}

async function iptablesFoil(nodes: SandboxNode[], rules: number): Promise<string> {
  const lines = ["*filter", ":TERNBENCH - [0:0]"];
  for (let i = 0; i < rules; i++) {
    lines.push(
      `-A TERNBENCH -s 10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 -p tcp --dport ${
        1024 + (i % 50_000)
      } -j ACCEPT`,
    );
  }
  lines.push("-A FORWARD -j TERNBENCH", "-A FORWARD -j ACCEPT", "COMMIT", "");
  for (const binary of ["iptables-legacy", "iptables-nft"]) {
    try {
      for (const node of nodes) {
        await must(["ip", "netns", "exec", node.netns, `${binary}-restore`], {
          stdin: lines.join("\n"),
        });
      }
      return binary;
    } catch {
      for (const node of nodes) await clearFoil(node, binary);
    }
  }
  throw new Error("Neither iptables-legacy nor iptables-nft works in the node namespaces");
}

async function clearFoil(node: SandboxNode, binary: string) {
  await denoRunner(["ip", "netns", "exec", node.netns, `${binary}-restore`], {
    stdin: "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
  }).catch(() => {});
  await denoRunner(["ip", "netns", "exec", node.netns, binary, "-X", "TERNBENCH"]).catch(() => {});
}

/** Runs the benchmark; `log` gets progress lines. */
export async function benchPolicy(
  options: { seconds?: number; rounds?: number; samples?: number; log?: (s: string) => void } = {},
): Promise<PolicyBenchResult> {
  const seconds = options.seconds ?? 2;
  const rounds = options.rounds ?? 3;
  const samples = options.samples ?? 10;
  const log = options.log ?? ((s: string) => console.error(s));
  const cluster = await SandboxCluster.create();
  const agents: Agent[] = [];
  let iperf: { stop(): Promise<void> } | undefined;
  try {
    const [n1, n2] = await cluster.addNodes(["node-1", "node-2"]) as [SandboxNode, SandboxNode];
    const client = await cluster.addPod(n1, "client", {
      namespace: "srv",
      labels: { role: "client" },
    });
    const server = await cluster.addPod(n2, "server", {
      namespace: "srv",
      labels: { role: "server" },
    });
    await cluster.addPod(n1, "loaded-1", { namespace: "bench", labels: { role: "loaded" } });
    await cluster.addPod(n2, "loaded-2", { namespace: "bench", labels: { role: "loaded" } });
    const [ca, sa] = await Promise.all([Agent.start(client), Agent.start(server)]);
    agents.push(ca, sa);
    iperf = await startIperfServer(server.netns);
    const nodes = [n1, n2];
    await settled(nodes, 0);

    const daemonTicks = async () => {
      let ticks = 0;
      for (const node of nodes) {
        const pid = node.daemon?.pid;
        if (pid === undefined) continue;
        for (const p of [pid, ...await descendants(pid)]) {
          ticks += await readUsage(p).then((u) => u.ticks, () => 0);
        }
      }
      return ticks;
    };
    /**
     * Waits until the daemons use under 5% of a CPU over 500 ms (at most 60 s) and returns how
     * long that took: after a big change they stay busy for a while, which on a small machine
     * takes CPU from the flows measured, and is not the datapath's cost.
     */
    const quiet = async () => {
      const t0 = performance.now();
      while (performance.now() - t0 < 60_000) {
        const before = await daemonTicks();
        await new Promise((r) => setTimeout(r, 500));
        if (((await daemonTicks()) - before) / CLK_TCK / 0.5 < 0.05) break;
      }
      return Math.round(performance.now() - t0);
    };
    const counters = async () =>
      await Promise.all(nodes.map(async (node) => {
        const e = (await new DaemonClient(node.socket, { timeoutMs: 10_000 }).request<
          PolicyStatusResponse
        >("GET", "/v1/policy/status")).enforcement;
        return e.enabled
          ? `${node.name}: ${e.applies} applies, ${e.wholeApplies} whole, ${e.restores} restores, ${e.checks} checks`
          : `${node.name}: disabled`;
      }));
    const measure = async (name: string, applyMs?: number) => {
      const quietMs = await quiet();
      const ticks0 = await daemonTicks();
      const start = performance.now();
      const bps: number[] = [];
      for (let r = 0; r < rounds; r++) {
        bps.push(
          (await runIperf(client.netns, server.ip!, { protocol: "tcp", streams: 1 }, {
            seconds,
          })).receivedBps,
        );
      }
      const conns = await ca.connectRate(server.ip!, 80, seconds * 1000);
      const cpu = ((await daemonTicks()) - ticks0) / CLK_TCK / ((performance.now() - start) / 1000);
      const c = {
        daemonCpuPercent: Math.round(cpu * 1000) / 10,
        quietMs,
        daemonCounters: await counters(),
        name,
        bps: median(bps),
        connPerS: conns / seconds,
        bpsRatio: 0,
        connRatio: 0,
        ...(applyMs !== undefined ? { applyMs: Math.round(applyMs) } : {}),
      };
      log(
        `  ${name}: ${(c.bps / 1e9).toFixed(2)} Gbit/s, ${c.connPerS.toFixed(0)} conn/s, ` +
          `daemons ${c.daemonCpuPercent}% CPU (busy ${quietMs} ms before); ${
            c.daemonCounters.join("; ")
          }`,
      );
      return c;
    };
    const deny = list([{
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "deny", namespace: "srv" },
      spec: { podSelector: { matchLabels: { role: "server" } }, policyTypes: ["Ingress"] },
    }]);
    const until = async (want: boolean) => {
      const t0 = performance.now();
      while ((await ca.probe("tcp", server.ip!, 80, 30)) !== want) {
        if (performance.now() - t0 > 10_000) throw new Error(`probe never became ${want}`);
      }
      return performance.now() - t0;
    };
    /** Manifest written → first refused probe; removed → first passing probe. */
    const endToEndLatency = async (rules: number, n: number, present: number) => {
      const denyMs: number[] = [];
      const allowMs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await cluster.writeManifest("policy-deny.yaml", deny);
        await until(false);
        denyMs.push(performance.now() - t0);
        await settled(nodes, present + 1);
        const t1 = performance.now();
        await cluster.removeManifest("policy-deny.yaml");
        await until(true);
        allowMs.push(performance.now() - t1);
        await settled(nodes, present);
      }
      const round = (v: number) => Math.round(v * 10) / 10;
      const e = {
        rules,
        denyMs: denyMs.map(round),
        allowMs: allowMs.map(round),
        denyP50: round(percentile(denyMs, 50)),
        denyP99: round(percentile(denyMs, 99)),
        allowP50: round(percentile(allowMs, 50)),
        allowP99: round(percentile(allowMs, 99)),
      };
      log(
        `  end to end, ${rules} rules present: deny p50 ${e.denyP50} ms p99 ${e.denyP99} ms; ` +
          `allow again p50 ${e.allowP50} ms p99 ${e.allowP99} ms`,
      );
      return e;
    };
    const endToEndNoRules = await endToEndLatency(0, samples, 0);

    const cases: PolicyBenchCase[] = [];
    // One run not counted: the first iperf3 and connections of a fresh cluster are slower.
    await runIperf(client.netns, server.ip!, { protocol: "tcp", streams: 1 }, { seconds: 1 });
    await ca.connectRate(server.ip!, 80, 500);
    cases.push(await measure("0 rules"));
    for (const rules of [1000, 10_000]) {
      const t0 = performance.now();
      await cluster.writeManifest("policy-load.yaml", loadManifests(rules, "loaded"));
      await settled(nodes, 2);
      cases.push(await measure(`${rules / 1000}k rules, other pods`, performance.now() - t0));
    }

    // End-to-end latency with the 10k rules of other pods present.
    const endToEnd = await endToEndLatency(10_000, samples, 2);
    // 10k rules in the server's own map, plus the one that lets the client in.
    {
      await cluster.removeManifest("policy-load.yaml");
      await settled(nodes, 0);
      const t0 = performance.now();
      await cluster.writeManifest(
        "policy-load.yaml",
        loadManifests(10_000, "server", [{
          action: "allow",
          protocol: "tcp",
          from: [{ cidr: `${client.ip}/32` }],
        }]),
      );
      await settled(nodes, 2);
      cases.push(await measure("10k rules, the server's own group", performance.now() - t0));
      await cluster.removeManifest("policy-load.yaml");
      await settled(nodes, 0);
    }

    // The foil: a linear iptables chain of 10k non-matching rules on both nodes.
    const binary = await iptablesFoil(nodes, 10_000);
    try {
      cases.push(await measure(`10k rules, linear ${binary} FORWARD chain (foil)`));
    } finally {
      for (const node of nodes) await clearFoil(node, binary);
    }
    cases.push(await measure("0 rules again (noise)"));
    // Ratios to the mean of the two 0-rule runs (the first and the last case).
    const base = [cases[0]!, cases[cases.length - 1]!];
    const baseBps = (base[0]!.bps + base[1]!.bps) / 2;
    const baseConn = (base[0]!.connPerS + base[1]!.connPerS) / 2;
    for (const c of cases) {
      c.bpsRatio = Math.round((c.bps / baseBps) * 1000) / 1000;
      c.connRatio = Math.round((c.connPerS / baseConn) * 1000) / 1000;
    }

    // The manager's own latency, in a throwaway netns.
    const netns = `${cluster.sb.prefix}-latency`;
    await must(["ip", "netns", "add", netns]);
    const manager: PolicyLatencyResult[] = [];
    try {
      const nft = new Nft(denoRunner, { netns });
      for (const change of ["other-pod", "same-pod"] as const) {
        const r = await measurePolicyLatency(nft, { rules: 10_000, samples: 50, change });
        log(
          `  manager (${change}), 10k rules: p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms max ${r.maxMs} ms`,
        );
        manager.push({ ...r, latenciesMs: [] });
      }
    } finally {
      await denoRunner(["ip", "netns", "del", netns]);
    }
    return { cases, manager, endToEnd, endToEndNoRules, iptables: binary };
  } finally {
    await iperf?.stop();
    await Promise.all(agents.map((a) => a.stop()));
    await cluster.cleanup();
  }
}

/** The cases as a table (pure). */
export function formatPolicyBench(r: PolicyBenchResult): string {
  const lines = [
    "case                                            Gbit/s  ratio   conn/s  ratio  ternd CPU  applied  busy after",
  ];
  for (const c of r.cases) {
    lines.push(
      `${c.name.padEnd(48)}${(c.bps / 1e9).toFixed(2).padStart(6)}  ${c.bpsRatio.toFixed(3)}  ${
        c.connPerS.toFixed(0).padStart(7)
      }  ${c.connRatio.toFixed(3)}  ${`${c.daemonCpuPercent}%`.padStart(9)}  ${
        (c.applyMs !== undefined ? `${c.applyMs} ms` : "").padStart(7)
      }  ${c.quietMs} ms`.trimEnd(),
    );
  }
  for (const m of r.manager) {
    lines.push(
      `programming (manager, ${m.change}, ${m.rules} rules, ${m.samples} samples): p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, max ${m.maxMs} ms`,
    );
  }
  for (const e of [r.endToEndNoRules, r.endToEnd]) {
    lines.push(
      `end to end, ${e.rules} rules present, ${e.denyMs.length} samples: manifest → first refused probe p50 ${e.denyP50} ms, p99 ${e.denyP99} ms; removed → first passing probe p50 ${e.allowP50} ms, p99 ${e.allowP99} ms`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "boolean" },
      seconds: { type: "string" },
      rounds: { type: "string" },
      samples: { type: "string" },
    },
  });
  const result = await benchPolicy({
    ...(args.seconds ? { seconds: Number(args.seconds) } : {}),
    ...(args.rounds ? { rounds: Number(args.rounds) } : {}),
    ...(args.samples ? { samples: Number(args.samples) } : {}),
  });
  console.log(args.json ? JSON.stringify(result, null, 2) : formatPolicyBench(result));
}

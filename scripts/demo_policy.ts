/**
 * The policy part of the cluster demo (issue 4): on a running {@linkcode SandboxCluster}, four
 * pods (`shop/frontend`, `shop/backend`, `shop/db`, `other/intruder`, spread over the nodes), each
 * running the scenario agent (`test/policy_agent.ts`: TCP 80). Prints the TCP 80 matrix with no
 * policy, after a SecurityGroup (`db` accepts only members of `sg-backend`), and after a
 * NetworkPolicy as well (`backend` accepts only `frontend`), with `tern policy explain` of a
 * denied cell; then takes its manifests and pods away. Each step waits until every node reports
 * the policies applied. `demoPolicy(cluster)` is what `scripts/demo.ts` calls; run alone with
 * `deno run -A --unstable-kv scripts/demo_policy.ts [--source files|kubernetes]` (it builds its
 * own three-node cluster).
 * @module
 */
import { parseArgs } from "node:util";
import {
  type ClusterSource,
  parseClusterSource,
  SandboxCluster,
  sourceUnsupported,
} from "../test/sandbox_cluster.ts";
import type { SandboxPod } from "../test/sandbox.ts";
import { Agent } from "../test/policy_lab.ts";
import { type Cell, formatMatrix } from "../test/reachability.ts";
import { pollUntil } from "../test/poll.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import type { PolicyStatusResponse } from "../src/api.ts";
import { denoRunner } from "../src/runner.ts";
import { ternCommand } from "../test/sandbox.ts";

const PODS: [string, string, Record<string, string>][] = [
  ["shop", "frontend", { app: "frontend" }],
  ["shop", "backend", { app: "backend" }],
  ["shop", "db", { app: "db" }],
  ["other", "intruder", { app: "intruder" }],
];

const SECURITY_GROUPS = [
  {
    apiVersion: "vpcresources.k8s.aws/v1beta1",
    kind: "SecurityGroupPolicy",
    metadata: { name: "db", namespace: "shop" },
    spec: { podSelector: { matchLabels: { app: "db" } }, securityGroups: { groupIds: ["sg-db"] } },
  },
  {
    apiVersion: "vpcresources.k8s.aws/v1beta1",
    kind: "SecurityGroupPolicy",
    metadata: { name: "backend", namespace: "shop" },
    spec: {
      podSelector: { matchLabels: { app: "backend" } },
      securityGroups: { groupIds: ["sg-backend"] },
    },
  },
  {
    apiVersion: "tern.dev/v1alpha1",
    kind: "SecurityGroup",
    metadata: { name: "sg-db" },
    spec: {
      description: "the database: TCP 80 from the backends only",
      ingress: [{
        action: "allow",
        protocol: "tcp",
        ports: [80],
        from: [{ securityGroup: "sg-backend" }],
      }],
      egress: [{ action: "allow" }],
    },
  },
  {
    apiVersion: "tern.dev/v1alpha1",
    kind: "SecurityGroup",
    metadata: { name: "sg-backend" },
    spec: { ingress: [{ action: "allow" }], egress: [{ action: "allow" }] },
  },
];

const NETWORK_POLICY = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "backend-from-frontend", namespace: "shop" },
  spec: {
    podSelector: { matchLabels: { app: "backend" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "frontend" } } }] }],
  },
};

async function applied(cluster: SandboxCluster, count: number): Promise<number> {
  const { ms } = await pollUntil(async () => {
    for (const node of cluster.nodes) {
      const s = await new DaemonClient(node.socket, { timeoutMs: 5000 }).request<
        PolicyStatusResponse
      >("GET", "/v1/policy/status");
      const e = s.enforcement;
      if (s.policies.length !== count || !e.enabled || !e.upToDate) return false;
    }
    return true;
  }, { what: `${count} policies applied on every node`, timeoutMs: 15_000, intervalMs: 25 });
  return ms;
}

/**
 * Runs the policy demo on `cluster` (its nodes' daemons running, no policy manifests of its
 * own); `log` prints (default `console.log`). Leaves the cluster as it found it.
 */
export async function demoPolicy(
  cluster: SandboxCluster,
  options: { log?: (line: string) => void } = {},
): Promise<void> {
  const log = options.log ?? console.log;
  const nodes = cluster.nodes;
  const pods: SandboxPod[] = [];
  const agents: Agent[] = [];
  const written: Record<string, unknown>[] = [];
  try {
    for (const [i, [namespace, name, labels]] of PODS.entries()) {
      const pod = await cluster.addPod(nodes[i % nodes.length]!, name, { namespace, labels });
      pods.push(pod);
      agents.push(await Agent.start(pod));
    }
    const names = pods.map((p) => `${p.name}@${p.node.name}`);
    const matrix = async (title: string) => {
      const cells: Cell[] = [];
      await Promise.all(agents.flatMap((from, i) =>
        pods.map(async (to, j) => {
          if (i === j) return;
          cells.push({
            from: names[i]!,
            to: names[j]!,
            ok: await from.probe("tcp", to.ip!, 80, 1000),
          });
        })
      ));
      log(`\n${title}\n${formatMatrix(names, cells, { width: 18, blocked: "blocked" })}`);
    };
    log("\npolicy: pods shop/frontend, shop/backend, shop/db, other/intruder; TCP 80");
    await matrix("no policy: everyone reaches everyone");

    await cluster.applyAll(SECURITY_GROUPS);
    written.push(...SECURITY_GROUPS);
    let ms = await applied(cluster, SECURITY_GROUPS.length);
    await matrix(
      `SecurityGroup sg-db (db: TCP 80 from sg-backend only; applied on every node in ${
        ms.toFixed(0)
      } ms)`,
    );

    await cluster.apply(NETWORK_POLICY);
    written.push(NETWORK_POLICY);
    ms = await applied(cluster, SECURITY_GROUPS.length + 1);
    await matrix(
      `+ NetworkPolicy shop/backend-from-frontend (applied on every node in ${ms.toFixed(0)} ms)`,
    );

    const intruder = pods[3]!;
    const out = await denoRunner([
      ...ternCommand(),
      "--socket",
      intruder.node.socket,
      "policy",
      "explain",
      "other/intruder",
      "shop/db",
      "tcp/80",
    ]);
    log(`\n$ tern policy explain other/intruder shop/db tcp/80\n${out.stdout.trimEnd()}`);
  } finally {
    await cluster.removeAll(written);
    await Promise.all(agents.map((a) => a.stop()));
    for (const pod of pods) await cluster.removePod(pod).catch(() => {});
  }
}

/**
 * The demos' `--source files|kubernetes` flag (default `files`); throws a `TypeError` that says
 * what to use for an unknown flag or source.
 */
export function sourceFlag(args: string[]): ClusterSource {
  const { values } = parseArgs({
    args,
    options: { source: { type: "string", default: "files" } },
  });
  return parseClusterSource(values.source!, "--source");
}

/**
 * The source from `args`, or undefined after saying on stderr why the demo cannot run on it
 * (a bad flag, or a source this checkout cannot run yet).
 */
export async function demoSource(args: string[], what: string): Promise<ClusterSource | undefined> {
  let source: ClusterSource;
  try {
    source = sourceFlag(args);
  } catch (err) {
    console.error(`${(err as Error).message}\nUsage: ${what} [--source files|kubernetes]`);
    return undefined;
  }
  const unsupported = await sourceUnsupported(source);
  if (unsupported !== undefined) {
    console.error(`Cannot run ${what} on the ${source} source: ${unsupported}`);
    return undefined;
  }
  return source;
}

if (import.meta.main) {
  const source = await demoSource(Deno.args, "the policy demo");
  if (source === undefined) Deno.exit(2);
  const cluster = await SandboxCluster.create({ source });
  try {
    await cluster.addNodes(["node-1", "node-2", "node-3"]);
    await demoPolicy(cluster);
  } finally {
    await cluster.cleanup();
  }
}

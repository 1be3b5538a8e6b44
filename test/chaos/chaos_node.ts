/**
 * The one-node sandbox most chaos scenarios run on, and the runtime's side of it: pods added and
 * deleted through the libcni driver (`tools/cnidriver`) as a container runtime would, one at a
 * time or in bulk, and the audit of the node at the end.
 * @module
 */
import { Sandbox, type SandboxNode, type SandboxPod } from "../sandbox.ts";
import { AUDIT_COUNTS, auditNode, type AuditReport } from "./audit.ts";
import type { ChaosCounts, ChaosOutcome } from "./scenario.ts";

/** One entry of a bulk report of the libcni driver. */
export interface BulkResult {
  id: string;
  ok: boolean;
  error: string;
  ms: number;
  ips: string[] | null;
}

/** Options of {@linkcode withChaosNode}. */
export interface ChaosNodeOptions {
  podCIDR?: string;
  /** YAML appended to the daemon's config. */
  extraConfig?: string;
  /** Keys merged into tern's entry of the node's conflist (e.g. `daemonTimeoutMs`). */
  plugin?: Record<string, unknown>;
}

/**
 * Where to copy each node's logs (daemon, plugin) before the sandbox goes, from
 * `TERN_CHAOS_LOGS`; undefined: they go with it.
 */
export function keptLogsDir(): string | undefined {
  return Deno.env.get("TERN_CHAOS_LOGS") || undefined;
}

/** Copies the logs of every node of `sb` into `dir`/<prefix>-<node>-<file>. */
export async function keepLogs(sb: Sandbox, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const node of sb.nodes.values()) {
    for (const file of ["ternd.log", "plugin.log"]) {
      await Deno.copyFile(`${node.dir}/${file}`, `${dir}/${sb.prefix}-${node.name}-${file}`)
        .catch(() => {});
    }
  }
}

/** Runs `fn` on a fresh sandbox with one node whose daemon runs; always cleans up. */
export async function withChaosNode<T>(
  options: ChaosNodeOptions,
  fn: (sb: Sandbox, node: SandboxNode) => Promise<T>,
): Promise<T> {
  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("n1", {
      podCIDR: options.podCIDR ?? "10.244.1.0/24",
      ...(options.extraConfig ? { extraConfig: options.extraConfig } : {}),
    });
    if (options.plugin !== undefined) await setPluginConf(sb, node, options.plugin);
    await sb.binDir(); // made once here: concurrent first calls of the driver would race on it
    await sb.startDaemon(node);
    return await fn(sb, node);
  } finally {
    const logs = keptLogsDir();
    if (logs !== undefined) await keepLogs(sb, logs);
    await sb.cleanup();
  }
}

/** Merges `keys` into tern's entry of the node's conflist, which the libcni driver reads. */
export async function setPluginConf(
  sb: Sandbox,
  node: SandboxNode,
  keys: Record<string, unknown>,
): Promise<void> {
  const list = sb.conflist(node) as { plugins: Record<string, unknown>[] };
  list.plugins[0] = { ...list.plugins[0], ...keys };
  await Deno.writeTextFile(`${node.confDir}/10-tern.conflist`, JSON.stringify(list, null, 2));
}

/** Makes `count` pod namespaces on `node` (not wired). */
export async function makePods(
  sb: Sandbox,
  node: SandboxNode,
  count: number,
): Promise<SandboxPod[]> {
  const pods: SandboxPod[] = [];
  for (let i = 0; i < count; i++) pods.push(await sb.addPod(node));
  return pods;
}

/**
 * Runs `op` (add, check, del) for `pods` through the libcni driver, at most `concurrency` at a
 * time; records each added pod's IP. Returns the driver's results in the order of `pods`.
 */
export async function bulk(
  sb: Sandbox,
  node: SandboxNode,
  op: "add" | "check" | "del",
  pods: readonly SandboxPod[],
  concurrency: number,
): Promise<BulkResult[]> {
  if (pods.length === 0) return [];
  const list = `${node.dir}/bulk-${crypto.randomUUID()}.json`;
  await Deno.writeTextFile(
    list,
    JSON.stringify(pods.map((p) => ({
      id: p.containerID,
      netns: p.netnsPath,
      ifname: p.ifname,
      args: sb.cniArgs(p),
    }))),
  );
  const out = await sb.driver(node, [
    "bulk",
    op,
    "--pods",
    list,
    "--concurrency",
    String(concurrency),
  ]);
  await Deno.remove(list).catch(() => {});
  let report: { results: BulkResult[] };
  try {
    report = JSON.parse(out.stdout);
  } catch {
    throw new Error(`The libcni driver printed no report: exit ${out.code}: ${out.stderr.trim()}`);
  }
  const byId = new Map(pods.map((p) => [p.containerID, p]));
  for (const r of report.results) {
    const pod = byId.get(r.id);
    if (op === "add" && r.ok && pod && r.ips?.[0]) pod.ip = r.ips[0].split("/")[0]!;
  }
  return report.results;
}

/** Whether a failed ADD's error is the pool's exhaustion (code 11, "No free pod address"). */
export function isExhaustion(error: string): boolean {
  return /No free pod address/.test(error);
}

/**
 * The audit's counts merged into `counts`, as a scenario's outcome: the audit's five must be 0,
 * and so must every name in `alsoZero`.
 */
export function outcomeWithAudit(
  counts: ChaosCounts,
  audit: AuditReport & { settledMs?: number },
  options: { alsoZero?: string[]; problems?: string[] } = {},
): ChaosOutcome {
  return {
    counts: { ...counts, ...audit.counts },
    mustBeZero: [...(options.alsoZero ?? []), ...AUDIT_COUNTS],
    problems: [...(options.problems ?? []), ...audit.problems],
  };
}

export { auditNode };

/**
 * Text rendering for the operator CLI: aligned tables, the daemon's status and the endpoint list.
 * Pure functions from data to text, so every layout is unit-tested without a daemon.
 * @module
 */
import type {
  ClusterKindStatus,
  ClusterStatus,
  Endpoint,
  PolicySummary,
  ReconcilePass,
  RoutingStatus,
  StatusResponse,
} from "../src/api.ts";

/**
 * Renders rows under a header as left-aligned columns separated by two spaces. The last column
 * is not padded, so lines carry no trailing blanks.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    header.map((_, i) => {
      const cell = cells[i] ?? "";
      return i === header.length - 1 ? cell : cell.padEnd(widths[i]!);
    }).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** A duration for people: "42s", "5m 3s", "2h 5m", "3d 4h". Negative or NaN is "0s". */
export function formatDuration(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/**
 * `tern status` as text: the daemon's identity and health, the cluster source and routing (when
 * the daemon reports them), one line per pool, one per peer node, then problems, failing
 * changes and bad manifests. `options.now` (default `Date.now`) dates the last passes.
 */
export function renderStatus(status: StatusResponse, options: { now?: number } = {}): string {
  const now = options.now ?? Date.now();
  const capacity = status.pools.reduce((n, p) => n + p.capacity, 0);
  const used = status.pools.reduce((n, p) => n + p.used, 0);
  const fields: [string, string][] = [
    ["node", status.node],
    [
      "ready",
      status.ready ? "yes" : status.starting ? `no, starting: ${status.starting}` : "no",
    ],
    ["version", status.version],
    ["uptime", formatDuration(status.uptimeMs)],
    ["endpoints", String(status.endpoints)],
    ["addresses", `${used} used, ${status.free} free of ${capacity}`],
    ...(status.cluster ? [["cluster", clusterLine(status.cluster, now)] as [string, string]] : []),
    ...(status.routing ? routingFields(status.routing, now) : []),
    ...(status.policy ? [["policy", policyLine(status.policy, now)] as [string, string]] : []),
  ];
  let text = fields.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}`).join("\n") + "\n";
  if (status.cluster?.refused !== undefined) text += `refused:   ${status.cluster.refused}\n`;
  if (status.free === 0 && capacity > 0) {
    text += "warning:   no free address: new pods on this node will fail to start\n";
  }
  text += "\n";
  if (status.starting !== undefined) {
    if (status.cluster?.kinds) text += kindTable(status.cluster.kinds);
    return text;
  }
  if (status.pools.length === 0) text += "no pools: the node has no pod CIDR\n";
  else text += poolTable(status);
  if (status.routing) text += routingDetails(status.routing, now);
  if (status.cluster?.kinds) text += "\n" + kindTable(status.cluster.kinds);
  if (status.cluster && status.cluster.errors.length > 0) {
    text += `\nbad manifests (latest ${status.cluster.errors.length}, skipped):\n`;
    text += status.cluster.errors.map((e) => `  ${e}\n`).join("");
  }
  return text;
}

/** The policy line of `tern status`: what is enforced, and the last transaction. */
export function policyLine(policy: PolicySummary, now: number): string {
  if (!policy.enabled) return "disabled (policy.enabled is false): nothing enforced";
  const held = policy.pending ?? 0;
  let line = `${policy.policies ?? 0} policies, ${policy.pods ?? 0} pods programmed${
    held > 0 ? `, ${held} HELD CLOSED` : ""
  }, ${policy.problems ?? 0} problems`;
  const a = policy.lastApply;
  if (a?.kind === "failed") line += `; last transaction FAILED ${ago(a.at, now)}: ${a.error}`;
  else if (a) line += `; applied ${ago(a.at, now)} (${a.kind}, ${a.durationMs} ms)`;
  if (policy.upToDate === false && a?.kind !== "failed") line += "; changes waiting";
  return line + " (tern policy status)";
}

function poolTable(status: StatusResponse): string {
  return renderTable(
    ["POOL", "CAPACITY", "USED", "FREE", "USE%"],
    status.pools.map((p) => [
      p.cidr,
      String(p.capacity),
      String(p.used),
      String(p.free),
      p.capacity > 0 ? `${Math.round((p.used / p.capacity) * 100)}%` : "-",
    ]),
  );
}

function ago(at: number, now: number): string {
  return `${formatDuration(now - at)} ago`;
}

/**
 * The `kubernetes` source's kinds: whether each is listed and watched, how many objects, how
 * stale the node's view is, and the last error. A kind the API server does not serve (its CRD is
 * not installed) says so; it is retried.
 */
export function kindTable(kinds: readonly ClusterKindStatus[]): string {
  return renderTable(
    ["KIND", "STATE", "OBJECTS", "INVALID", "STALE", "RECONNECTS", "RELISTS", "LAST ERROR"],
    kinds.map((k) => [
      k.kind,
      k.missing ? "crd missing" : !k.synced ? "listing" : k.watching ? "watching" : "reconnecting",
      String(k.objects),
      String(k.invalid),
      k.staleSeconds === undefined ? "-" : formatDuration(k.staleSeconds * 1000),
      String(k.reconnects),
      String(k.relists),
      k.lastError ?? "",
    ]),
  );
}

function clusterLine(cluster: ClusterStatus, now: number): string {
  let line = `${cluster.source} (${cluster.nodes} nodes, ${cluster.pods} pods)`;
  if (cluster.synced === false) line += ", NOT SYNCED: first lists not in yet";
  const what = cluster.kinds !== undefined ? "pod addresses" : "endpoints";
  if (!cluster.publishEndpoints) return `${line}, ${what} not published`;
  const p = cluster.published;
  if (p === undefined) line += `, ${what} not published yet`;
  else if (p.error !== undefined) {
    line += `, publishing ${what} FAILED ${ago(p.at, now)}: ${p.error}`;
  } else line += `, ${p.endpoints} endpoints published ${ago(p.at, now)}`;
  return line;
}

function passSummary(pass: ReconcilePass, now: number): string {
  const changes = pass.added + pass.replaced + pass.deleted;
  const what = pass.error !== undefined
    ? `FAILED: ${pass.error}`
    : changes === 0 && pass.failed === 0
    ? "no change"
    : `${pass.added} added, ${pass.replaced} replaced, ${pass.deleted} deleted${
      pass.failed ? `, ${pass.failed} failed` : ""
    }`;
  return `${ago(pass.startedAt, now)} (${pass.trigger}, ${pass.durationMs} ms): ${what}`;
}

function routingFields(routing: RoutingStatus, now: number): [string, string][] {
  const r = routing.reconcile;
  const mode = routing.mode === "native"
    ? "native: tern installs no peer routes (the underlay routes pod CIDRs)"
    : `routes: ${routing.peers.reduce((n, p) => n + p.routed.length, 0)} peer routes to ${
      routing.peers.filter((p) => p.routed.length > 0).length
    } of ${routing.peers.length} peers`;
  const fields: [string, string][] = [
    [
      "routing",
      routing.podCIDRsFrom === "blocks"
        ? `${mode}; addresses from blocks of IPPools`
        : `${mode}; pod CIDRs from the ${routing.podCIDRsFrom}`,
    ],
    [
      "owned",
      `${r.ownedRoutes} routes, ${r.ownedRules} rules; ${r.passes} passes every ${
        formatDuration(r.intervalMs)
      } and on change; ip monitor ${r.monitor}`,
    ],
  ];
  if (r.lastPass) fields.push(["last pass", passSummary(r.lastPass, now)]);
  if (
    r.lastChange && r.lastChange !== r.lastPass && r.lastChange.startedAt !== r.lastPass?.startedAt
  ) {
    fields.push(["changed", passSummary(r.lastChange, now)]);
  }
  return fields;
}

function routingDetails(routing: RoutingStatus, now: number): string {
  let text = "";
  if (routing.peers.length > 0) {
    text += "\n" + renderTable(
      ["PEER", "ADDRESS", "POD CIDRS", "ROUTED"],
      routing.peers.map((p) => [
        p.node,
        p.address ?? "-",
        p.podCIDRs.join(",") || "-",
        routing.mode === "native"
          ? "native"
          : p.routed.length === p.podCIDRs.length && p.routed.length > 0
          ? "yes"
          : p.routed.length > 0
          ? p.routed.join(",")
          : "no",
      ]),
    );
  }
  if (routing.problems.length > 0) {
    text += "\nproblems:\n" + routing.problems.map((p) => `  ${p.message}\n`).join("");
  }
  const failing = routing.reconcile.failing;
  if (failing.length > 0) {
    text += "\nfailing changes (retried with backoff):\n" +
      failing.map((f) =>
        `  ${f.item}: ${f.error} (${f.attempts} attempt${f.attempts === 1 ? "" : "s"} since ${
          ago(f.since, now)
        }, next in ${formatDuration(Math.max(0, f.retryAt - now))})\n`
      ).join("");
  }
  return text;
}

/** Orders IPv4 addresses numerically ("10.0.0.9" before "10.0.0.10"); others sort as text. */
export function compareIp(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  if (pa.length === 4 && pb.length === 4 && [...pa, ...pb].every(Number.isInteger)) {
    for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
    return 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `tern ipam ls` as a table sorted by address: container ID (12 characters unless
 * `options.wide`), interface, address, state, host veth and pod; "-" marks what is not known.
 */
export function renderEndpoints(
  endpoints: readonly Endpoint[],
  options: { wide?: boolean } = {},
): string {
  if (endpoints.length === 0) return "no endpoints\n";
  const sorted = [...endpoints].sort((a, b) => compareIp(a.ip, b.ip));
  return renderTable(
    ["CONTAINER", "IFNAME", "IP", "STATE", "HOST VETH", "POD"],
    sorted.map((e) => [
      options.wide ? e.containerID : e.containerID.slice(0, 12),
      e.ifname,
      e.ip,
      e.state,
      e.hostVeth || "-",
      e.podName ? `${e.podNamespace ?? "default"}/${e.podName}` : "-",
    ]),
  );
}

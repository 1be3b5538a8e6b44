/**
 * Text rendering for the operator CLI: aligned tables, the daemon's status and the endpoint list.
 * Pure functions from data to text, so every layout is unit-tested without a daemon.
 * @module
 */
import type { Endpoint, StatusResponse } from "../src/api.ts";

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

/** `tern status` as text: the daemon's identity and health, then one line per pool. */
export function renderStatus(status: StatusResponse): string {
  const capacity = status.pools.reduce((n, p) => n + p.capacity, 0);
  const used = status.pools.reduce((n, p) => n + p.used, 0);
  const fields: [string, string][] = [
    ["node", status.node],
    ["ready", status.ready ? "yes" : "no"],
    ["version", status.version],
    ["uptime", formatDuration(status.uptimeMs)],
    ["endpoints", String(status.endpoints)],
    ["addresses", `${used} used, ${status.free} free of ${capacity}`],
  ];
  let text = fields.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}`).join("\n") + "\n";
  if (status.free === 0 && capacity > 0) {
    text += "warning:   no free address: new pods on this node will fail to start\n";
  }
  text += "\n";
  if (status.pools.length === 0) return text + "no pools: the node has no pod CIDR\n";
  return text + renderTable(
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

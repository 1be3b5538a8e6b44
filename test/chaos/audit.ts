/**
 * The chaos battery's audit of one node: what the daemon's KV state says (the IPAM's
 * attachments and addresses, in node-cidr and blocks mode alike) against what the kernel holds
 * (tern's host veths, their ready marks, the host routes and ip rules of tern's protocol, every
 * veth name and pod address that `table inet tern` mentions) and against the pods the scenario
 * knows to be alive. It reads only kernel state and the KV records, never the daemon's internals,
 * so it stays true however the daemon or the plugin does its work. Every finding is one counted
 * problem, and all five counts must be 0:
 *
 * - **duplicates**: an address held by two attachments, two host routes to one address, two live
 *   pods with one address;
 * - **leaks**: an address held in KV whose pod is gone (no live pod, or no veth), an `["ip", …]`
 *   key without its attachment;
 * - **strays**: a kernel object no attachment accounts for (a `tern…` veth, a route, a rule, a
 *   ready mark, a veth name or pod address in the nftables table);
 * - **missing**: a live pod without its record, veth, route, ready mark or pod-side address;
 * - **orphans**: a process in the node's namespace that no running ternd started (a child of a
 *   killed daemon, such as its `ip monitor`, still alive).
 *
 * {@linkcode auditFindings} is pure and unit-tested; {@linkcode snapshotNode} is the edge that
 * reads KV, `ip`, `nft` and `/proc`.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import { hostVethName, VETH_PREFIX } from "../../src/names.ts";
import { READY_GROUP } from "../../src/policy/render.ts";
import { denoRunner } from "../../src/runner.ts";
import type { SandboxNode, SandboxPod } from "../sandbox.ts";

/** The names of the audit's counts, each of which must be 0. */
export const AUDIT_COUNTS = ["duplicates", "leaks", "strays", "missing", "orphans"] as const;

/** One of {@linkcode AUDIT_COUNTS}. */
export type AuditKind = typeof AUDIT_COUNTS[number];

/** An attachment as KV records it, with the host veth it has or will have. */
export interface KvAttachment {
  containerID: string;
  ifname: string;
  ip: string;
  state: Endpoint["state"];
  /** The recorded host veth, or the name derived from the identity when not yet programmed. */
  veth: string;
}

/** A process found in the node's namespace. */
export interface NodeProcess {
  pid: number;
  cmdline: string;
  /** Whether the running ternd is this process or one of its ancestors. */
  daemonTree: boolean;
}

/** A live pod, as the scenario knows it, and what its own namespace holds. */
export interface LivePod {
  containerID: string;
  ifname: string;
  /** The address its ADD returned. */
  ip: string;
  /** The IPv4 addresses (no prefix) on its interface inside the pod's netns. */
  podAddresses: string[];
}

/** Everything the audit looks at on one node, read at one moment of quiet. */
export interface NodeSnapshot {
  node: string;
  attachments: KvAttachment[];
  /** `["ip", addr]` keys → the identity they name (`containerID/ifname`). */
  ipKeys: Map<string, string>;
  /** tern's host veths → interface group. */
  veths: Map<string, number>;
  /** Routes of tern's protocol through a tern veth (any table): destination and device. */
  routes: { dst: string; dev: string }[];
  /** Rules of tern's protocol that name one address (`from a.b.c.d` or `to a.b.c.d/32`). */
  ruleAddresses: string[];
  /** Whether `table inet tern` exists. */
  nftTable: boolean;
  /** Every `tern…` veth name the table's listing mentions. */
  nftVeths: string[];
  /** Every single address (not a range, not a prefix) the table mentions, within `podRanges`. */
  nftAddresses: string[];
  processes: NodeProcess[];
  /** Live pods, when the scenario knows them; undefined: every attachment with a veth is live. */
  live: LivePod[] | undefined;
}

/** What to hold the snapshot to. */
export interface AuditExpectation {
  /** Policy is on: every programmed attachment's veth carries the ready mark. Default false. */
  readyMarks?: boolean;
}

/** The audit's result: counts and one line per finding. */
export interface AuditReport {
  counts: Record<AuditKind, number>;
  problems: string[];
}

/** Compares KV with the kernel and the live pods. Pure. */
export function auditFindings(snap: NodeSnapshot, expect: AuditExpectation = {}): AuditReport {
  const counts: Record<AuditKind, number> = {
    duplicates: 0,
    leaks: 0,
    strays: 0,
    missing: 0,
    orphans: 0,
  };
  const problems: string[] = [];
  const found = (kind: AuditKind, what: string) => {
    counts[kind]++;
    problems.push(`${snap.node}: ${kind}: ${what}`);
  };
  const idOf = (a: { containerID: string; ifname: string }) => `${a.containerID}/${a.ifname}`;

  // KV against itself.
  const byIp = groupBy(snap.attachments, (a) => a.ip);
  for (const [ip, holders] of byIp) {
    if (holders.length > 1) {
      found("duplicates", `address ${ip} held by ${holders.map(idOf).join(", ")}`);
    }
  }
  for (const [ip, id] of snap.ipKeys) {
    if (!(byIp.get(ip) ?? []).some((a) => idOf(a) === id)) {
      found("leaks", `address ${ip} is claimed for ${id}, which holds no such attachment`);
    }
  }
  for (const a of snap.attachments) {
    if (snap.ipKeys.get(a.ip) !== idOf(a)) {
      found("missing", `attachment ${idOf(a)} holds ${a.ip} without its ["ip"] claim`);
    }
  }

  // KV against the live pods.
  const attachmentById = new Map(snap.attachments.map((a) => [idOf(a), a]));
  const liveIds = new Set<string>();
  if (snap.live !== undefined) {
    for (const [ip, pods] of groupBy(snap.live, (p) => p.ip)) {
      if (pods.length > 1) {
        found("duplicates", `live pods ${pods.map(idOf).join(", ")} share ${ip}`);
      }
    }
    for (const pod of snap.live) {
      liveIds.add(idOf(pod));
      const a = attachmentById.get(idOf(pod));
      if (a === undefined) found("missing", `live pod ${idOf(pod)} (${pod.ip}) has no attachment`);
      else if (a.ip !== pod.ip) {
        found("missing", `live pod ${idOf(pod)} got ${pod.ip} but KV holds ${a.ip} for it`);
      }
      if (!pod.podAddresses.includes(pod.ip)) {
        found("missing", `live pod ${idOf(pod)} lacks ${pod.ip} in its netns`);
      }
    }
  }

  // KV against the kernel.
  const routesByDst = groupBy(snap.routes, (r) => r.dst);
  for (const [dst, routes] of routesByDst) {
    if (routes.length > 1) found("duplicates", `${routes.length} routes to ${dst}`);
  }
  const attachmentVeths = new Set<string>();
  for (const a of snap.attachments) {
    attachmentVeths.add(a.veth);
    const live = snap.live === undefined ? snap.veths.has(a.veth) : liveIds.has(idOf(a));
    if (!live) {
      found("leaks", `address ${a.ip} held by ${idOf(a)} (${a.state}), whose pod is gone`);
      continue;
    }
    if (!snap.veths.has(a.veth)) {
      found("missing", `live attachment ${idOf(a)} has no host veth ${a.veth}`);
      continue;
    }
    if (a.state !== "programmed") {
      found("missing", `live attachment ${idOf(a)} is not programmed`);
      continue;
    }
    if (!(routesByDst.get(a.ip) ?? []).some((r) => r.dev === a.veth)) {
      found("missing", `no host route ${a.ip} dev ${a.veth}`);
    }
    if (expect.readyMarks && snap.veths.get(a.veth) !== READY_GROUP) {
      found("missing", `veth ${a.veth} of ${idOf(a)} lacks the ready mark`);
    }
  }
  for (const [veth, group] of snap.veths) {
    if (attachmentVeths.has(veth)) continue;
    found("strays", `veth ${veth} belongs to no attachment`);
    if (group === READY_GROUP) found("strays", `veth ${veth} has the ready mark`);
  }
  const heldIps = new Set(snap.attachments.map((a) => a.ip));
  const vethOfIp = new Map(snap.attachments.map((a) => [a.ip, a.veth]));
  for (const r of snap.routes) {
    if (vethOfIp.get(r.dst) !== r.dev) found("strays", `route ${r.dst} dev ${r.dev}`);
  }
  for (const ip of snap.ruleAddresses) {
    if (!heldIps.has(ip)) found("strays", `ip rule for ${ip}, which no attachment holds`);
  }
  for (const veth of new Set(snap.nftVeths)) {
    if (!attachmentVeths.has(veth) || !snap.veths.has(veth)) {
      found("strays", `table inet tern names veth ${veth}, which no live attachment has`);
    }
  }
  for (const ip of new Set(snap.nftAddresses)) {
    if (!heldIps.has(ip)) found("strays", `table inet tern names ${ip}, which no attachment holds`);
  }

  for (const p of snap.processes) {
    if (!p.daemonTree) found("orphans", `process ${p.pid} outlived its daemon: ${p.cmdline}`);
  }
  return { counts, problems };
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

const IPV4 = String.raw`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`;

/**
 * The single addresses in an nftables listing: neither an end of a range (`a-b`) nor a prefix
 * (`a/24`). Pure.
 */
export function singleAddresses(listing: string): string[] {
  const out: string[] = [];
  for (const m of listing.matchAll(new RegExp(IPV4, "g"))) {
    const at = m.index ?? 0;
    const before = listing[at - 1] ?? " ";
    const after = listing[at + m[0].length] ?? " ";
    if (/[\d.\-]/.test(before) || /[\d./\-]/.test(after)) continue;
    out.push(m[0]);
  }
  return out;
}

/** Whether dotted `ip` lies in one of `ranges` (`a.b.c.d/len`). Pure. */
export function inRanges(ip: string, ranges: readonly string[]): boolean {
  const n = toInt(ip);
  return ranges.some((r) => {
    const [base, len] = r.split("/");
    const bits = Number(len);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return ((n & mask) >>> 0) === ((toInt(base!) & mask) >>> 0);
  });
}

function toInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => (acc * 256 + Number(o)) >>> 0, 0);
}

/** Options of {@linkcode snapshotNode}. */
export interface SnapshotOptions {
  /** The live pods on this node; omitted: every attachment with a veth counts as live. */
  live?: readonly SandboxPod[];
  /** The node's pod ranges (CIDRs or blocks) whose addresses in the table are checked. */
  podRanges?: readonly string[];
  /** tern's route protocol. Default 116. */
  protocol?: number;
}

/** Reads KV (while the daemon runs or not), the kernel and `/proc` for one sandbox node. */
export async function snapshotNode(
  node: SandboxNode,
  options: SnapshotOptions = {},
): Promise<NodeSnapshot> {
  const proto = String(options.protocol ?? 116);
  const { attachments, ipKeys, blocks } = await readKv(node.stateFile);
  const ipJson = async <T>(args: string[], netns = node.netns): Promise<T[]> => {
    const out = await denoRunner(["ip", "-n", netns, "-json", ...args]);
    if (out.code !== 0) {
      throw new Error(`Cannot list ${args.join(" ")} in ${netns}: ${out.stderr.trim()}`);
    }
    return out.stdout.trim() ? JSON.parse(out.stdout) as T[] : [];
  };
  const links = await ipJson<{ ifname: string; group?: string | number }>(["link", "show"]);
  const veths = new Map<string, number>();
  for (const l of links) {
    if (!l.ifname.startsWith(VETH_PREFIX)) continue;
    const g = l.group;
    veths.set(
      l.ifname,
      g === undefined || g === "default" ? 0 : /^\d+$/.test(String(g)) ? Number(g) : NaN,
    );
  }
  const routes = (await ipJson<{ dst: string; dev?: string; protocol?: string | number }>([
    "-4",
    "route",
    "show",
    "table",
    "all",
    "proto",
    proto,
  ])).filter((r) => r.dev?.startsWith(VETH_PREFIX)).map((r) => ({
    dst: r.dst.replace(/\/32$/, ""),
    dev: r.dev!,
  }));
  const rules = await ipJson<
    { src?: string; srclen?: number; dst?: string; dstlen?: number; protocol?: string | number }
  >(
    ["-4", "rule", "show"],
  );
  const ruleAddresses: string[] = [];
  for (const r of rules) {
    if (String(r.protocol ?? "") !== proto) continue;
    if (r.src && (r.srclen ?? 32) === 32) ruleAddresses.push(r.src);
    if (r.dst && (r.dstlen ?? 32) === 32) ruleAddresses.push(r.dst);
  }
  const table = await denoRunner([
    "ip",
    "netns",
    "exec",
    node.netns,
    "nft",
    "list",
    "table",
    "inet",
    "tern",
  ]);
  const listing = table.code === 0 ? table.stdout : "";
  const ranges = options.podRanges ?? [...(node.podCIDR ? [node.podCIDR] : []), ...blocks];
  const nftVeths = [...listing.matchAll(/\btern[0-9a-f]{11}\b/g)].map((m) => m[0]);
  const nftAddresses = singleAddresses(listing).filter((ip) => inRanges(ip, ranges));

  const live = options.live === undefined ? undefined : await Promise.all(
    options.live.map(async (pod) => {
      const addrs = await ipJson<{ addr_info?: { family: string; local: string }[] }>(
        ["addr", "show", "dev", pod.ifname],
        pod.netns,
      ).catch(() => []);
      return {
        containerID: pod.containerID,
        ifname: pod.ifname,
        ip: pod.ip ?? "(none)",
        podAddresses: addrs.flatMap((a) => a.addr_info ?? []).filter((i) => i.family === "inet")
          .map((i) => i.local),
      };
    }),
  );
  return {
    node: node.name,
    attachments,
    ipKeys,
    veths,
    routes,
    ruleAddresses,
    nftTable: table.code === 0,
    nftVeths,
    nftAddresses,
    processes: await netnsProcesses(node.netns, node.daemon?.pid),
    live,
  };
}

/** The attachments, address claims and blocks in the daemon's KV file. */
async function readKv(path: string): Promise<{
  attachments: KvAttachment[];
  ipKeys: Map<string, string>;
  blocks: string[];
}> {
  const kv = await Deno.openKv(path);
  try {
    const attachments: KvAttachment[] = [];
    for await (const e of kv.list<Endpoint>({ prefix: ["owner"] })) {
      const ep = e.value;
      attachments.push({
        containerID: ep.containerID,
        ifname: ep.ifname,
        ip: ep.ip,
        state: ep.state,
        veth: ep.hostVeth || await hostVethName(ep.containerID, ep.ifname),
      });
    }
    const ipKeys = new Map<string, string>();
    for await (const e of kv.list<{ containerID: string; ifname: string }>({ prefix: ["ip"] })) {
      ipKeys.set(String(e.key[1]), `${e.value.containerID}/${e.value.ifname}`);
    }
    const blocks: string[] = [];
    for await (const e of kv.list({ prefix: ["block"] })) blocks.push(String(e.key[1]));
    return { attachments, ipKeys, blocks };
  } finally {
    kv.close();
  }
}

/**
 * The processes in `netns`, each marked by whether process `daemonPid` is it or an ancestor.
 * Zombies, which have ended, do not count.
 */
export async function netnsProcesses(
  netns: string,
  daemonPid: number | undefined,
): Promise<NodeProcess[]> {
  const out = await denoRunner(["ip", "netns", "pids", netns]);
  const pids = out.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  const result: NodeProcess[] = [];
  for (const pid of pids) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
    if (stat === "" || / Z /.test(stat.slice(stat.lastIndexOf(")")))) continue;
    const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => ""))
      .replaceAll("\0", " ").trim();
    result.push({ pid, cmdline, daemonTree: await descendsFrom(pid, daemonPid) });
  }
  return result;
}

async function descendsFrom(pid: number, ancestor: number | undefined): Promise<boolean> {
  if (ancestor === undefined) return false;
  let current = pid;
  for (let depth = 0; depth < 64 && current > 1; depth++) {
    if (current === ancestor) return true;
    const stat = await Deno.readTextFile(`/proc/${current}/stat`).catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    current = Number(fields[1]);
  }
  return false;
}

/**
 * Audits `node` until it is clean or `timeoutMs` passed (the daemon's repairs take a pass or
 * two), and returns the last report with the time it took to come clean.
 */
export async function auditNode(
  node: SandboxNode,
  options: SnapshotOptions & AuditExpectation & { timeoutMs?: number } = {},
): Promise<AuditReport & { settledMs: number }> {
  const start = Date.now();
  const deadline = start + (options.timeoutMs ?? 10_000);
  for (;;) {
    const report = auditFindings(await snapshotNode(node, options), options);
    if (report.problems.length === 0 || Date.now() >= deadline) {
      return { ...report, settledMs: Date.now() - start };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

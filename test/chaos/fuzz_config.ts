/**
 * Scenario 9 of the chaos battery, the daemon's config file: seeded random YAML made by mutating
 * a valid config (keys set to values of every YAML type, typed values such as durations, CIDRs
 * and counts drawn from pools of valid and invalid ones, unknown keys, deleted keys, raw text
 * damage), judged two ways: a mutation known to make the config invalid (by docs/daemon.md) must
 * get a `ConfigError`, and every config that is accepted must hold the invariants the daemon
 * relies on ({@linkcode configProblems}). Pure.
 * @module
 */
import { stringify } from "yaml";
import { overlaps, parseCidr } from "../../src/cidr.ts";
import type { DaemonConfig } from "../../daemon/config.ts";
import type { SeededRandom } from "./seeded_random.ts";

/** A generated config file. */
export interface ConfigInput {
  text: string;
  /** True when some mutation is known to make the config invalid. */
  mustRefuse: boolean;
  mutations: string[];
}

/** A mutation: a key path, a value, and whether the docs make the result invalid (undefined: may be either). */
interface Mutation {
  path: string[];
  value: unknown;
  invalid?: boolean;
}

const DURATIONS_VALID = ["0", "1ms", "100ms", "30s", "1m30s", "1h", "1.5s", "596h"];
const DURATIONS_INVALID = [
  "",
  "30",
  "1d",
  "-1s",
  "1 s",
  "s",
  "30S",
  "1e3s",
  "9999999h",
  "100000000000000000000h",
];
const CIDRS_VALID = ["10.244.1.0/24", "10.0.0.0/8", "192.168.0.0/30", "10.244.2.0/24"];
const CIDRS_INVALID = [
  "10.244.1.1/24",
  "10.244.1.0/33",
  "10.244.1.0",
  "300.0.0.0/8",
  "fd00::/64",
  "",
  "10.244.1.0/24 ",
];
const ANY: readonly unknown[] = [null, true, 0, -1, 1.5, 70_000, "", "x", [], {}, ["a"], { a: 1 }];

/** Mutations whose validity docs/daemon.md decides, by key. */
function typedMutation(r: SeededRandom): Mutation {
  const valid = r.chance(0.5);
  const duration = () => valid ? r.pick(DURATIONS_VALID) : r.pick(DURATIONS_INVALID);
  switch (r.int(0, 15)) {
    case 0:
      return {
        path: ["gc", "interval"],
        value: valid ? r.pick(["100ms", "60s", "1h"]) : r.pick([...DURATIONS_INVALID, "99ms"]),
        invalid: !valid,
      };
    case 1:
      return { path: ["gc", "gracePeriod"], value: duration(), invalid: !valid };
    case 2:
      return {
        path: ["reconcile", "interval"],
        value: valid ? "10s" : r.pick([...DURATIONS_INVALID, "50ms"]),
        invalid: !valid,
      };
    case 3:
      return { path: ["ipam", "releaseCooldown"], value: duration(), invalid: !valid };
    case 4:
      return {
        path: ["podCIDRs"],
        value: valid ? [r.pick(CIDRS_VALID)] : [r.pick(CIDRS_INVALID)],
        invalid: !valid,
      };
    case 5:
      return { path: ["podCIDRs"], value: ["10.244.0.0/16", "10.244.1.0/24"], invalid: true };
    case 6:
      return {
        path: ["routeProtocol"],
        value: valid ? r.pick([5, 116, 255]) : r.pick([0, 4, 256, 1.5, "116"]),
        invalid: !valid,
      };
    case 7:
      return {
        path: ["socket"],
        value: valid ? "/run/tern/t.sock" : r.pick(["ternd.sock", "/" + "s".repeat(90)]),
        invalid: !valid,
      };
    case 8:
      return {
        path: ["stateFile"],
        value: valid ? "/var/lib/tern/x.kv" : "state.kv",
        invalid: !valid,
      };
    case 9:
      return {
        path: ["log", "level"],
        value: valid ? r.pick(["debug", "error"]) : r.pick(["trace", "INFO", 1]),
        invalid: !valid,
      };
    case 10:
      return {
        path: ["nodeName"],
        value: valid
          ? r.pick(["node-1", "a.b", ""])
          : r.pick(["Node1", "a_b", "-a", "x".repeat(254)]),
        invalid: !valid,
      };
    case 11:
      return {
        path: [r.pick(["gc", "ipam", "log", "reconcile", "policy", "routing", ""]), "typo"].filter((
          p,
        ) => p !== ""),
        value: 1,
        invalid: true,
      };
    case 12:
      return {
        path: ["policy", "logRate"],
        value: valid ? r.pick([0, 10, 10_000]) : r.pick([-1, 10_001, 1.5, "10"]),
        invalid: !valid,
      };
    case 13:
      return { path: ["ipam", "mode"], value: "blocks", invalid: true };
    case 14:
      return {
        path: ["cluster"],
        value: valid
          ? { source: "files", dir: "/etc/tern/cluster" }
          : { source: r.pick(["file", "k8s", ""]) },
        invalid: !valid,
      };
    default:
      return {
        path: ["ipam", "blocks", "maxBlocks"],
        value: valid ? r.pick([1, 32, 65_536]) : r.pick([0, 65_537, 2.5, "32"]),
        invalid: !valid,
      };
  }
}

const KEYS = [
  ["nodeName"],
  ["podCIDRs"],
  ["socket"],
  ["gc"],
  ["gc", "interval"],
  ["ipam", "blocks"],
  ["log"],
  ["routing", "mode"],
  ["routing", "clusterCIDRs"],
  ["routing", "egressTables"],
  ["policy", "enabled"],
  ["policy", "pendingWait"],
  ["cluster", "settle"],
  ["reconcile", "monitor"],
];

function setIn(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let at: Record<string, unknown> = obj;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[path.at(-1)!] = value;
}

/** One random config file, from `r`. */
export function generateConfig(r: SeededRandom): ConfigInput {
  const conf: Record<string, unknown> = {
    nodeName: "node-1",
    podCIDRs: ["10.244.1.0/24"],
    socket: "/run/tern/ternd.sock",
    stateFile: "/var/lib/tern/state.kv",
    log: { level: "info" },
  };
  const mutations: string[] = [];
  /** Paths last set by a mutation known to be invalid (a later one may overwrite it). */
  const invalidAt = new Set<string>();
  for (let i = r.pick([1, 1, 2, 3]); i > 0; i--) {
    const m: Mutation = r.chance(0.7)
      ? typedMutation(r)
      : { path: r.pick(KEYS), value: structuredClone(r.pick(ANY)) };
    setIn(conf, m.path, m.value);
    const key = m.path.join(".");
    for (const p of [...invalidAt]) if (p === key || p.startsWith(`${key}.`)) invalidAt.delete(p);
    if (m.invalid === true) invalidAt.add(key);
    mutations.push(
      `${m.path.join(".")}=${JSON.stringify(m.value)?.slice(0, 60)}${
        m.invalid ? " (invalid)" : ""
      }`,
    );
  }
  // "blocks" is valid only with the kubernetes source and no podCIDRs; the typed mutation above
  // sets neither, so it is refused unless a later one fixed that (it never does).
  let mustRefuse = invalidAt.size > 0;
  let text = stringify(conf);
  if (r.chance(0.08)) {
    const at = r.int(0, text.length - 1);
    text = text.slice(0, at) + r.pick(["", ":", "\t", "- ", "{", "&a", "*a", "!!binary "]) +
      text.slice(at + 1);
    mutations.push(`text damaged at ${at}`);
    mustRefuse = false; // damage may hit a value harmlessly, or hide the invalid one
  }
  return { text, mustRefuse, mutations };
}

/** The largest delay a timer can be given (2^31 - 1 ms); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What is wrong with an accepted config, by the invariants the daemon relies on (empty: none). */
export function configProblems(c: DaemonConfig): string[] {
  const problems: string[] = [];
  if (
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(c.nodeName) ||
    c.nodeName.length > 253
  ) {
    problems.push(`nodeName ${JSON.stringify(c.nodeName)}`);
  }
  const cidrs = c.podCIDRs.map((t) => parseCidr(t));
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = 0; j < i; j++) {
      if (overlaps(cidrs[i]!, cidrs[j]!)) problems.push("overlapping podCIDRs");
    }
  }
  if (c.podCIDRs.length === 0 && c.cluster === undefined) {
    problems.push("no podCIDRs and no cluster source");
  }
  if (!c.socket.startsWith("/") || new TextEncoder().encode(c.socket).length > 90) {
    problems.push("socket");
  }
  if (!c.stateFile.startsWith("/")) problems.push("stateFile");
  if (!Number.isInteger(c.routeProtocol) || c.routeProtocol < 5 || c.routeProtocol > 255) {
    problems.push("routeProtocol");
  }
  const durations: [string, number, number][] = [
    ["ipam.releaseCooldown", c.ipam.releaseCooldownMs, 0],
    ["ipam.blocks.releaseCooldown", c.ipam.blocks.releaseCooldownMs, 0],
    ["ipam.blocks.nodeGracePeriod", c.ipam.blocks.nodeGracePeriodMs, 0],
    ["ipam.blocks.interval", c.ipam.blocks.intervalMs, 100],
    ["gc.interval", c.gc.intervalMs, 100],
    ["gc.gracePeriod", c.gc.gracePeriodMs, 0],
    ["reconcile.interval", c.reconcile.intervalMs, 100],
    ["policy.pendingWait", c.policy.pendingWaitMs, 0],
  ];
  if (c.cluster) {
    durations.push(["cluster.podCIDRWait", c.cluster.podCIDRWaitMs, 0]);
    if (c.cluster.source === "files") {
      durations.push(["cluster.settle", c.cluster.settleMs, 0], [
        "cluster.debounce",
        c.cluster.debounceMs,
        0,
      ]);
    } else durations.push(["cluster.syncWait", c.cluster.syncWaitMs, 0]);
  }
  for (const [name, ms, min] of durations) {
    if (!Number.isInteger(ms) || ms < min || ms > MAX_TIMER_MS) problems.push(`${name} ${ms}`);
  }
  if (!Number.isInteger(c.policy.logRate) || c.policy.logRate < 0 || c.policy.logRate > 10_000) {
    problems.push("logRate");
  }
  const b = c.ipam.blocks;
  if (!Number.isInteger(b.maxBlocks) || b.maxBlocks < 1) problems.push("maxBlocks");
  if (c.ipam.mode === "blocks" && (c.cluster?.source !== "kubernetes" || c.podCIDRs.length > 0)) {
    problems.push("blocks mode without the kubernetes source, or with podCIDRs");
  }
  if (c.log.file !== undefined && !c.log.file.startsWith("/")) problems.push("log.file");
  return problems;
}

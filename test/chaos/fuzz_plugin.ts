/**
 * Scenario 9 of the chaos battery, the plugin's part: seeded random invocations (environment and
 * stdin) built by mutating a valid ADD/DEL/CHECK/GC/STATUS/VERSION call — variables deleted or
 * set from pools of valid and odd values, config keys given values of every JSON type, nested
 * `dns`, `prevResult` and attachment lists, and now and then raw byte damage to stdin — each
 * judged against {@linkcode expectedOutcome}, an oracle written from the CNI spec 1.1.0, libcni's
 * checks and docs/plugin.md (not from the plugin's code). Pure.
 * @module
 */
import { SUPPORTED_CNI_VERSIONS } from "../../src/version.ts";
import type { SeededRandom } from "./seeded_random.ts";

/** The commands, as the runtime names them. */
const COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"] as const;

/** A generated invocation. */
export interface PluginInput {
  env: Record<string, string>;
  stdin: Uint8Array;
  /** What was changed from the valid base, for the report. */
  mutations: string[];
}

/** What the oracle says the plugin must do: go ahead, or refuse with this spec code. */
export type Verdict = { kind: "valid" } | { kind: "error"; code: number };

/** Where generated inputs point. */
export interface FuzzTarget {
  daemonSocket: string;
  /** A netns path that exists. */
  netns: string;
}

const STRINGS = [
  "",
  "tern",
  "a b",
  "café",
  "éééééééé",
  "x".repeat(300),
  "../x",
  "/abs/path",
  "rel/path",
  "eth0",
  "eth0123456789ab",
  "eth0123456789abc",
  "eth\u00850",
  "eth\u00a00",
  "-a",
  "a-",
  "A.b_c",
  "0",
  ".",
  "..",
  "\t",
  "a\nb",
  "null",
  "1.1.0",
  "10.244.1.7/32",
  "10.244.1.7",
  "a:b",
  "\u{1f600}",
];
const VALUES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  99,
  100,
  576,
  1500,
  9000,
  9001,
  300_000,
  300_001,
  [],
  {},
  ["a"],
  { a: 1 },
  ...STRINGS,
];

const ENV_POOLS: Record<string, readonly string[]> = {
  CNI_COMMAND: [...COMMANDS, "add", "UPDATE", "", " ADD"],
  CNI_CONTAINERID: STRINGS,
  CNI_IFNAME: STRINGS,
  CNI_NETNS: [...STRINGS, "/var/run/netns/x y", "/var/run/netns/gone"],
  CNI_ARGS: [
    "",
    "IgnoreUnknown=1",
    "IgnoreUnknown=true;FOO=1",
    "IgnoreUnknown=TRUE;K8S_POD_NAME=a=b",
    "FOO=1",
    "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
    ";;",
    "=x",
    "novalue",
    "IgnoreUnknown=maybe",
    "IgnoreUnknown=0;FOO=1",
    "K8S_POD_NAME=",
  ],
  CNI_PATH: ["", "/opt/cni/bin", "relative", "/a:/b"],
};

const CONF_KEYS = [
  "cniVersion",
  "name",
  "type",
  "mtu",
  "daemonSocket",
  "daemonTimeoutMs",
  "logFile",
  "logLevel",
  "dns",
  "ipam",
  "prevResult",
  "cni.dev/valid-attachments",
  "cni.dev/attachments",
  "runtimeConfig",
  "x-unknown",
] as const;

function jsonValue(r: SeededRandom, depth = 0): unknown {
  const roll = r.int(0, 9);
  if (depth < 2 && roll === 0) {
    return Array.from({ length: r.int(0, 2) }, () => jsonValue(r, depth + 1));
  }
  if (depth < 2 && roll === 1) {
    return Object.fromEntries(
      Array.from({ length: r.int(0, 2) }, () => [r.pick(STRINGS), jsonValue(r, depth + 1)]),
    );
  }
  return r.pick(VALUES);
}

function valueFor(r: SeededRandom, key: string): unknown {
  const roll = r.int(0, 2);
  switch (key) {
    case "cniVersion":
      return roll === 0 ? jsonValue(r) : r.pick([...SUPPORTED_CNI_VERSIONS, "0.2.0", "1.2.0"]);
    case "logLevel":
      return roll === 0
        ? jsonValue(r)
        : r.pick(["debug", "info", "warn", "error", "INFO", "trace"]);
    case "dns":
      return roll === 0 ? jsonValue(r) : fields(r, ["nameservers", "domain", "search", "options"]);
    case "prevResult":
      return roll === 0 ? jsonValue(r) : prevResult(r);
    case "cni.dev/valid-attachments":
    case "cni.dev/attachments":
      return roll === 0
        ? jsonValue(r)
        : Array.from({ length: r.int(0, 2) }, () => fields(r, ["containerID", "ifname"]));
    default:
      return jsonValue(r);
  }
}

/** An object with some of `keys`, each a string, a list of strings or any value. */
function fields(r: SeededRandom, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const roll = r.int(0, 3);
    if (roll === 0) continue;
    out[key] = roll === 1
      ? r.pick(STRINGS)
      : roll === 2
      ? Array.from({ length: r.int(0, 2) }, () => r.pick(STRINGS))
      : jsonValue(r);
  }
  return out;
}

function prevResult(r: SeededRandom): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion: r.pick(SUPPORTED_CNI_VERSIONS) };
  if (r.chance(0.8)) {
    out.interfaces = Array.from({ length: r.int(0, 2) }, () => {
      const i = fields(r, ["name", "mac", "sandbox"]);
      if (r.chance(0.3)) i.mtu = r.pick(VALUES);
      return i;
    });
  }
  if (r.chance(0.8)) {
    out.ips = Array.from({ length: r.int(0, 2) }, () => {
      const ip = fields(r, ["address", "gateway"]);
      if (r.chance(0.5)) ip.interface = r.pick([0, 1, 2, 5, -1, 1.5, "0", null]);
      if (r.chance(0.3)) ip.version = "4";
      return ip;
    });
  }
  if (r.chance(0.5)) {
    out.routes = Array.from({ length: r.int(0, 2) }, () => fields(r, ["dst", "gw"]));
  }
  if (r.chance(0.3)) out.dns = fields(r, ["nameservers", "domain", "search", "options"]);
  return out;
}

/** One random invocation, from `r`. */
export function generatePluginInput(r: SeededRandom, target: FuzzTarget): PluginInput {
  const command = r.pick(COMMANDS);
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: `fuzz${r.int(0, 999_999)}`,
    CNI_IFNAME: "eth0",
    CNI_NETNS: target.netns,
    CNI_PATH: "/opt/cni/bin",
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=fuzz",
  };
  const conf: Record<string, unknown> = {
    cniVersion: r.pick(SUPPORTED_CNI_VERSIONS),
    name: "tern",
    type: "tern",
    daemonSocket: target.daemonSocket,
  };
  if (command === "GC" || command === "STATUS") conf.cniVersion = "1.1.0";
  if (command === "GC") conf["cni.dev/valid-attachments"] = [];
  if (command === "CHECK") {
    conf.prevResult = {
      ips: [{ address: "10.244.1.7/32", interface: 0 }],
      interfaces: [{ name: "eth0" }],
    };
  }
  const mutations: string[] = [];
  const count = r.pick([0, 1, 1, 1, 2, 2, 3]);
  for (let i = 0; i < count; i++) {
    if (r.chance(0.3)) {
      const name = r.pick(Object.keys(ENV_POOLS));
      if (r.chance(0.2)) {
        delete env[name];
        mutations.push(`env ${name} deleted`);
      } else {
        env[name] = r.pick(ENV_POOLS[name]!);
        mutations.push(`env ${name}=${JSON.stringify(env[name])}`);
      }
    } else {
      const key = r.pick(CONF_KEYS);
      if (r.chance(0.15)) {
        delete conf[key];
        mutations.push(`${key} deleted`);
      } else {
        conf[key] = valueFor(r, key);
        mutations.push(`${key}=${JSON.stringify(conf[key])?.slice(0, 80)}`);
      }
    }
  }
  let stdin = new TextEncoder().encode(JSON.stringify(conf));
  if (r.chance(0.1)) {
    const bytes = [...stdin];
    const at = r.int(0, bytes.length);
    const roll = r.int(0, 2);
    if (roll === 0) bytes.splice(at, 1);
    else if (roll === 1) bytes.splice(at, 0, r.int(0, 255));
    else bytes[Math.min(at, bytes.length - 1)] = r.int(0, 255);
    stdin = new Uint8Array(bytes);
    mutations.push(`byte damage at ${at}`);
  }
  return { env, stdin, mutations };
}

// ---- the oracle --------------------------------------------------------------------------------

const CNI_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;
/** Go's unicode.IsSpace (libcni's test) together with JavaScript's `\s`: either refuses. */
const SPACE = /[\s\u0085]/u;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** libcni's ValidateInterfaceName: at most 15 bytes, not `.`/`..`, no `/`, `:` or space. */
function validIfname(name: string): boolean {
  return name !== "" && new TextEncoder().encode(name).length <= 15 && name !== "." &&
    name !== ".." && !/[/:]/.test(name) && !SPACE.test(name);
}

function validCniArgs(text: string): boolean {
  const known = new Set([
    "K8S_POD_NAMESPACE",
    "K8S_POD_NAME",
    "K8S_POD_UID",
    "K8S_POD_INFRA_CONTAINER_ID",
  ]);
  let ignore = false;
  let unknown = false;
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) return false;
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1).toLowerCase();
    if (key === "IgnoreUnknown") {
      if (value === "1" || value === "true") ignore = true;
      else if (value === "0" || value === "false") ignore = false;
      else return false;
    } else if (!known.has(key)) unknown = true;
  }
  return !unknown || ignore;
}

function envValid(
  env: Record<string, string>,
  command: string,
  netnsExists: (p: string) => boolean,
) {
  if (!COMMANDS.includes(command as typeof COMMANDS[number])) return false;
  if (command !== "ADD" && command !== "DEL" && command !== "CHECK") return true;
  const id = env.CNI_CONTAINERID ?? "";
  if (!CNI_ID.test(id)) return false;
  if (!validIfname(env.CNI_IFNAME ?? "")) return false;
  const netns = env.CNI_NETNS ?? "";
  if (command !== "DEL") {
    if (!netns.startsWith("/") || SPACE.test(netns)) return false;
    if (command === "ADD" && !netnsExists(netns)) return false;
  }
  return validCniArgs(env.CNI_ARGS ?? "");
}

/** The spec types these as strings; tern (docs/plugin.md) also refuses empty ones. */
const isString = (v: unknown) => typeof v === "string" && v !== "";
const optional = (v: unknown, test: (v: unknown) => boolean) => v === undefined || test(v);
const stringList = (v: unknown) => Array.isArray(v) && v.every(isString);
const isInt = (v: unknown, min: number, max: number) =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
const absolute = (v: unknown) => typeof v === "string" && v.startsWith("/");

/** The spec's DNS type: every field optional, strings or lists of strings. */
function dnsValid(v: unknown): boolean {
  return isRecord(v) && optional(v.nameservers, stringList) && optional(v.domain, isString) &&
    optional(v.search, stringList) && optional(v.options, stringList);
}

/** The spec's Result: interfaces, ips (CIDR address, interface index in range), routes, dns. */
function resultValid(v: unknown): boolean {
  if (!isRecord(v)) return false;
  const interfaces = v.interfaces ?? [];
  if (!Array.isArray(interfaces)) return false;
  for (const i of interfaces) {
    if (!isRecord(i) || !isString(i.name)) return false;
    if (!optional(i.mac, isString) || !optional(i.sandbox, isString)) return false;
    if (!optional(i.mtu, (m) => typeof m === "number" && Number.isInteger(m))) return false;
  }
  const ips = v.ips ?? [];
  if (!Array.isArray(ips)) return false;
  for (const ip of ips) {
    if (!isRecord(ip) || !isString(ip.address) || !(ip.address as string).includes("/")) {
      return false;
    }
    if (!optional(ip.gateway, isString)) return false;
    if (
      !optional(ip.interface, (n) => isInt(n, 0, interfaces.length - 1))
    ) return false;
  }
  const routes = v.routes ?? [];
  if (!Array.isArray(routes)) return false;
  for (const r of routes) {
    if (!isRecord(r) || !isString(r.dst) || !optional(r.gw, isString)) return false;
  }
  return optional(v.dns, dnsValid);
}

function olderThan(a: string, b: string): boolean {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i]! !== pb[i]!) return pa[i]! < pb[i]!;
  return false;
}

/**
 * What the spec and docs/plugin.md require for `input`, in the documented order of checks:
 * the environment (4), decoding (6), `cniVersion` (1), `name` and `type` (7), `ipam` (2), then
 * the other fields, `prevResult` and GC's attachments (7). VERSION is valid whatever stdin is.
 */
export function expectedOutcome(
  input: PluginInput,
  netnsExists: (path: string) => boolean,
): Verdict {
  const error = (code: number): Verdict => ({ kind: "error", code });
  const command = input.env.CNI_COMMAND ?? "";
  if (!envValid(input.env, command, netnsExists)) return error(4);
  if (command === "VERSION") return { kind: "valid" };
  let conf: unknown;
  try {
    conf = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(input.stdin));
  } catch {
    return error(6);
  }
  if (!isRecord(conf)) return error(6);
  const version = conf.cniVersion;
  if (typeof version !== "string" || !SUPPORTED_CNI_VERSIONS.includes(version)) return error(1);
  const minimum = command === "CHECK"
    ? "0.4.0"
    : command === "GC" || command === "STATUS"
    ? "1.1.0"
    : undefined;
  if (minimum !== undefined && olderThan(version, minimum)) return error(1);
  if (typeof conf.name !== "string" || !CNI_ID.test(conf.name)) return error(7);
  if (typeof conf.type !== "string" || conf.type === "") return error(7);
  if (conf.ipam !== undefined) return error(2);
  const ok = optional(conf.mtu, (v) => isInt(v, 576, 9000)) &&
    optional(conf.daemonSocket, absolute) &&
    optional(conf.daemonTimeoutMs, (v) => isInt(v, 100, 300_000)) &&
    optional(conf.logFile, absolute) &&
    optional(conf.logLevel, (v) => ["debug", "info", "warn", "error"].includes(v as string)) &&
    optional(conf.dns, dnsValid) &&
    (command === "DEL" || optional(conf.prevResult, resultValid));
  if (!ok) return error(7);
  if (command === "GC") {
    const list = conf["cni.dev/valid-attachments"] ?? conf["cni.dev/attachments"];
    const valid = Array.isArray(list) &&
      list.every((a) => isRecord(a) && isString(a.containerID) && isString(a.ifname));
    if (!valid) return error(7);
  }
  if (command === "CHECK" && conf.prevResult === undefined) return error(7);
  return { kind: "valid" };
}

/** What the plugin did with one input, seen from outside. */
export interface PluginRun {
  exitCode: number;
  stdout: string;
  /** Whether it called the daemon or `ip`. */
  acted: boolean;
}

/**
 * The problems of one run against the oracle (empty: fine). Always one JSON object on stdout
 * (or nothing, on a success without output) and exit 0 or 1; never code 5, the plugin's
 * "unexpected failure", when every edge worked. An invalid input: its code, nothing done. A
 * valid one: it acted (or VERSION answered).
 */
export function judgePluginRun(verdict: Verdict, run: PluginRun): string[] {
  const problems: string[] = [];
  let body: Record<string, unknown> | undefined;
  if (run.stdout.trim() !== "") {
    try {
      const parsed = JSON.parse(run.stdout);
      if (isRecord(parsed)) body = parsed;
      else problems.push(`stdout is JSON but not an object: ${run.stdout.slice(0, 100)}`);
    } catch {
      problems.push(`stdout is not JSON: ${run.stdout.slice(0, 100)}`);
    }
  }
  if (run.exitCode !== 0 && run.exitCode !== 1) problems.push(`exit ${run.exitCode}`);
  if (run.exitCode === 1 && body?.code === 5) problems.push(`code 5 (crash): ${String(body.msg)}`);
  if (verdict.kind === "error") {
    if (run.acted) problems.push(`invalid input accepted (expected code ${verdict.code})`);
    else if (body?.code !== verdict.code) {
      problems.push(`code ${String(body?.code)}, expected ${verdict.code}: ${String(body?.msg)}`);
    }
  } else if (!run.acted && run.exitCode !== 0) {
    problems.push(`valid input refused: code ${String(body?.code)}: ${String(body?.msg)}`);
  }
  return problems;
}

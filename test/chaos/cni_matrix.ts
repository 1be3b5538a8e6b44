/**
 * Scenario 1 of the chaos battery, the CNI spec matrix: every command × every `cniVersion` (the
 * supported ones and some that are not) × `prevResult` shapes × one input fault at a time (a
 * missing or odd variable, bad JSON, unknown keys, wrong types, huge input, bytes that are not
 * UTF-8), each case with the outcome the CNI spec 1.1.0 and docs/plugin.md require: `valid` (the
 * input passes every check and the command runs) or the spec's error code. The expectation is
 * derived from the fault, the version and the command in the plugin's documented order of checks
 * (environment, decoding, version, fields), never from running the plugin. Pure: cases in,
 * verdicts out; the unit test runs them through the plugin with fakes, the chaos run through the
 * real plugin and daemon in a sandbox node.
 * @module
 */
import { SUPPORTED_CNI_VERSIONS } from "../../src/version.ts";

/** The commands of the CNI spec 1.1.0. */
export const COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"] as const;
/** One of {@linkcode COMMANDS}. */
export type Command = typeof COMMANDS[number];

/** The oldest version with which a command exists (spec: CHECK 0.4.0, STATUS and GC 1.1.0). */
const MINIMUM: Partial<Record<Command, string>> = { CHECK: "0.4.0", STATUS: "1.1.0", GC: "1.1.0" };

/** `cniVersion` values the matrix tries: the supported ones, then some that must be refused. */
export const VERSIONS: readonly (string | number | null | undefined)[] = [
  ...SUPPORTED_CNI_VERSIONS,
  "0.2.0",
  "1.2.0",
  "2.0.0",
  "1.0",
  "",
  1,
  null,
  undefined,
];

/** What a case must produce. */
export type Expect = { kind: "valid" } | { kind: "error"; code: number };

/** One invocation of the plugin. */
export interface CniCase {
  /** Reproducible name: command, version, prevResult shape and fault. */
  name: string;
  command: Command;
  /** The fault's name ("no fault" for a plain valid input). */
  fault: string;
  /** The full CNI environment (nothing else is inherited). */
  env: Record<string, string>;
  /** Stdin, as the runtime writes it. */
  stdin: Uint8Array;
  expect: Expect;
}

/** Where the matrix points the plugin: a socket, a netns that exists and one that does not. */
export interface MatrixTarget {
  daemonSocket: string;
  /** A netns path that exists (ADD needs one). */
  netns: string;
  /** A netns path that does not exist. */
  missingNetns: string;
  /** Container IDs are `${containerPrefix}<n>`: unique per case, so no two cases collide. */
  containerPrefix: string;
  /** Extra netconf keys (e.g. `logFile`). */
  extraConf?: Record<string, unknown>;
}

type Conf = Record<string, unknown>;
type Env = Record<string, string>;

/** A `prevResult` shape and whether it is well-formed. */
interface PrevShape {
  name: string;
  value: unknown;
  valid: boolean;
}

const PREV_SHAPES: readonly PrevShape[] = [
  { name: "no prevResult", value: undefined, valid: true },
  {
    name: "prevResult 1.x",
    value: {
      cniVersion: "1.1.0",
      interfaces: [{ name: "ternabc", mac: "0e:00:00:00:00:01" }, {
        name: "eth0",
        sandbox: "/x",
      }],
      ips: [{ address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 }],
      routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
      dns: {},
    },
    valid: true,
  },
  {
    name: "prevResult 0.x",
    value: {
      cniVersion: "0.4.0",
      interfaces: [{ name: "eth0", sandbox: "/x" }],
      ips: [{ version: "4", address: "10.244.1.7/32", interface: 0 }],
    },
    valid: true,
  },
  { name: "prevResult empty", value: {}, valid: true },
  { name: "prevResult a string", value: "10.244.1.7", valid: false },
  { name: "prevResult ips not a list", value: { ips: { address: "10.244.1.7/32" } }, valid: false },
  {
    name: "prevResult address no prefix",
    value: { ips: [{ address: "10.244.1.7" }] },
    valid: false,
  },
  {
    name: "prevResult interface out of range",
    value: { interfaces: [], ips: [{ address: "10.244.1.7/32", interface: 3 }] },
    valid: false,
  },
  {
    name: "prevResult mtu a string",
    value: { interfaces: [{ name: "e", mtu: "1500" }] },
    valid: false,
  },
];

/** Where in the plugin's order a fault is found. */
type Stage = "env" | "decode" | "name" | "ipam" | "field" | "none";

/** One fault applied to an otherwise valid invocation. */
interface Fault {
  name: string;
  stage: Stage;
  /** Commands the fault concerns; others take the input as valid (e.g. CNI_IFNAME for GC). */
  applies?: readonly Command[];
  env?: (env: Env, command: Command) => void;
  conf?: (conf: Conf) => void;
  /** Replaces stdin entirely (after `conf`). */
  stdin?: (conf: Conf) => Uint8Array;
  /** A megabyte of input: tried with the first prevResult shape only, to keep the matrix fast. */
  huge?: boolean;
}

const ATTACH: readonly Command[] = ["ADD", "DEL", "CHECK"];
const enc = new TextEncoder();
const text = (s: string) => enc.encode(s);

/** `JSON.stringify(conf)` with `bytes` spliced into the string value of key `key`. */
function withBytes(conf: Conf, key: string, bytes: number[]): Uint8Array {
  const json = JSON.stringify({ ...conf, [key]: "@@" });
  const at = json.indexOf('"@@"') + 1;
  const head = enc.encode(json.slice(0, at));
  const tail = enc.encode(json.slice(at + 2));
  return new Uint8Array([...head, ...bytes, ...tail]);
}

const HUGE = 1 << 20;

const FAULTS: readonly Fault[] = [
  { name: "no fault", stage: "none" },
  // The environment (code 4), checked before stdin is read as a config.
  { name: "CNI_COMMAND missing", stage: "env", env: (e) => void delete e.CNI_COMMAND },
  {
    name: "CNI_COMMAND lowercase",
    stage: "env",
    env: (e, c) => void (e.CNI_COMMAND = c.toLowerCase()),
  },
  { name: "CNI_COMMAND unknown", stage: "env", env: (e) => void (e.CNI_COMMAND = "UPDATE") },
  { name: "CNI_COMMAND padded", stage: "env", env: (e, c) => void (e.CNI_COMMAND = ` ${c}`) },
  {
    name: "CNI_CONTAINERID missing",
    stage: "env",
    applies: ATTACH,
    env: (e) => void delete e.CNI_CONTAINERID,
  },
  {
    name: "CNI_CONTAINERID empty",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_CONTAINERID = ""),
  },
  {
    name: "CNI_CONTAINERID with a slash",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_CONTAINERID = "../etc"),
  },
  {
    name: "CNI_CONTAINERID starting with a dash",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_CONTAINERID = "-abc"),
  },
  {
    name: "CNI_CONTAINERID with a space",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_CONTAINERID += " x"),
  },
  {
    name: "CNI_IFNAME missing",
    stage: "env",
    applies: ATTACH,
    env: (e) => void delete e.CNI_IFNAME,
  },
  {
    name: "CNI_IFNAME 16 characters",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_IFNAME = "eth0123456789abc"),
  },
  { name: "CNI_IFNAME dot", stage: "env", applies: ATTACH, env: (e) => void (e.CNI_IFNAME = ".") },
  {
    name: "CNI_IFNAME colon",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_IFNAME = "eth0:1"),
  },
  {
    name: "CNI_IFNAME tab",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_IFNAME = "eth\t0"),
  },
  {
    name: "CNI_NETNS missing",
    stage: "env",
    applies: ["ADD", "CHECK"],
    env: (e) => void delete e.CNI_NETNS,
  },
  {
    name: "CNI_NETNS relative",
    stage: "env",
    applies: ["ADD", "CHECK"],
    env: (e) => void (e.CNI_NETNS = "var/run/netns/x"),
  },
  {
    name: "CNI_NETNS with a space",
    stage: "env",
    applies: ["ADD", "CHECK"],
    env: (e) => void (e.CNI_NETNS = "/var/run/netns/a b"),
  },
  {
    name: "CNI_ARGS unknown key",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_ARGS = "FOO=bar"),
  },
  {
    name: "CNI_ARGS pair without =",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_ARGS = "IgnoreUnknown=1;novalue"),
  },
  {
    name: "CNI_ARGS empty key",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_ARGS = "=x"),
  },
  {
    name: "CNI_ARGS bad IgnoreUnknown",
    stage: "env",
    applies: ATTACH,
    env: (e) => void (e.CNI_ARGS = "IgnoreUnknown=maybe"),
  },
  // Odd but valid environments.
  {
    name: "CNI_ARGS unknown key with IgnoreUnknown",
    stage: "none",
    env: (e) => void (e.CNI_ARGS = "IgnoreUnknown=true;FOO=bar;K8S_POD_NAME=p;"),
  },
  { name: "CNI_PATH missing", stage: "none", env: (e) => void delete e.CNI_PATH },
  { name: "CNI_ARGS missing", stage: "none", env: (e) => void delete e.CNI_ARGS },
  { name: "unrelated variables", stage: "none", env: (e) => void (e.CNI_FOO = "1", e.LANG = "C") },
  // Decoding (code 6).
  { name: "stdin empty", stage: "decode", stdin: () => text("") },
  { name: "stdin whitespace", stage: "decode", stdin: () => text(" \n\t") },
  { name: "stdin truncated", stage: "decode", stdin: (c) => text(JSON.stringify(c).slice(0, -1)) },
  { name: "stdin null", stage: "decode", stdin: () => text("null") },
  { name: "stdin a list", stage: "decode", stdin: (c) => text(JSON.stringify([c])) },
  {
    name: "stdin a string",
    stage: "decode",
    stdin: (c) => text(JSON.stringify(JSON.stringify(c))),
  },
  { name: "stdin trailing garbage", stage: "decode", stdin: (c) => text(JSON.stringify(c) + "}") },
  { name: "stdin YAML", stage: "decode", stdin: () => text("cniVersion: 1.1.0\nname: tern\n") },
  {
    name: "stdin 1 MiB of garbage",
    stage: "decode",
    huge: true,
    stdin: () => text("x".repeat(HUGE)),
  },
  {
    name: "stdin nested 100000 deep",
    stage: "decode",
    huge: true,
    stdin: () => text("[".repeat(100_000) + "]".repeat(100_000)),
  },
  {
    name: "stdin invalid UTF-8 in a value",
    stage: "decode",
    stdin: (c) => withBytes(c, "x-note", [0x61, 0xff, 0x62]),
  },
  {
    name: "stdin overlong UTF-8",
    stage: "decode",
    stdin: (c) => withBytes(c, "x-note", [0xc0, 0xaf]),
  },
  {
    name: "stdin UTF-16 surrogate bytes",
    stage: "decode",
    stdin: (c) => withBytes(c, "x-note", [0xed, 0xa0, 0x80]),
  },
  {
    name: "stdin Latin-1 text",
    stage: "decode",
    stdin: (c) => withBytes(c, "x-note", [0x63, 0x61, 0x66, 0xe9]),
  },
  // name and type (code 7), checked before ipam.
  { name: "name missing", stage: "name", conf: (c) => void delete c.name },
  { name: "name a number", stage: "name", conf: (c) => void (c.name = 5) },
  { name: "name with a space", stage: "name", conf: (c) => void (c.name = "my net") },
  { name: "name empty", stage: "name", conf: (c) => void (c.name = "") },
  { name: "type missing", stage: "name", conf: (c) => void delete c.type },
  { name: "type a list", stage: "name", conf: (c) => void (c.type = ["tern"]) },
  // Refused fields (code 2).
  { name: "ipam section", stage: "ipam", conf: (c) => void (c.ipam = { type: "host-local" }) },
  { name: "ipam null", stage: "ipam", conf: (c) => void (c.ipam = null) },
  // Wrong types and values (code 7).
  { name: "mtu a string", stage: "field", conf: (c) => void (c.mtu = "1500") },
  { name: "mtu a fraction", stage: "field", conf: (c) => void (c.mtu = 1500.5) },
  { name: "mtu too small", stage: "field", conf: (c) => void (c.mtu = 575) },
  { name: "mtu too large", stage: "field", conf: (c) => void (c.mtu = 9001) },
  { name: "mtu null", stage: "field", conf: (c) => void (c.mtu = null) },
  {
    name: "mtu 1e309",
    stage: "field",
    stdin: (c) => text(JSON.stringify(c).replace(/}$/, ',"mtu":1e309}')),
  },
  {
    name: "daemonSocket relative",
    stage: "field",
    conf: (c) => void (c.daemonSocket = "ternd.sock"),
  },
  { name: "daemonSocket a number", stage: "field", conf: (c) => void (c.daemonSocket = 1) },
  { name: "daemonTimeoutMs too small", stage: "field", conf: (c) => void (c.daemonTimeoutMs = 99) },
  {
    name: "daemonTimeoutMs a string",
    stage: "field",
    conf: (c) => void (c.daemonTimeoutMs = "1s"),
  },
  { name: "logFile relative", stage: "field", conf: (c) => void (c.logFile = "plugin.log") },
  { name: "logLevel unknown", stage: "field", conf: (c) => void (c.logLevel = "trace") },
  { name: "logLevel uppercase", stage: "field", conf: (c) => void (c.logLevel = "INFO") },
  { name: "dns a string", stage: "field", conf: (c) => void (c.dns = "8.8.8.8") },
  {
    name: "dns nameservers a string",
    stage: "field",
    conf: (c) => void (c.dns = { nameservers: "8.8.8.8" }),
  },
  {
    name: "dns search with a number",
    stage: "field",
    conf: (c) => void (c.dns = { search: ["a", 1] }),
  },
  {
    name: "valid-attachments a string",
    stage: "field",
    applies: ["GC"],
    conf: (c) => void (c["cni.dev/valid-attachments"] = "all"),
  },
  {
    name: "valid-attachments missing",
    stage: "field",
    applies: ["GC"],
    conf: (c) => void delete c["cni.dev/valid-attachments"],
  },
  {
    name: "valid-attachments item without ifname",
    stage: "field",
    applies: ["GC"],
    conf: (c) => void (c["cni.dev/valid-attachments"] = [{ containerID: "a" }]),
  },
  // Unknown and ignored keys, odd but valid values.
  {
    name: "unknown keys",
    stage: "none",
    conf: (c) => {
      c.foo = { bar: [1, 2, 3] };
      c.runtimeConfig = { portMappings: [{ hostPort: 80, containerPort: 8080 }] };
      c.capabilities = { portMappings: true };
      c.args = { cni: { labels: [] } };
    },
  },
  {
    name: "repeated key, the last one valid",
    stage: "none",
    stdin: (c) => text(JSON.stringify(c).replace(/^{/, '{"mtu":"bad","mtu":1500,')),
  },
  { name: "mtu at the minimum", stage: "none", conf: (c) => void (c.mtu = 576) },
  {
    name: "mtu written 1500.0",
    stage: "none",
    stdin: (c) => text(JSON.stringify(c).replace(/}$/, ',"mtu":1500.0}')),
  },
  {
    name: "dns complete",
    stage: "none",
    conf: (c) =>
      void (c.dns = {
        nameservers: ["10.0.0.10"],
        search: ["a.b"],
        options: ["ndots:5"],
        domain: "b",
      }),
  },
  {
    name: "valid-attachments empty",
    stage: "none",
    conf: (c) => void (c["cni.dev/valid-attachments"] = []),
  },
  {
    name: "older cni.dev/attachments",
    stage: "none",
    conf: (c) => {
      c["cni.dev/attachments"] = c["cni.dev/valid-attachments"];
      delete c["cni.dev/valid-attachments"];
    },
  },
  {
    name: "unicode in an unknown key",
    stage: "none",
    conf: (c) => void (c["x-note"] = "café ☕ \u{1f600}"),
  },
  {
    name: "1 MiB unknown value",
    stage: "none",
    huge: true,
    conf: (c) => void (c["x-pad"] = "p".repeat(HUGE)),
  },
  // RFC 8259 lets a parser ignore a byte order mark; the plugin does, as TextDecoder does.
  { name: "stdin with a BOM", stage: "none", stdin: (c) => text("\ufeff" + JSON.stringify(c)) },
  { name: "pretty-printed", stage: "none", stdin: (c) => text(JSON.stringify(c, null, 4) + "\n") },
];

function parsed(version: unknown): string | undefined {
  return typeof version === "string" && SUPPORTED_CNI_VERSIONS.includes(version)
    ? version
    : undefined;
}

function olderThan(a: string, b: string): boolean {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0);
  return false;
}

/** The outcome the spec and docs/plugin.md require, in the plugin's order of checks. */
export function expectFor(
  command: Command,
  version: unknown,
  prev: PrevShape,
  fault: Fault,
): Expect {
  const applies = fault.applies === undefined || fault.applies.includes(command);
  const stage = applies ? fault.stage : "none";
  const error = (code: number): Expect => ({ kind: "error", code });
  if (stage === "env") return error(4);
  if (command === "VERSION") return { kind: "valid" };
  if (stage === "decode") return error(6);
  const v = parsed(version);
  if (v === undefined) return error(1);
  const minimum = MINIMUM[command];
  if (minimum !== undefined && olderThan(v, minimum)) return error(1);
  if (stage === "name") return error(7);
  if (stage === "ipam") return error(2);
  if (stage === "field") return error(7);
  if (!prev.valid && command !== "DEL") return error(7);
  if (command === "CHECK" && prev.value === undefined) return error(7);
  return { kind: "valid" };
}

/** Counts of the matrix, by dimension, for reports. */
export interface MatrixSize {
  commands: number;
  versions: number;
  prevShapes: number;
  faults: number;
  cases: number;
}

/** The dimensions of the full matrix. */
export function matrixSize(): MatrixSize {
  const hugeFaults = FAULTS.filter((f) => f.huge).length;
  return {
    commands: COMMANDS.length,
    versions: VERSIONS.length,
    prevShapes: PREV_SHAPES.length,
    faults: FAULTS.length,
    cases: COMMANDS.length * VERSIONS.length *
      (PREV_SHAPES.length * FAULTS.length - (PREV_SHAPES.length - 1) * hugeFaults),
  };
}

/**
 * Every case of the matrix, lazily, in a fixed order. `options.select(index)` keeps a subset
 * (a seeded sample for the chaos run); the index is the case's place in the full matrix.
 * `options.where` keeps the cases of some dimensions (e.g. every plain ADD).
 */
export function* cniMatrix(
  target: MatrixTarget,
  options: {
    select?: (index: number) => boolean;
    /** Keeps only the cases of these dimensions (checked before `select`). */
    where?: (dims: { command: Command; version: unknown; prev: string; fault: string }) => boolean;
  } = {},
): Generator<CniCase> {
  let index = 0;
  for (const command of COMMANDS) {
    for (const version of VERSIONS) {
      for (const prev of PREV_SHAPES) {
        for (const fault of FAULTS) {
          if (fault.huge && prev !== PREV_SHAPES[0]) continue;
          const i = index++;
          const dims = { command, version, prev: prev.name, fault: fault.name };
          if (options.where && !options.where(dims)) continue;
          if (options.select && !options.select(i)) continue;
          yield buildCase(target, i, command, version, prev, fault);
        }
      }
    }
  }
}

function buildCase(
  target: MatrixTarget,
  index: number,
  command: Command,
  version: unknown,
  prev: PrevShape,
  fault: Fault,
): CniCase {
  const env: Env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: `${target.containerPrefix}${index}`,
    CNI_IFNAME: "eth0",
    CNI_NETNS: target.netns,
    CNI_PATH: "/opt/cni/bin",
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=matrix",
  };
  const conf: Conf = {
    name: "tern",
    type: "tern",
    daemonSocket: target.daemonSocket,
    ...target.extraConf,
  };
  if (version !== undefined) conf.cniVersion = version;
  if (prev.value !== undefined) conf.prevResult = structuredClone(prev.value);
  if (command === "GC") {
    conf["cni.dev/valid-attachments"] = [{ containerID: "keep", ifname: "eth0" }];
  }
  fault.env?.(env, command);
  fault.conf?.(conf);
  const stdin = fault.stdin ? fault.stdin(conf) : text(JSON.stringify(conf));
  return {
    name: `#${index} ${command} cniVersion=${
      JSON.stringify(version) ?? "absent"
    }, ${prev.name}, ${fault.name}`,
    command,
    fault: fault.name,
    env,
    stdin,
    expect: expectFor(command, version, prev, fault),
  };
}

/** What one invocation of the plugin did, as seen from outside. */
export interface Outcome {
  exitCode: number;
  stdout: string;
  /** Whether the invocation reached the daemon or the kernel (fakes: any call; real: a probe). */
  acted: boolean;
}

/**
 * Judges an outcome against its case; returns the problems (empty: the case passed). Always:
 * stdout is one JSON object. An error: exit 1, the expected code, a non-empty `msg`, the
 * config's `cniVersion` when it is supported (else 1.1.0), and nothing done. Valid: VERSION
 * prints the supported versions; any other command got past validation (`acted`, or exit 0).
 */
export function judge(c: CniCase, out: Outcome): string[] {
  const problems: string[] = [];
  let body: unknown;
  try {
    body = out.stdout.trim() === "" ? undefined : JSON.parse(out.stdout);
  } catch {
    problems.push(`stdout is not JSON: ${out.stdout.slice(0, 200)}`);
  }
  const obj = body !== null && typeof body === "object" && !Array.isArray(body)
    ? body as Record<string, unknown>
    : undefined;
  if (c.expect.kind === "error") {
    if (out.exitCode !== 1) problems.push(`exit ${out.exitCode}, expected 1`);
    if (obj === undefined) problems.push("no error object on stdout");
    else {
      if (obj.code !== c.expect.code) {
        problems.push(`code ${String(obj.code)}, expected ${c.expect.code}: ${String(obj.msg)}`);
      }
      if (typeof obj.msg !== "string" || obj.msg === "") problems.push("no msg");
      const version = versionOf(c.stdin);
      if (obj.cniVersion !== (version ?? "1.1.0")) {
        problems.push(`error cniVersion ${String(obj.cniVersion)}, expected ${version ?? "1.1.0"}`);
      }
    }
    if (out.acted) problems.push("acted on an invalid input (called the daemon or ip)");
    return problems;
  }
  if (c.command === "VERSION") {
    if (out.exitCode !== 0) problems.push(`VERSION exit ${out.exitCode}: ${out.stdout}`);
    if (!Array.isArray(obj?.supportedVersions)) problems.push("VERSION without supportedVersions");
    return problems;
  }
  if (out.exitCode !== 0 && !out.acted) {
    problems.push(`valid input refused: exit ${out.exitCode}: ${out.stdout.slice(0, 300)}`);
  }
  if (out.exitCode === 0 && out.stdout.trim() !== "" && obj === undefined) {
    problems.push("success without a JSON object");
  }
  return problems;
}

/** The supported `cniVersion` a decodable stdin names, or undefined. */
function versionOf(stdin: Uint8Array): string | undefined {
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(stdin));
    return parsed(value?.cniVersion);
  } catch {
    return undefined;
  }
}

/**
 * The network config the runtime passes on stdin, validated once, by hand (no schema library on
 * the pod's critical path), in libcni's order: decoding (code 6), `cniVersion` (code 1), `name`
 * and `type` (code 7), then tern's own fields (code 7) and the fields tern refuses (code 2).
 * Errors name the key and the bad value. Pure.
 * @module
 */
import type { AttachmentId } from "../src/api.ts";
import { DEFAULT_SOCKET } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { DEFAULT_RELEASE_QUEUE_DIR } from "../src/release_queue.ts";
import { type Level, LOG_FORMATS, type LogFormat } from "../src/log.ts";
import { SUPPORTED_CNI_VERSIONS } from "../src/version.ts";
import { isRecord, parseDns, record, ShapeError, show, string } from "./_shape.ts";
import type { CniCommand } from "./env.ts";
import { parsePrevResult } from "./prev_result.ts";
import type { CniDns, CniResult } from "./result.ts";

/** MTU of both veth ends when the config names none. */
export const DEFAULT_MTU = 1500;
/** Smallest and largest `mtu` accepted (IPv4's minimum; jumbo frames). */
export const MTU_RANGE = { min: 576, max: 9000 } as const;
/** Accepted range of `daemonTimeoutMs`. */
export const DAEMON_TIMEOUT_RANGE = { min: 100, max: 300_000 } as const;

const LEVELS: readonly Level[] = ["debug", "info", "warn", "error"];
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/** The validated network config, defaults applied. */
export interface NetConf {
  /** One of SUPPORTED_CNI_VERSIONS; the result is shaped for it. */
  cniVersion: string;
  /** The network's name; the daemon's `network`. */
  name: string;
  /** The plugin type (`tern`). */
  type: string;
  /** MTU of both veth ends (default {@linkcode DEFAULT_MTU}). */
  mtu: number;
  /** Path of the daemon's socket (default `/run/tern/ternd.sock`). */
  daemonSocket: string;
  /** Bound on each daemon request; the client's own default (10 s) when absent. */
  daemonTimeoutMs?: number;
  /** Log file, appended; stderr when absent. */
  logFile?: string;
  /**
   * The durable DEL queue, where DEL leaves a release the daemon cannot take now (default
   * `/var/lib/tern/release-queue`, the daemon's default beside its state).
   */
  releaseQueueDir: string;
  /** Least severe level logged (default `info`). */
  logLevel: Level;
  /** `json`: log lines as JSON objects; absent: text. */
  logFormat?: LogFormat;
  /** Passed through to the result. */
  dns?: CniDns;
  /** The cached result: required for CHECK, ignored by DEL. */
  prevResult?: CniResult;
  /** GC: `cni.dev/valid-attachments` (or the older `cni.dev/attachments`). */
  validAttachments?: AttachmentId[];
}

/** The oldest `cniVersion` with which a command exists in the spec. */
export const MINIMUM_VERSION: Readonly<Partial<Record<CniCommand, string>>> = {
  CHECK: "0.4.0",
  STATUS: "1.1.0",
  GC: "1.1.0",
};

/** Compares two `major.minor.patch` versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The config's `cniVersion` if stdin is a JSON object that names one as a string (lenient). */
export function peekCniVersion(text: string): string | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value) && typeof value.cniVersion === "string") return value.cniVersion;
  } catch {
    // not JSON: the caller falls back to the newest version
  }
  return undefined;
}

function invalid(detail: string): CniError {
  return new CniError(CniCode.InvalidConfig, `Cannot parse network config: ${detail}`);
}

function integerIn(
  obj: Record<string, unknown>,
  key: string,
  range: { min: number; max: number },
): number | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max
  ) {
    throw invalid(`"${key}" must be ${range.min}..${range.max}: got ${show(value)}`);
  }
  return value;
}

function absolutePath(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw invalid(`"${key}" must be an absolute path: got ${show(value)}`);
  }
  return value;
}

function parseAttachments(value: unknown, key: string): AttachmentId[] {
  if (!Array.isArray(value)) throw new ShapeError(key, "must be a list", value);
  return value.map((item, i) => {
    const obj = record(item, `${key}[${i}]`);
    return {
      containerID: string(obj.containerID, `${key}[${i}].containerID`),
      ifname: string(obj.ifname, `${key}[${i}].ifname`),
    };
  });
}

/**
 * Parses and validates the config for `command` (any but VERSION). Throws {@linkcode CniError}:
 * 6 when stdin is not a JSON object, 1 for an unsupported `cniVersion` or one older than the
 * command, 2 for an `ipam` section, 7 for any other invalid or missing field.
 */
export function parseNetConf(text: string, command: CniCommand): NetConf {
  if (text.trim() === "") {
    throw new CniError(CniCode.DecodingFailure, "Cannot decode network config: stdin is empty");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(
      CniCode.DecodingFailure,
      `Cannot decode network config: ${errorMessage(err)}`,
    );
  }
  if (!isRecord(raw)) {
    throw new CniError(
      CniCode.DecodingFailure,
      `Cannot decode network config: expected a JSON object: got ${show(raw)}`,
    );
  }

  const supported = SUPPORTED_CNI_VERSIONS.join(", ");
  const cniVersion = raw.cniVersion;
  if (typeof cniVersion !== "string" || !SUPPORTED_CNI_VERSIONS.includes(cniVersion)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `Incompatible CNI version ${show(cniVersion)}: tern supports ${supported}`,
      `supportedVersions: ${supported}`,
    );
  }
  const minimum = MINIMUM_VERSION[command];
  if (minimum !== undefined && compareVersions(cniVersion, minimum) < 0) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `Incompatible CNI version "${cniVersion}": ${command} needs ${minimum} or newer`,
      `supportedVersions: ${supported}`,
    );
  }

  if (typeof raw.name !== "string" || !NETWORK_NAME.test(raw.name)) {
    throw invalid(`"name" must match ${NETWORK_NAME.source}: got ${show(raw.name)}`);
  }
  if (typeof raw.type !== "string" || raw.type === "") {
    throw invalid(`"type" must be a non-empty string: got ${show(raw.type)}`);
  }
  if (raw.ipam !== undefined) {
    throw new CniError(
      CniCode.UnsupportedField,
      `Unsupported field in network config "ipam": ${show(raw.ipam)}` +
        `: tern allocates pod addresses in its daemon; remove the "ipam" section`,
    );
  }

  const conf: NetConf = {
    cniVersion,
    name: raw.name,
    type: raw.type,
    mtu: integerIn(raw, "mtu", MTU_RANGE) ?? DEFAULT_MTU,
    daemonSocket: absolutePath(raw, "daemonSocket") ?? DEFAULT_SOCKET,
    releaseQueueDir: absolutePath(raw, "releaseQueueDir") ?? DEFAULT_RELEASE_QUEUE_DIR,
    logLevel: "info",
  };
  const timeout = integerIn(raw, "daemonTimeoutMs", DAEMON_TIMEOUT_RANGE);
  if (timeout !== undefined) conf.daemonTimeoutMs = timeout;
  const logFile = absolutePath(raw, "logFile");
  if (logFile !== undefined) conf.logFile = logFile;
  if (raw.logLevel !== undefined) {
    const level = LEVELS.find((l) => l === raw.logLevel);
    if (level === undefined) {
      throw invalid(`"logLevel" must be one of ${LEVELS.join(", ")}: got ${show(raw.logLevel)}`);
    }
    conf.logLevel = level;
  }
  if (raw.logFormat !== undefined) {
    const format = LOG_FORMATS.find((f) => f === raw.logFormat);
    if (format === undefined) {
      throw invalid(
        `"logFormat" must be one of ${LOG_FORMATS.join(", ")}: got ${show(raw.logFormat)}`,
      );
    }
    if (format !== "text") conf.logFormat = format;
  }

  try {
    if (raw.dns !== undefined) conf.dns = parseDns(raw.dns, "dns");
    // DEL never reads prevResult: a damaged cache entry must not block a pod's teardown.
    if (raw.prevResult !== undefined && command !== "DEL") {
      conf.prevResult = parsePrevResult(raw.prevResult);
    }
    if (command === "GC") {
      const key = raw["cni.dev/valid-attachments"] !== undefined
        ? "cni.dev/valid-attachments"
        : "cni.dev/attachments";
      if (raw[key] === undefined) {
        throw new ShapeError("cni.dev/valid-attachments", "is required for GC", undefined);
      }
      conf.validAttachments = parseAttachments(raw[key], key);
    }
  } catch (err) {
    if (err instanceof ShapeError) throw invalid(err.message);
    throw err;
  }
  if (command === "CHECK" && conf.prevResult === undefined) {
    throw invalid(`"prevResult" is required for CHECK: got nothing`);
  }
  return conf;
}

/**
 * The daemon's configuration: a YAML file (default `/etc/tern/ternd.yaml`) validated once, at
 * start, by a zod schema. Every error names the file, the key path and the bad value; unknown
 * keys are errors, so a typo never silently falls back to a default. {@linkcode parseConfig} is
 * pure; {@linkcode loadConfig} reads the file.
 * @module
 */
import * as z from "../src/lib/zod.ts";
import { parseDocument } from "yaml";
import { DEFAULT_SOCKET } from "../src/api.ts";
import { type Cidr, formatCidr, overlaps, parseCidr } from "../src/cidr.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { type Level, LOG_FORMATS, type LogFormat } from "../src/log.ts";
import { DEFAULT_ROUTE_PROTOCOL } from "../src/names.ts";
import { DEFAULT_LOG_RATE } from "../src/policy/compile.ts";
import { formatValue } from "../src/zod_issues.ts";
import { formatIssues } from "./_zod_issues.ts";
import { formatDuration, parseDuration } from "../src/lib/duration.ts";
import { type RoutingConfig, routingConfigSchema } from "../src/routing/routing_config.ts";

/** Where the daemon looks for its config when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = "/etc/tern/ternd.yaml";

/** Where the daemon keeps its Deno KV database by default. */
export const DEFAULT_STATE_FILE = "/var/lib/tern/state.kv";

/** The `files` cluster source's directory by default. */
export const DEFAULT_CLUSTER_DIR = "/etc/tern/cluster";

/** What every cluster source's section has. */
interface ClusterCommon {
  /** How long start-up waits for this node's Node to carry a pod CIDR when `podCIDRs` is absent. */
  podCIDRWaitMs: number;
}

/** `cluster.source: files`: a watched directory of Kubernetes-style manifests. */
export interface FilesClusterConfig extends ClusterCommon {
  source: "files";
  /** The manifests directory of the `files` source. */
  dir: string;
  /** Whether the daemon writes `endpoints-<nodeName>.yaml` (NodeEndpoints) into `dir`. */
  publishEndpoints: boolean;
  /**
   * The `files` source's quiet time after a write ended (renamed into place, closed, removed)
   * before the directory is read again; `policy.dir` is watched with the same knobs.
   */
  settleMs: number;
  /** The `files` source's quiet time of a file written without such an end. */
  debounceMs: number;
}

/** `cluster.source: kubernetes`: list+watch against the API server. */
export interface KubernetesClusterConfig extends ClusterCommon {
  source: "kubernetes";
  /** A kubeconfig file; absent: the in-cluster service account (token, CA, `KUBERNETES_SERVICE_*`). */
  kubeconfig?: string;
  /** The kubeconfig context to use; absent: its `current-context`. */
  context?: string;
  /** How long ADD waits for the first lists of every kind before it fails with code 11. */
  syncWaitMs: number;
  /** Whether the daemon annotates its pods with their addresses (`tern.dev/pod-ips`) after ADD. */
  publishPodIPs: boolean;
}

/** `ipam.blocks`: the warm targets of blocks mode, in the AWS IPAM daemon's terms. */
export interface BlocksConfig {
  /** Free addresses to keep ready. */
  warmIPTarget: number;
  /** Addresses (used or free) held even when idle. */
  minimumIPTarget: number;
  /** Blocks this node may own at most. */
  maxBlocks: number;
  /** How long a block must be empty before it is given back. */
  releaseCooldownMs: number;
  /** How long a Node must be gone before the other daemons release its blocks. */
  nodeGracePeriodMs: number;
  /** How often the warm pool is checked even when nothing changed. */
  intervalMs: number;
}

/** The `cluster` section: where cluster state comes from. */
export type ClusterConfig = FilesClusterConfig | KubernetesClusterConfig;

/** The `policy` section: security groups and NetworkPolicy, enforced with nftables. */
export interface PolicyConfig {
  /** Whether the daemon programs `inet tern`; false deletes that table and enforces nothing. */
  enabled: boolean;
  /** Drop log lines per second per rule (and per pod layer's default deny); 0 logs nothing. */
  logRate: number;
  /** A second directory of policy manifests (beside the cluster source's); absent: none. */
  dir?: string;
  /** How long ADD waits for the Pod object of a pod held closed (see docs/policy.md). */
  pendingWaitMs: number;
}

/** An address and port to listen on, as `metrics.listen` gives it. */
export interface ListenAddress {
  /** An IPv4 address, or an IPv6 address without its brackets. */
  hostname: string;
  port: number;
}

/** The `metrics` section: Prometheus metrics (docs/metrics.md). */
export interface MetricsConfig {
  /** Also serve `GET /metrics` over TCP here; absent: only on the API's Unix socket. */
  listen?: ListenAddress;
  /** The nftables counters behind the policy metrics are read at most this often; 0: never. */
  policyCountersIntervalMs: number;
}

/** The validated config, with defaults applied and durations in milliseconds. */
export interface DaemonConfig {
  /** This node's name (Kubernetes Node object); defaults to the lowercased hostname. */
  nodeName: string;
  /**
   * The node's pod CIDRs, canonical text, in the order given; never overlapping. Empty only when
   * a cluster source is configured: the daemon then learns them from this node's Node.
   */
  podCIDRs: string[];
  /** Path of the API's Unix socket. */
  socket: string;
  /** Path of the Deno KV database. */
  stateFile: string;
  /**
   * The durable DEL queue the plugin writes when the daemon is down (`src/release_queue.ts`),
   * drained at start and on every sweep; default `release-queue` beside `stateFile`. The
   * netconf's `releaseQueueDir` must name the same directory.
   */
  releaseQueueDir: string;
  /** Route protocol number that marks tern's routes (5..255). */
  routeProtocol: number;
  ipam: {
    /** How long a released address rests before it is handed out again, unless nothing else is free. */
    releaseCooldownMs: number;
    /**
     * `node-cidr` (default): addresses come from the node's pod CIDRs. `blocks`: from blocks of
     * cluster IPPools claimed through the Kubernetes API (docs/ipam.md); needs
     * `cluster.source: kubernetes`.
     */
    mode: "node-cidr" | "blocks";
    /** The warm pool of blocks mode. */
    blocks: BlocksConfig;
  };
  gc: {
    /** How often the sweep runs. */
    intervalMs: number;
    /** How long an attachment must look gone before the sweep releases it. */
    gracePeriodMs: number;
  };
  log: {
    level: Level;
    /** `text` (default): `time LEVEL message key=value…`; `json`: one JSON object per line. */
    format: LogFormat;
    /** Log file (appended); stderr when absent. */
    file?: string;
  };
  /** Where cluster state comes from; absent on a single node. */
  cluster?: ClusterConfig;
  /** Routing between nodes, policy routing and egress tables. */
  routing: RoutingConfig;
  reconcile: {
    /** How often the reconciler re-checks the kernel even when nothing told it to. */
    intervalMs: number;
    /** Whether `ip monitor route rule link` events trigger a pass. */
    monitor: boolean;
  };
  policy: PolicyConfig;
  metrics: MetricsConfig;
}

/** Thrown when the config cannot be read or is invalid; the message is meant for the operator. */
export class ConfigError extends Error {
  /** The problems found, one per line, each `path: what was wrong: got value`. */
  readonly problems: readonly string[];

  /** `file` is the config's path, `problems` the messages for each bad key. */
  constructor(file: string, problems: readonly string[]) {
    super(`Invalid config ${file}: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Unix socket paths are limited to 107 bytes and ternd binds at a slightly longer temporary name. */
const MAX_SOCKET_PATH = 90;

function isNodeName(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

const absolutePath = z.string().superRefine((value, ctx) => {
  if (!value.startsWith("/")) {
    ctx.addIssue({ code: "custom", message: `${formatValue(value)} must be an absolute path` });
  }
});

const cidr = z.string().superRefine((value, ctx) => {
  try {
    parseCidr(value);
  } catch {
    let message = `${formatValue(value)} is not an IPv4 CIDR (address/prefix)`;
    try {
      const loose = parseCidr(value, { strict: false });
      message = `${formatValue(value)} has host bits set, did you mean ${formatCidr(loose)}?`;
    } catch {
      // Not even loosely a CIDR: keep the generic message.
    }
    ctx.addIssue({ code: "custom", message });
  }
});

/**
 * The longest duration accepted: the longest delay a timer takes (2^31 - 1 ms, about 24.8 days);
 * `setTimeout` fires at once for a longer one, so an interval beyond it would spin.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

function duration(fallback: string, minMs: number) {
  return z.unknown().default(fallback).transform((value, ctx) => {
    let ms: number;
    try {
      // YAML reads a bare 0 as a number; it is the one duration that needs no unit.
      ms = value === 0 ? 0 : typeof value === "string" ? parseDuration(value) : Number.NaN;
    } catch {
      ms = Number.NaN;
    }
    if (Number.isNaN(ms)) {
      ctx.addIssue({
        code: "custom",
        message: `${
          formatValue(value)
        } is not a duration: write a number and a unit, e.g. "30s", "2m", "1h30m"`,
      });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({
        code: "custom",
        message: `${formatValue(value)} is too short: must be at least ${minMs}ms`,
      });
      return z.NEVER;
    }
    if (ms > MAX_DURATION_MS) {
      ctx.addIssue({
        code: "custom",
        message: `${formatValue(value)} is too long: must be at most ${
          formatDuration(MAX_DURATION_MS)
        }`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

function count(min: number, max: number) {
  return z.unknown().transform((value, ctx) => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      ctx.addIssue({
        code: "custom",
        message: `${formatValue(value)} must be an integer ${min}..${max}`,
      });
      return z.NEVER;
    }
    return value;
  });
}

/**
 * `host:port`: an IPv4 address or a bracketed IPv6 address, and a port 1..65535; undefined when
 * `text` is not of that shape. Pure.
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-fA-F:.]+)\]):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return undefined;
  if (m[1] !== undefined) {
    try {
      parseCidr(`${m[1]}/32`);
    } catch {
      return undefined;
    }
    return { hostname: m[1], port };
  }
  const v6 = m[2]!;
  // An IPv6 address as URL parsing knows it: at most one "::", groups of hex digits.
  try {
    new URL(`http://[${v6}]/`);
  } catch {
    return undefined;
  }
  return { hostname: v6, port };
}

const listenAddress = z.string().superRefine((value, ctx) => {
  if (parseListenAddress(value) === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `${
        formatValue(value)
      } is not an address and port: write e.g. "127.0.0.1:9464", "0.0.0.0:9464" or "[::1]:9464"`,
    });
  }
});

const schema = z.strictObject({
  nodeName: z.string().superRefine((value, ctx) => {
    if (value !== "" && !isNodeName(value)) {
      ctx.addIssue({
        code: "custom",
        message: `${
          formatValue(value)
        } is not a valid node name: lowercase letters, digits, "-" and ".", at most 253`,
      });
    }
  }).optional(),
  podCIDRs: z.array(cidr).optional(),
  socket: absolutePath.superRefine((value, ctx) => {
    if (new TextEncoder().encode(value).length > MAX_SOCKET_PATH) {
      ctx.addIssue({
        code: "custom",
        message: `${
          formatValue(value)
        } is too long for a Unix socket: at most ${MAX_SOCKET_PATH} bytes`,
      });
    }
  }).default(DEFAULT_SOCKET),
  stateFile: absolutePath.default(DEFAULT_STATE_FILE),
  releaseQueueDir: absolutePath.optional(),
  routeProtocol: z.unknown().default(DEFAULT_ROUTE_PROTOCOL).transform((value, ctx) => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 5 || value > 255) {
      ctx.addIssue({
        code: "custom",
        message: `${
          formatValue(value)
        } must be an integer 5..255 (0..4 are reserved by the kernel)`,
      });
      return z.NEVER;
    }
    return value;
  }),
  ipam: z.strictObject({
    releaseCooldown: duration("30s", 0),
    mode: z.enum(["node-cidr", "blocks"]).default("node-cidr"),
    blocks: z.strictObject({
      warmIPTarget: count(0, 65_536).default(8),
      minimumIPTarget: count(0, 1 << 24).default(0),
      maxBlocks: count(1, 65_536).default(32),
      releaseCooldown: duration("5m", 0),
      nodeGracePeriod: duration("5m", 0),
      interval: duration("30s", 100),
    }).prefault({}),
  }).prefault({}),
  gc: z.strictObject({
    interval: duration("60s", 100),
    gracePeriod: duration("120s", 0),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(["debug", "info", "warn", "error"]).default("info"),
    format: z.enum(LOG_FORMATS).default("text"),
    file: absolutePath.optional(),
  }).prefault({}),
  cluster: z.discriminatedUnion("source", [
    z.strictObject({
      source: z.literal("files"),
      dir: absolutePath.default(DEFAULT_CLUSTER_DIR),
      publishEndpoints: z.boolean().default(true),
      podCIDRWait: duration("60s", 0),
      settle: duration("10ms", 0),
      debounce: duration("100ms", 0),
    }),
    z.strictObject({
      source: z.literal("kubernetes"),
      kubeconfig: absolutePath.optional(),
      context: z.string().min(1).optional(),
      podCIDRWait: duration("60s", 0),
      syncWait: duration("8s", 0),
      publishPodIPs: z.boolean().default(true),
    }),
  ], { error: 'must be "files" or "kubernetes"' }).optional(),
  routing: routingConfigSchema.prefault({}),
  reconcile: z.strictObject({
    interval: duration("10s", 100),
    monitor: z.boolean().default(true),
  }).prefault({}),
  policy: z.strictObject({
    enabled: z.boolean().default(true),
    logRate: z.unknown().default(DEFAULT_LOG_RATE).transform((value, ctx) => {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 10_000) {
        ctx.addIssue({
          code: "custom",
          message: `${
            formatValue(value)
          } must be an integer 0..10000 (log lines per second; 0: none)`,
        });
        return z.NEVER;
      }
      return value;
    }),
    dir: absolutePath.optional(),
    pendingWait: duration("2s", 0),
  }).prefault({}),
  metrics: z.strictObject({
    listen: listenAddress.optional(),
    policyCountersInterval: duration("30s", 0).transform((ms, ctx) => {
      if (ms > 0 && ms < 1_000) {
        ctx.addIssue({
          code: "custom",
          message: `${ms}ms is too short: must be 0 (never) or at least 1s`,
        });
        return z.NEVER;
      }
      return ms;
    }),
  }).prefault({}),
}).superRefine((value, ctx) => {
  if (value.ipam.mode === "blocks" && value.cluster?.source !== "kubernetes") {
    ctx.addIssue({
      code: "custom",
      path: ["ipam", "mode"],
      message:
        '"blocks" needs the Kubernetes API: set cluster.source: kubernetes, or use ipam.mode: node-cidr',
    });
  }
  const cidrs = value.podCIDRs;
  if (value.ipam.mode === "blocks" && cidrs !== undefined && cidrs.length > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["podCIDRs"],
      message: "must be absent with ipam.mode: blocks (addresses come from IPPools)",
    });
    return;
  }
  if (cidrs === undefined || cidrs.length === 0) {
    if (value.cluster !== undefined) return; // learned from this node's Node at start-up
    ctx.addIssue({
      code: "custom",
      path: ["podCIDRs"],
      message:
        "is required: list this node's pod CIDRs, e.g. podCIDRs: [10.244.1.0/24], or configure a cluster source to learn them from this node's Node",
    });
    return;
  }
  const parsed: (Cidr | undefined)[] = cidrs.map((text) => {
    try {
      return parseCidr(text);
    } catch {
      return undefined;
    }
  });
  for (let i = 0; i < parsed.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = parsed[i];
      const b = parsed[j];
      if (a && b && overlaps(a, b)) {
        ctx.addIssue({
          code: "custom",
          path: ["podCIDRs", i],
          message: `${formatValue(cidrs[i])} overlaps podCIDRs[${j}] ${formatValue(cidrs[j])}`,
        });
      }
    }
  }
});

/**
 * Parses and validates the YAML text of a config (pure). `options.file` names the file in
 * errors. The node name is `nodeName` when set (and not empty), else `options.nodeNameEnv` (the
 * `NODE_NAME` environment variable, as a DaemonSet sets it from `spec.nodeName`), else
 * `options.hostname` lowercased. Throws {@linkcode ConfigError}.
 */
export function parseConfig(
  text: string,
  options: { file?: string; hostname?: string; nodeNameEnv?: string } = {},
): DaemonConfig {
  const file = options.file ?? DEFAULT_CONFIG_PATH;
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? `line ${pos.line} column ${pos.col}: ` : "";
        return `${where}not valid YAML: ${e.message.split("\n")[0]}`;
      }),
    );
  }
  let input: unknown;
  try {
    // An alias without its anchor, or one that expands too far, throws only here.
    input = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${errorMessage(err).split("\n")[0]}`]);
  }
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error.issues, input));
  const data = result.data;

  let nodeName = data.nodeName === "" ? undefined : data.nodeName;
  const fromEnv = options.nodeNameEnv;
  if (nodeName === undefined && fromEnv !== undefined && fromEnv !== "") {
    if (!isNodeName(fromEnv)) {
      throw new ConfigError(file, [
        `nodeName: is not set and NODE_NAME ${
          formatValue(fromEnv)
        } is not a valid node name: set nodeName or fix NODE_NAME`,
      ]);
    }
    nodeName = fromEnv;
  }
  if (nodeName === undefined) {
    const host = (options.hostname ?? "").toLowerCase();
    if (!isNodeName(host)) {
      throw new ConfigError(file, [
        `nodeName: is not set and the hostname ${
          formatValue(options.hostname ?? "")
        } is not a valid node name: set nodeName`,
      ]);
    }
    nodeName = host;
  }

  const config: DaemonConfig = {
    nodeName,
    podCIDRs: (data.podCIDRs ?? []).map((text) => formatCidr(parseCidr(text))),
    socket: data.socket,
    stateFile: data.stateFile,
    releaseQueueDir: data.releaseQueueDir ?? `${parentDir(data.stateFile)}/release-queue`,
    routeProtocol: data.routeProtocol,
    ipam: {
      releaseCooldownMs: data.ipam.releaseCooldown,
      mode: data.ipam.mode,
      blocks: {
        warmIPTarget: data.ipam.blocks.warmIPTarget,
        minimumIPTarget: data.ipam.blocks.minimumIPTarget,
        maxBlocks: data.ipam.blocks.maxBlocks,
        releaseCooldownMs: data.ipam.blocks.releaseCooldown,
        nodeGracePeriodMs: data.ipam.blocks.nodeGracePeriod,
        intervalMs: data.ipam.blocks.interval,
      },
    },
    gc: { intervalMs: data.gc.interval, gracePeriodMs: data.gc.gracePeriod },
    log: { level: data.log.level, format: data.log.format },
    routing: data.routing,
    reconcile: { intervalMs: data.reconcile.interval, monitor: data.reconcile.monitor },
    policy: {
      enabled: data.policy.enabled,
      logRate: data.policy.logRate,
      pendingWaitMs: data.policy.pendingWait,
    },
    metrics: { policyCountersIntervalMs: data.metrics.policyCountersInterval },
  };
  if (data.metrics.listen !== undefined) {
    config.metrics.listen = parseListenAddress(data.metrics.listen)!;
  }
  if (data.policy.dir !== undefined) config.policy.dir = data.policy.dir;
  if (data.log.file !== undefined) config.log.file = data.log.file;
  const cluster = data.cluster;
  if (cluster?.source === "files") {
    config.cluster = {
      source: cluster.source,
      dir: cluster.dir,
      publishEndpoints: cluster.publishEndpoints,
      podCIDRWaitMs: cluster.podCIDRWait,
      settleMs: cluster.settle,
      debounceMs: cluster.debounce,
    };
  } else if (cluster?.source === "kubernetes") {
    config.cluster = {
      source: cluster.source,
      podCIDRWaitMs: cluster.podCIDRWait,
      syncWaitMs: cluster.syncWait,
      publishPodIPs: cluster.publishPodIPs,
      ...(cluster.kubeconfig !== undefined ? { kubeconfig: cluster.kubeconfig } : {}),
      ...(cluster.context !== undefined ? { context: cluster.context } : {}),
    };
  }
  return config;
}

/**
 * Reads and validates the config at `path`. `options.readTextFile`, `options.hostname` and
 * `options.env` are injectable for tests (defaults: `Deno.readTextFile`, `Deno.hostname`,
 * `Deno.env.get`). Throws {@linkcode ConfigError}, also when the file cannot be read.
 */
export async function loadConfig(
  path: string,
  options: {
    readTextFile?: (path: string) => Promise<string>;
    hostname?: () => string;
    env?: (name: string) => string | undefined;
  } = {},
): Promise<DaemonConfig> {
  const read = options.readTextFile ?? Deno.readTextFile;
  let text: string;
  try {
    text = await read(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "the file does not exist: write one (see docs/daemon.md) or pass --config FILE"
      : errorMessage(err);
    throw new ConfigError(path, [`cannot read it: ${why}`]);
  }
  const nodeNameEnv = (options.env ?? ((name) => Deno.env.get(name)))("NODE_NAME");
  return parseConfig(text, {
    file: path,
    hostname: (options.hostname ?? Deno.hostname)(),
    ...(nodeNameEnv !== undefined ? { nodeNameEnv } : {}),
  });
}

/** The directory of an absolute `path` ("" for a file at the root, so "/x" + "/queue" works). */
function parentDir(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/**
 * The operator CLI: `tern` run without `CNI_COMMAND`. `tern version`, `tern status` (the daemon's
 * health, pools, routing, reconciler and policy), `tern ipam ls` (the endpoints the daemon
 * knows), `tern policy status|counters|explain` and `tern help`, with the global options
 * `--socket PATH` and `--json`. It talks to the daemon through
 * `src/daemon_client.ts`; the daemon client, the output streams and the build info are
 * injectable, so every command is tested without a socket.
 * @module
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_SOCKET,
  type Endpoint,
  type ExplainRequest,
  type ExplainResponse,
  type PolicyCountersResponse,
  type PolicyStatusResponse,
  type StatusResponse,
} from "../src/api.ts";
import { DaemonApiError, DaemonClient, DaemonUnavailableError } from "../src/daemon_client.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { SUPPORTED_CNI_VERSIONS, TERN_VERSION } from "../src/version.ts";
import { type BuildInfo, buildInfoCandidates, readBuildInfo } from "./build_info.ts";
import { renderEndpoints, renderStatus } from "./render.ts";
import { renderClusterIpam } from "./cluster_ipam_render.ts";
import type { ClusterReport } from "../src/ipam/cluster_report.ts";
import type { IpamCheckReport, IpamRepairResponse } from "../src/ipam/ipam_check.ts";
import type { PurgeReport } from "./purge.ts";

/** What the CLI needs of the daemon. */
export interface CliDaemon {
  status(): Promise<StatusResponse>;
  endpoints(): Promise<Endpoint[]>;
  policyStatus(): Promise<PolicyStatusResponse>;
  policyCounters(): Promise<PolicyCountersResponse>;
  explain(request: ExplainRequest): Promise<ExplainResponse>;
  /** The Prometheus text of `GET /metrics`. */
  metrics(): Promise<string>;
  ipamCheck(): Promise<IpamCheckReport>;
  ipamRepair(): Promise<IpamRepairResponse>;
}

/** The CLI's daemon over the real client. */
export function daemonOver(client: DaemonClient): CliDaemon {
  return {
    status: () => client.status(),
    endpoints: () => client.endpoints(),
    policyStatus: () => client.request("GET", "/v1/policy/status"),
    policyCounters: () => client.request("GET", "/v1/policy/counters"),
    explain: (request) => client.request("POST", "/v1/policy/explain", request),
    metrics: () => client.metrics(),
    ipamCheck: () => client.request("GET", "/v1/ipam/check"),
    ipamRepair: () => client.request("POST", "/v1/ipam/repair", {}),
  };
}

/** The CLI's edges; tests replace them. */
export interface CliDeps {
  /** A daemon client for the socket (default: {@linkcode DaemonClient}, 5 s timeout). */
  daemon(socketPath: string): CliDaemon;
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** This build's BUILD-INFO.json, when there is one. */
  buildInfo(): Promise<BuildInfo | undefined>;
  /** The cluster's pools and blocks, from the API server (`kubeconfig`, else in-cluster). */
  clusterIpam(kubeconfig: string | undefined): Promise<ClusterReport>;
  /** `tern purge` on the node's kernel (see `cli/purge.ts`). */
  purge(options: { config: string; socket: string; dryRun: boolean }): Promise<PurgeReport>;
}

const encoder = new TextEncoder();

/** The real edges: the Unix socket, stdout, stderr and the build info beside the executable. */
export const defaultCliDeps: CliDeps = {
  daemon: (socketPath) => daemonOver(new DaemonClient(socketPath, { timeoutMs: 5_000 })),
  out: (text) => void Deno.stdout.writeSync(encoder.encode(text)),
  err: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
  buildInfo: () => readBuildInfo(buildInfoCandidates(import.meta.url, Deno.execPath())),
  async purge(options) {
    // Loaded only here: no other command reads the kernel.
    const { readRouteProtocol, runPurge } = await import("./purge.ts");
    const { Ip } = await import("../src/ip.ts");
    const { Nft } = await import("../src/nft.ts");
    const { denoRunner } = await import("../src/runner.ts");
    let daemonRunning = true;
    try {
      await new DaemonClient(options.socket, { timeoutMs: 2_000 }).status();
    } catch (err) {
      if (err instanceof DaemonUnavailableError) daemonRunning = false;
    }
    return await runPurge(new Ip(denoRunner), new Nft(denoRunner), {
      protocol: await readRouteProtocol(options.config),
      daemonRunning,
      dryRun: options.dryRun,
    });
  },
  async clusterIpam(kubeconfig) {
    // Loaded only here: the other commands never pay for the Kubernetes client.
    const { KubeClient } = await import("../src/kube/client.ts");
    const { resolveConnection } = await import("../src/kube/kubeconfig.ts");
    const { readClusterIpam } = await import("../src/ipam/cluster_report.ts");
    const client = new KubeClient(await resolveConnection({ kubeconfig }), {
      requestTimeoutMs: 10_000,
    });
    try {
      return await readClusterIpam(client);
    } finally {
      client.close();
    }
  },
};

/** `tern help`. */
export const USAGE = `usage: tern [--socket PATH] [--json] COMMAND

commands:
  version     tern's version, the CNI spec versions it speaks and how it was built
  status      the daemon's health: node, pools with used and free addresses, endpoints, uptime;
              cluster source, routing mode, peers, last reconcile pass, owned routes and rules,
              problems and failing changes; policy in brief
  ipam ls     the endpoints the daemon knows: container, interface, address, state, veth, pod
              (--wide shows whole container IDs)
  ipam ls --cluster
              the cluster's IPPools and each node's blocks with their use (ipam.mode: blocks),
              read from the API server (--kubeconfig PATH, else $KUBECONFIG, else in-cluster)
  ipam check  allocations against the kernel and the cluster: leaked addresses, addresses in
              use without an allocation, two owners, pods gone, blocks (exit 3 on problems);
              --repair applies the repairs that are safe and checks again
  policy status
              how the node enforces policy (pods programmed and held, last transaction,
              table checks), then each policy: the pods it selects, what is enforced, what not
  policy counters
              packets and bytes per policy rule, per pod, per default deny, and drops of
              veths not yet programmed (--all shows rules that counted nothing)
  policy explain SRC DST PROTO/PORT
              the verdict on a flow and the rule of each layer and side that decided it;
              SRC and DST are pods (namespace/name) or IPv4 addresses; PROTO/PORT is tcp/80,
              udp/53, sctp/9, icmp, icmp/8 or icmp/3/1 (type and code)
  metrics [PREFIX...]
              the daemon's Prometheus metrics as a scrape sees them, or only the families
              whose names start with a PREFIX (e.g. tern metrics tern_cni tern_ipam);
              --json: each family with its samples (docs/metrics.md)
  purge       remove tern's kernel objects (table inet tern, routes and rules of its route
              protocol) once no pod uses them and ternd is stopped; refuses otherwise
              (--dry-run says what it would remove; --config FILE for routeProtocol)
  help        this text

options:
  --socket PATH   the daemon's API socket (default: ${DEFAULT_SOCKET})
  --json          print JSON instead of tables
  --all           policy counters: rows with no packets too
  --repair        ipam check: apply the safe repairs
  --dry-run       purge: say what would be removed, remove nothing
  --config FILE   purge: the daemon's config, for routeProtocol (default: /etc/tern/ternd.yaml)

tern is also the CNI plugin (when CNI_COMMAND is set) and the node daemon (as ternd or
tern daemon). Exit codes: 0 success, 1 the daemon failed or did not answer (or is not ready,
for status), 2 usage error, 3 ipam check found problems (after --repair: some remain).
`;

/** Runs the CLI with `args` (without the program name) and returns the exit code. */
export async function runCli(args: string[], deps: CliDeps = defaultCliDeps): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        socket: { type: "string", default: DEFAULT_SOCKET },
        json: { type: "boolean", default: false },
        wide: { type: "boolean", default: false },
        cluster: { type: "boolean", default: false },
        kubeconfig: { type: "string" },
        all: { type: "boolean", default: false },
        repair: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        config: { type: "string", default: "/etc/tern/ternd.yaml" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    deps.err(`tern: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  const json = values.json;
  const print = (value: unknown) => deps.out(JSON.stringify(value, null, 2) + "\n");
  const [command, ...rest] = positionals;

  if (values.help || command === undefined || command === "help") {
    deps.out(USAGE);
    return 0;
  }
  const usageError = (message: string) => {
    deps.err(`tern: ${message}\n\n${USAGE}`);
    return 2;
  };

  try {
    switch (command) {
      case "version": {
        if (rest.length > 0) return usageError(`Unexpected argument: ${rest[0]}`);
        const build = await deps.buildInfo();
        if (json) {
          print({
            version: TERN_VERSION,
            cniVersions: SUPPORTED_CNI_VERSIONS,
            deno: Deno.version.deno,
            build: build ?? null,
          });
        } else {
          deps.out(renderVersion(build));
        }
        return 0;
      }
      case "status": {
        if (rest.length > 0) return usageError(`Unexpected argument: ${rest[0]}`);
        const status = await deps.daemon(values.socket).status();
        if (json) print(status);
        else deps.out(renderStatus(status));
        if (!status.ready) {
          deps.err("tern: The daemon is not ready: it is starting or stopping\n");
          return 1;
        }
        return 0;
      }
      case "ipam": {
        if (rest[0] === "check" && rest.length === 1) {
          const render = await import("./ipam_check_render.ts");
          const daemon = deps.daemon(values.socket);
          if (values.repair) {
            const response = await daemon.ipamRepair();
            if (json) print(response);
            else deps.out(render.renderIpamRepair(response));
            return response.after.problems.length > 0 ? 3 : 0;
          }
          const report = await daemon.ipamCheck();
          if (json) print(report);
          else deps.out(render.renderIpamCheck(report));
          return report.problems.length > 0 ? 3 : 0;
        }
        if (rest[0] !== "ls" || rest.length > 1) {
          return usageError(
            `Unknown ipam command: ${rest.join(" ") || "(none)"}: try ipam ls or ipam check`,
          );
        }
        if (values.cluster) {
          const kubeconfig = values.kubeconfig ?? (Deno.env.get("KUBECONFIG") || undefined);
          const report = await deps.clusterIpam(kubeconfig);
          if (json) print(report);
          else deps.out(renderClusterIpam(report));
          return 0;
        }
        const endpoints = await deps.daemon(values.socket).endpoints();
        if (json) print(endpoints);
        else deps.out(renderEndpoints(endpoints, { wide: values.wide }));
        return 0;
      }
      case "purge": {
        if (rest.length > 0) return usageError(`Unexpected argument: ${rest[0]}`);
        const report = await deps.purge({
          config: values.config,
          socket: values.socket,
          dryRun: values["dry-run"],
        });
        if (json) print(report);
        else if (report.refused !== undefined) deps.err(`tern: ${report.refused}\n`);
        else deps.out((await import("./purge.ts")).renderPurge(report));
        return report.refused !== undefined || report.failed.length > 0 ? 1 : 0;
      }
      case "policy":
        return await policyCommand(rest, {
          daemon: () => deps.daemon(values.socket),
          json,
          all: values.all,
          print,
          out: deps.out,
          usageError,
        });
      case "metrics": {
        const text = await deps.daemon(values.socket).metrics();
        if (json) {
          const { parseExposition } = await import("../src/metrics/parse_exposition.ts");
          print(parseExposition(text).filter((f) => matchesPrefix(f.name, rest)));
        } else deps.out(filterExposition(text, rest));
        return 0;
      }
      default:
        return usageError(`Unknown command: ${command}`);
    }
  } catch (err) {
    if (err instanceof DaemonUnavailableError) {
      deps.err(
        `tern: ${err.message}: is ternd running? Try systemctl status ternd, or --socket PATH\n`,
      );
      return 1;
    }
    if (err instanceof DaemonApiError) {
      deps.err(`tern: The daemon refused the request: ${err.message} (${err.reason})\n`);
      return 1;
    }
    throw err;
  }
}

/** Whether metric `name` starts with one of `prefixes` (all names without any). */
function matchesPrefix(name: string, prefixes: readonly string[]): boolean {
  return prefixes.length === 0 || prefixes.some((p) => name.startsWith(p));
}

/**
 * The lines of an exposition text whose metric starts with one of `prefixes`: `# HELP` and
 * `# TYPE` by the name they describe, samples by theirs (a histogram's `_bucket` lines go with
 * its name's prefix). Pure.
 */
export function filterExposition(text: string, prefixes: readonly string[]): string {
  if (prefixes.length === 0) return text;
  const kept = text.split("\n").filter((line) => {
    const name = line.startsWith("#")
      ? line.split(/\s+/)[2] ?? ""
      : /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? "";
    return name !== "" && matchesPrefix(name, prefixes);
  });
  return kept.length === 0 ? "" : `${kept.join("\n")}\n`;
}

/** `tern policy …`; the rendering (and the policy layer it needs) is loaded only here. */
async function policyCommand(
  args: string[],
  at: {
    daemon: () => CliDaemon;
    json: boolean;
    all: boolean;
    print: (value: unknown) => void;
    out: (text: string) => void;
    usageError: (message: string) => number;
  },
): Promise<number> {
  const [sub, ...rest] = args;
  const render = await import("./policy_render.ts");
  switch (sub) {
    case "status": {
      if (rest.length > 0) return at.usageError(`Unexpected argument: ${rest[0]}`);
      const status = await at.daemon().policyStatus();
      if (at.json) at.print(status);
      else at.out(render.renderPolicyStatus(status));
      return 0;
    }
    case "counters": {
      if (rest.length > 0) return at.usageError(`Unexpected argument: ${rest[0]}`);
      const counters = await at.daemon().policyCounters();
      if (at.json) at.print(counters);
      else at.out(render.renderPolicyCounters(counters, { all: at.all }));
      return 0;
    }
    case "explain": {
      if (rest.length !== 3) {
        return at.usageError(
          "policy explain needs SRC DST PROTO/PORT, e.g. tern policy explain x/a y/b tcp/80",
        );
      }
      const { parseFlowEndpoint, parseFlowSpec, ExplainError } = await import(
        "../src/policy/explain.ts"
      );
      let request: ExplainRequest;
      try {
        parseFlowEndpoint(rest[0]!);
        parseFlowEndpoint(rest[1]!);
        const spec = parseFlowSpec(rest[2]!);
        request = { src: rest[0]!, dst: rest[1]!, proto: spec.protocol };
        if (spec.port !== undefined) request.port = spec.port;
        if (spec.icmpType !== undefined) request.icmpType = spec.icmpType;
        if (spec.icmpCode !== undefined) request.icmpCode = spec.icmpCode;
      } catch (err) {
        if (err instanceof ExplainError) return at.usageError(err.message);
        throw err;
      }
      const explanation = await at.daemon().explain(request);
      if (at.json) at.print(explanation);
      else at.out(render.renderExplanation(explanation));
      return 0;
    }
    default:
      return at.usageError(
        `Unknown policy command: ${
          args.join(" ") || "(none)"
        }: try policy status, policy counters or policy explain`,
      );
  }
}

/** `tern version` as text (pure). */
export function renderVersion(build: BuildInfo | undefined): string {
  let text = `tern ${TERN_VERSION}\n`;
  text += `CNI spec versions: ${SUPPORTED_CNI_VERSIONS.join(", ")}\n`;
  if (build) {
    const details = [
      build.denoVersion ? `deno ${build.denoVersion}` : "",
      build.builtAt ? `built ${build.builtAt}` : "",
    ].filter((d) => d !== "");
    text += `build: ${build.mode}${details.length ? ` (${details.join(", ")})` : ""}\n`;
  } else {
    text += `build: none (running from source on deno ${Deno.version.deno})\n`;
  }
  return text;
}

/**
 * The daemon's whole HTTP API (`src/api.ts`) as one function from `Request` to `Response`, in the
 * style of Hono: no socket, no globals, every dependency injected, so tests call
 * `handler(new Request("http://ternd/v1/status"))`. Bodies are capped and validated with zod at
 * this edge; every failure is JSON `{error, reason}` with the matching status. Changes to the host
 * side (program, release, GC) run under the dataplane lock shared with the sweeper.
 * @module
 */
import type * as z from "../../src/lib/zod.ts";
import type {
  AddResponse,
  AllocateResponse,
  ApiError,
  ApiReason,
  AttachmentId,
  ClusterStatus,
  Endpoint,
  GcResponse,
  PolicyStatusResponse,
  ReleaseResponse,
  RoutingStatus,
  StatusResponse,
} from "../../src/api.ts";
import { concatBytes } from "../../src/lib/bytes.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { GATEWAY_IP, hostVethMac, hostVethName } from "../../src/names.ts";
import { type HostNetlink, NetnsUnseenError } from "../../src/host_netlink.ts";
import { EEXIST, NetlinkError } from "../../src/rtnetlink.ts";
import { TERN_VERSION } from "../../src/version.ts";
import { formatValue } from "../../src/zod_issues.ts";
import { formatIssues } from "../_zod_issues.ts";
import {
  addRequestSchema,
  allocateRequestSchema,
  attachmentIdSchema,
  attachRequestSchema,
  explainRequestSchema,
  gcRequestSchema,
  programRequestSchema,
  releaseRequestSchema,
} from "./api_schema.ts";
import { type HostDataplane, VethMissingError } from "../routing/dataplane.ts";
import type { ProgramRequest } from "../../src/api.ts";
import {
  type Ipam,
  IpamConflictError,
  IpamExhaustedError,
  IpamNotFoundError,
} from "../ipam/ipam.ts";
import type { Mutex } from "../../src/lib/mutex.ts";
import type { PolicyService } from "../policy/policy_service.ts";
import { ExplainError } from "../../src/policy/explain.ts";
import type { IpamCheckReport, IpamRepairResponse } from "../../src/ipam/ipam_check.ts";

/** The largest request body the API reads, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What the handler works on. */
export interface HandlerDeps {
  ipam: Ipam;
  dataplane: HostDataplane;
  /** Serialises host-side changes with the sweeper. */
  lock: Mutex;
  /**
   * Makes and deletes veth pairs in-process, for `POST /v1/endpoints/attach`. Default: none
   * (attach answers 422 `unsupported`, and the plugin makes the veth pair itself).
   */
  veths?: Pick<HostNetlink, "addVeth" | "deleteLink" | "linkMac">;
  /** This node's name, reported by status. */
  node: string;
  /** When the daemon started, ms since the epoch. */
  startedAt: number;
  /** Default: `silentLogger`. */
  log?: Logger;
  /** Default: `Date.now`. */
  now?: () => number;
  /** False while starting or stopping: changes are refused with 503 `unavailable`. Default: always ready. */
  isReady?: () => boolean;
  /** Routing and reconciler state for status. Default: not reported. */
  routingStatus?: () => RoutingStatus;
  /** The cluster source's state for status; undefined on a single node. Default: not reported. */
  clusterStatus?: () => ClusterStatus | undefined;
  /** `tern ipam check` and its repairs. Default: the paths answer 503. */
  ipamCheck?: {
    check(): Promise<IpamCheckReport>;
    repair(): Promise<IpamRepairResponse>;
  };
  /**
   * Policy. Program answers only once the endpoint's policy is programmed. Default: policy
   * disabled (program does not wait, the policy paths answer 503).
   */
  policy?: PolicyService;
}

/** An endpoint's policy in the answers to ADD's requests. */
type EndpointPolicy = NonNullable<Endpoint["policy"]>;

/** A request handler: never throws, always answers JSON. */
export type Handler = (req: Request) => Promise<Response>;

class ApiFailure extends Error {
  constructor(readonly status: number, readonly reason: ApiReason, message: string) {
    super(message);
  }
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function failure(status: number, reason: ApiReason, message: string, headers = {}): Response {
  const body: ApiError = { error: message, reason };
  return json(body, status, headers);
}

/** Reads at most {@linkcode MAX_BODY_BYTES}, judging both Content-Length and the bytes read. */
async function readJson(req: Request): Promise<unknown> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) {
    throw new ApiFailure(
      413,
      "too_large",
      `Request body too large: Content-Length ${declared} is over ${MAX_BODY_BYTES} bytes`,
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (req.body) {
    const reader = req.body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        throw new ApiFailure(
          413,
          "too_large",
          `Request body too large: more than ${MAX_BODY_BYTES} bytes`,
        );
      }
      chunks.push(value);
    }
  }
  let text: string;
  try {
    // JSON is UTF-8: a lenient decoder would turn other bytes into U+FFFD and accept a name
    // nobody sent (an ifname "\ufffdeth0" passes every other check).
    text = new TextDecoder("utf-8", { fatal: true }).decode(concatBytes(chunks));
  } catch {
    throw new ApiFailure(400, "invalid", "Invalid request: body is not UTF-8");
  }
  if (text.trim() === "") {
    throw new ApiFailure(400, "invalid", "Invalid request: empty body, expected JSON");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiFailure(
      400,
      "invalid",
      `Invalid request: body is not JSON: ${(err as Error).message}`,
    );
  }
}

function validate<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ApiFailure(
      400,
      "invalid",
      `Invalid request: ${formatIssues(result.error.issues, input).join("; ")}`,
    );
  }
  return result.data;
}

type Route = { method: string; run: (req: Request, params: string[]) => Promise<Response> };

/** Builds the API handler over `deps`. */
export function createHandler(deps: HandlerDeps): Handler {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  const isReady = deps.isReady ?? (() => true);
  const { ipam, dataplane, lock } = deps;

  const requireReady = () => {
    if (!isReady()) {
      throw new ApiFailure(503, "unavailable", "Daemon is not ready: starting or stopping");
    }
  };

  /** Tears down the host side, then frees the address; the caller holds the lock. */
  const releaseEndpoint = async (ep: Endpoint, reason: string): Promise<void> => {
    await dataplane.removeEndpoint(ep);
    const released = await ipam.release(ep, { network: ep.network });
    if (released) {
      log.info("Released address", {
        ip: released.ip,
        containerID: released.containerID,
        ifname: released.ifname,
        reason,
      });
    }
  };

  const status = (): Promise<Response> => {
    const pools = ipam.stats();
    const body: StatusResponse = {
      ready: isReady(),
      version: TERN_VERSION,
      node: deps.node,
      pools,
      // Blocks mode: what a claim could still add counts as free (an idle node has no blocks).
      free: pools.reduce((sum, p) => sum + p.free, 0) + ipam.headroom(),
      endpoints: ipam.usedCount,
      uptimeMs: Math.max(0, now() - deps.startedAt),
    };
    if (deps.routingStatus) body.routing = deps.routingStatus();
    const cluster = deps.clusterStatus?.();
    if (cluster) body.cluster = cluster;
    body.policy = deps.policy?.summary() ?? { enabled: false };
    return Promise.resolve(json(body));
  };

  const allocate = async (req: Request): Promise<Response> => {
    requireReady();
    const body = validate(allocateRequestSchema, await readJson(req));
    const { endpoint, created } = await ipam.allocate(body);
    if (created) {
      log.info("Allocated address", {
        ip: endpoint.ip,
        containerID: endpoint.containerID,
        ifname: endpoint.ifname,
        pod: body.podName && `${body.podNamespace ?? ""}/${body.podName}`,
      });
    }
    const out: AllocateResponse = {
      ip: endpoint.ip,
      podCIDR: endpoint.podCIDR,
      gateway: GATEWAY_IP,
      created,
    };
    return json(out);
  };

  /** Refuses a host veth name other than the one tern derives from the identity. */
  const checkVethName = async (body: AttachmentId & { hostVeth: string }): Promise<void> => {
    const want = await hostVethName(body.containerID, body.ifname);
    if (body.hostVeth !== want) {
      throw new ApiFailure(
        400,
        "invalid",
        `Invalid request: hostVeth: must be ${want} for containerID ${body.containerID}, ifname ${body.ifname}: got ${
          formatValue(body.hostVeth)
        }`,
      );
    }
  };

  /**
   * The endpoint's policy once it is in the kernel: `ready`, `pending` (held closed, logged) or
   * `off` (policy disabled). Throws when nft refused the transaction that carried it.
   */
  const policyOf = async (ep: Endpoint): Promise<EndpointPolicy> => {
    if (deps.policy === undefined) return "off";
    const programmed = await deps.policy.programmed(ep.hostVeth);
    if (programmed.state === "pending") {
      log.warn("Programmed endpoint, its veth held closed", {
        ip: ep.ip,
        hostVeth: ep.hostVeth,
        reason: programmed.reason,
      });
    }
    return programmed.state === "ready" ? "ready" : "pending";
  };

  const logProgrammed = (endpoint: Endpoint, policy: EndpointPolicy) => {
    log.info("Programmed endpoint", {
      ip: endpoint.ip,
      containerID: endpoint.containerID,
      ifname: endpoint.ifname,
      hostVeth: endpoint.hostVeth,
      policy,
    });
  };

  /**
   * ADD's daemon side in one request. A new claim's record is committed already programmed
   * while the host route, the policy and the ready mark go in (the answer waits for both); a
   * failure undoes the kernel work and the claim. An identity that already holds an address is
   * programmed again, as `program` does.
   */
  const add = async (req: Request): Promise<Response> => {
    requireReady();
    const body = validate(addRequestSchema, await readJson(req));
    await checkVethName(body);
    const { hostVeth, podMac, ...request } = body;
    const claim = await ipam.allocate(request, {
      programmed: { hostVeth, podMac },
      during: async (ep) => {
        await lock.run(() => dataplane.programEndpoint(ep));
        return await policyOf(ep);
      },
      undo: (ep) => lock.run(() => dataplane.removeEndpoint(ep, { keepVeth: true })),
    });
    let endpoint = claim.endpoint;
    let policy = claim.done ?? "off";
    if (claim.created) {
      log.info("Allocated address", {
        ip: endpoint.ip,
        containerID: endpoint.containerID,
        ifname: endpoint.ifname,
        pod: body.podName && `${body.podNamespace ?? ""}/${body.podName}`,
      });
    } else {
      ({ endpoint, policy } = await programExisting({ ...body, ip: endpoint.ip }));
    }
    logProgrammed(endpoint, policy);
    const out: AddResponse = { ...endpoint, policy, created: claim.created };
    return json(out);
  };

  /**
   * ADD's whole node side: the veth pair is made (from a worker thread) while the address is
   * claimed and its record commits; the host side is programmed once both are there. Whatever
   * fails, nothing of this request is left: a claim it made is released (by `allocate`) and a
   * veth pair it made is deleted. A veth name already taken is 409 `exists`, and the interface and
   * the address of the attachment that holds it are left alone.
   */
  const attach = async (req: Request): Promise<Response> => {
    requireReady();
    const body = validate(attachRequestSchema, await readJson(req));
    await checkVethName(body);
    const veths = deps.veths;
    if (veths === undefined) {
      throw new ApiFailure(
        422,
        "unsupported",
        "Cannot make the veth pair in this daemon: it has no rtnetlink; make it in the plugin",
      );
    }
    const { hostVeth, podMac, mtu, ...request } = body;
    const pair = { hostVeth, hostMac: hostVethMac(hostVeth), ifname: body.ifname, podMac, mtu };
    let making: Promise<void>;
    try {
      making = veths.addVeth(pair, body.netns);
    } catch (err) {
      if (err instanceof NetnsUnseenError) {
        throw new ApiFailure(
          422,
          "unsupported",
          `Cannot make the veth pair from the daemon: ${err.message}: make it in the plugin`,
        );
      }
      throw err;
    }
    const made = making.then(() => true, (err: unknown) => vethError(err, pair, body.netns));
    /** Waits for the veth pair; throws why it could not be made. */
    const vethMade = async (): Promise<void> => {
      const result = await made;
      if (result !== true) throw result;
    };
    try {
      const claim = await ipam.allocate(request, {
        programmed: { hostVeth, podMac },
        during: async (ep) => {
          await vethMade();
          await lock.run(() => dataplane.programEndpoint(ep));
          return await policyOf(ep);
        },
        undo: (ep) => lock.run(() => dataplane.removeEndpoint(ep, { keepVeth: true })),
      });
      let endpoint = claim.endpoint;
      let policy = claim.done ?? "off";
      if (claim.created) {
        log.info("Allocated address", {
          ip: endpoint.ip,
          containerID: endpoint.containerID,
          ifname: endpoint.ifname,
          pod: body.podName && `${body.podNamespace ?? ""}/${body.podName}`,
        });
      } else {
        await vethMade();
        ({ endpoint, policy } = await programExisting({ ...body, ip: endpoint.ip }));
      }
      logProgrammed(endpoint, policy);
      const out: AddResponse = { ...endpoint, policy, created: claim.created };
      return json(out);
    } catch (err) {
      // The claim is undone already; a veth pair this request made goes too.
      if (await made === true) {
        try {
          await veths.deleteLink(hostVeth);
          log.info("Rolled back", { hostVeth, step: `delete ${hostVeth}` });
        } catch (deleteErr) {
          log.error("Cannot roll back", {
            hostVeth,
            step: `delete ${hostVeth}`,
            error: errorMessage(deleteErr),
          });
        }
      }
      throw err;
    }
  };

  /** Why the veth pair could not be made, as the API answers it. */
  const vethError = (
    err: unknown,
    pair: { hostVeth: string; ifname: string },
    netns: string,
  ): Error => {
    if (!(err instanceof NetlinkError) || err.errno !== EEXIST) {
      return err instanceof Error ? err : new Error(String(err));
    }
    let hostExists: boolean | undefined;
    try {
      hostExists = deps.veths?.linkMac(pair.hostVeth) !== undefined;
    } catch {
      hostExists = undefined;
    }
    const what = hostExists === true
      ? `Attachment already exists: host veth ${pair.hostVeth} for CNI_CONTAINERID and CNI_IFNAME ${pair.ifname} is present`
      : hostExists === false
      ? `Interface already exists: CNI_IFNAME ${pair.ifname} is present in ${netns}`
      : `Interface already exists: host veth ${pair.hostVeth} or ${pair.ifname} in ${netns}`;
    return new ApiFailure(409, "exists", what);
  };

  const program = async (req: Request): Promise<Response> => {
    requireReady();
    const body = validate(programRequestSchema, await readJson(req));
    await checkVethName(body);
    const { endpoint, policy } = await programExisting(body);
    logProgrammed(endpoint, policy);
    return json({ ...endpoint, policy });
  };

  /** Programs the host side of an endpoint that KV holds; its record commits beside the policy. */
  const programExisting = async (
    body: ProgramRequest,
  ): Promise<{ endpoint: Endpoint; policy: EndpointPolicy }> => {
    const { endpoint, programming } = await lock.run(async () => {
      const current = await ipam.get(body);
      if (!current) throw new IpamNotFoundError(body);
      ipam.checkOwns(current, body);
      await dataplane.programEndpoint({ ...current, hostVeth: body.hostVeth });
      // The endpoint is registered: its policy is in the next transaction, which runs while
      // the record's durable commit does; the answer waits for both.
      const programming = policyOf({ ...current, hostVeth: body.hostVeth }).then(
        (state) => ({ state }),
        (error: unknown) => ({ error }),
      );
      // `programming` never rejects: left behind by a failed commit, it is no unhandled error.
      return { endpoint: await ipam.markProgrammed(body, body), programming };
    });
    // Answer only once the policy is in the kernel (outside the lock, so other ADDs are
    // programmed meanwhile).
    const settled = await programming;
    if ("error" in settled) throw settled.error;
    return { endpoint, policy: settled.state };
  };

  const needPolicy = (): PolicyService => {
    if (!deps.policy) {
      throw new ApiFailure(
        503,
        "unavailable",
        "Policy is disabled: policy.enabled is false in the daemon's config",
      );
    }
    return deps.policy;
  };

  const policyStatus = async (): Promise<Response> => {
    const body: PolicyStatusResponse = await deps.policy?.status() ??
      { enforcement: { enabled: false }, policies: [] };
    return json(body);
  };

  const policyCounters = async (): Promise<Response> => json(await needPolicy().counters());

  const policyExplain = async (req: Request): Promise<Response> => {
    const policy = needPolicy();
    const body = validate(explainRequestSchema, await readJson(req));
    try {
      return json(policy.explain(body));
    } catch (err) {
      if (err instanceof ExplainError) throw new ApiFailure(400, "invalid", err.message);
      throw err;
    }
  };

  const needIpamCheck = () => {
    if (!deps.ipamCheck) {
      throw new ApiFailure(503, "unavailable", "IPAM check is not available in this daemon");
    }
    return deps.ipamCheck;
  };
  const ipamCheck = async (): Promise<Response> => json(await needIpamCheck().check());
  const ipamRepair = async (): Promise<Response> => {
    requireReady();
    return json(await needIpamCheck().repair());
  };

  const listEndpoints = async (): Promise<Response> => json({ endpoints: await ipam.list() });

  const getEndpoint = async (_req: Request, params: string[]): Promise<Response> => {
    let id: AttachmentId;
    try {
      id = { containerID: decodeURIComponent(params[0]!), ifname: decodeURIComponent(params[1]!) };
    } catch {
      throw new ApiFailure(400, "invalid", "Invalid request: path is not valid percent-encoding");
    }
    validate(attachmentIdSchema, id);
    const endpoint = await ipam.get(id);
    if (!endpoint) throw new IpamNotFoundError(id);
    return json(endpoint);
  };

  const release = async (req: Request): Promise<Response> => {
    requireReady();
    const body = validate(releaseRequestSchema, await readJson(req));
    const out = await lock.run(async (): Promise<ReleaseResponse> => {
      const current = await ipam.get(body);
      if (!current || (body.network !== undefined && current.network !== body.network)) {
        return { released: false };
      }
      await releaseEndpoint(current, "CNI DEL");
      return { released: true, ip: current.ip };
    });
    return json(out);
  };

  const gc = async (req: Request): Promise<Response> => {
    requireReady();
    const body = validate(gcRequestSchema, await readJson(req));
    const valid = new Set(body.valid.map((v) => `${v.containerID}\0${v.ifname}`));
    const { released, failed } = await lock.run(async () => {
      const released: GcResponse["released"] = [];
      const failed: string[] = [];
      for (const ep of await ipam.list()) {
        if (ep.network !== body.network || valid.has(`${ep.containerID}\0${ep.ifname}`)) continue;
        try {
          await releaseEndpoint(ep, "CNI GC");
          released.push({ containerID: ep.containerID, ifname: ep.ifname, ip: ep.ip });
        } catch (err) {
          failed.push(
            `${ep.ip} (containerID ${ep.containerID}, ifname ${ep.ifname}): ${String(err)}`,
          );
        }
      }
      return { released, failed };
    });
    if (failed.length > 0) {
      throw new ApiFailure(
        500,
        "internal",
        `GC released ${released.length} attachments but failed on ${failed.length}: ${
          failed.join("; ")
        }`,
      );
    }
    const out: GcResponse = { released };
    return json(out);
  };

  const routes: { pattern: RegExp; routes: Route[] }[] = [
    { pattern: /^\/v1\/status$/, routes: [{ method: "GET", run: status }] },
    { pattern: /^\/v1\/ipam\/allocate$/, routes: [{ method: "POST", run: allocate }] },
    { pattern: /^\/v1\/endpoints\/release$/, routes: [{ method: "POST", run: release }] },
    { pattern: /^\/v1\/endpoints\/add$/, routes: [{ method: "POST", run: add }] },
    { pattern: /^\/v1\/endpoints\/attach$/, routes: [{ method: "POST", run: attach }] },
    {
      pattern: /^\/v1\/endpoints$/,
      routes: [{ method: "GET", run: listEndpoints }, { method: "POST", run: program }],
    },
    {
      pattern: /^\/v1\/endpoints\/([^/]+)\/([^/]+)$/,
      routes: [{ method: "GET", run: getEndpoint }],
    },
    { pattern: /^\/v1\/gc$/, routes: [{ method: "POST", run: gc }] },
    { pattern: /^\/v1\/ipam\/check$/, routes: [{ method: "GET", run: ipamCheck }] },
    { pattern: /^\/v1\/ipam\/repair$/, routes: [{ method: "POST", run: ipamRepair }] },
    { pattern: /^\/v1\/policy\/status$/, routes: [{ method: "GET", run: policyStatus }] },
    { pattern: /^\/v1\/policy\/counters$/, routes: [{ method: "GET", run: policyCounters }] },
    { pattern: /^\/v1\/policy\/explain$/, routes: [{ method: "POST", run: policyExplain }] },
  ];

  return async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    try {
      for (const entry of routes) {
        const match = entry.pattern.exec(path);
        if (!match) continue;
        const route = entry.routes.find((r) => r.method === req.method);
        if (!route) {
          const allow = entry.routes.map((r) => r.method).join(", ");
          return failure(
            405,
            "invalid",
            `Method not allowed: ${req.method} ${path}: use ${allow}`,
            { allow },
          );
        }
        return await route.run(req, match.slice(1));
      }
      return failure(404, "not_found", `No such API path: ${path}`);
    } catch (err) {
      if (err instanceof ApiFailure) return failure(err.status, err.reason, err.message);
      if (err instanceof IpamExhaustedError) return failure(503, "exhausted", err.message);
      if (err instanceof IpamConflictError) return failure(409, "conflict", err.message);
      if (err instanceof IpamNotFoundError) return failure(404, "not_found", err.message);
      if (err instanceof VethMissingError) return failure(404, "not_found", err.message);
      const message = errorMessage(err);
      log.error("Request failed", { method: req.method, path, error: message });
      return failure(500, "internal", `Internal error: ${message}`);
    }
  };
}

/**
 * The API's metrics, measured around the handler: every request's duration by operation and
 * HTTP status, and each CNI command's whole duration. The plugin's requests say their command
 * and how long it has run (`src/cni_timing.ts`); the command's last request to the daemon ends
 * it: ADD's add (before it: the program, or a refused allocate), DEL's release, CHECK's lookup, GC, STATUS. Its
 * duration is the plugin's time until it sent that request plus the daemon's time to answer it,
 * and its result is `ok` or the CNI error code the plugin returns for the daemon's answer
 * (`src/api_cni_codes.ts`). What the plugin does after that answer (ADD prints its result; CHECK
 * compares the kernel's state, whose verdict the daemon never sees) and failures the plugin meets
 * on its own side (then ADD releases its address: counted as a rollback) are not in it. The wrapper
 * also serves `GET /metrics` (while the daemon starts too), so `handler.ts` knows nothing of
 * metrics.
 * @module
 */
import type { ApiReason } from "../../src/api.ts";
import { cniCodeOfReason } from "../../src/api_cni_codes.ts";
import { CNI_TIMING_HEADER, parseCniTiming, type TimedCommand } from "../../src/cni_timing.ts";
import { CniCode } from "../../src/cni_error.ts";
import { EXPOSITION_CONTENT_TYPE } from "../../src/metrics/exposition.ts";
import type { Registry } from "../../src/metrics/registry.ts";
import type { Handler } from "../api/handler.ts";
import { decadeBuckets } from "../../src/metrics/buckets.ts";

/** Buckets of a CNI command, in seconds: 10 ms to 30 s. */
export const CNI_BUCKETS: readonly number[] = [
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.15,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Buckets of one API request, in seconds: 0.5 ms to 10 s. */
export const API_BUCKETS: readonly number[] = decadeBuckets(0.0005, 10);

/** The API operations, by method and path; anything else is `other`. */
const OPERATIONS: { method: string; pattern: RegExp; operation: string }[] = [
  { method: "GET", pattern: /^\/v1\/status$/, operation: "status" },
  { method: "POST", pattern: /^\/v1\/ipam\/allocate$/, operation: "allocate" },
  { method: "POST", pattern: /^\/v1\/endpoints$/, operation: "program" },
  { method: "GET", pattern: /^\/v1\/endpoints$/, operation: "endpoints" },
  { method: "POST", pattern: /^\/v1\/endpoints\/release$/, operation: "release" },
  { method: "POST", pattern: /^\/v1\/endpoints\/add$/, operation: "add" },
  { method: "POST", pattern: /^\/v1\/endpoints\/attach$/, operation: "attach" },
  { method: "GET", pattern: /^\/v1\/endpoints\/[^/]+\/[^/]+$/, operation: "endpoint" },
  { method: "POST", pattern: /^\/v1\/gc$/, operation: "gc" },
  { method: "GET", pattern: /^\/v1\/policy\/status$/, operation: "policy_status" },
  { method: "GET", pattern: /^\/v1\/policy\/counters$/, operation: "policy_counters" },
  { method: "POST", pattern: /^\/v1\/policy\/explain$/, operation: "policy_explain" },
  { method: "GET", pattern: /^\/metrics$/, operation: "metrics" },
];

/** The operation a request is, for its label: bounded, whatever the path. */
export function apiOperation(method: string, path: string): string {
  return OPERATIONS.find((o) => o.method === method && o.pattern.test(path))?.operation ??
    "other";
}

/** What the daemon's answer makes of a command: its end and result, or a rollback. */
export type CommandOutcome =
  | { ends: false }
  | { ends: true; result: string }
  | { rollback: true };

/** The daemon's answer to one request, as far as a command's outcome needs it. */
export interface Answer {
  /** The request's operation ({@linkcode apiOperation}). */
  operation: string;
  /** HTTP status. */
  status: number;
  /** An error answer's reason. */
  reason?: ApiReason | undefined;
  /** A status answer's `ready` and `free`. */
  ready?: boolean;
  free?: number;
}

/** What `answer` means for `command`: its end and result, a rollback, or nothing. Pure. */
export function commandOutcome(command: TimedCommand, answer: Answer): CommandOutcome | undefined {
  const { operation } = answer;
  const ok = answer.status >= 200 && answer.status < 300;
  const failed = (): string =>
    String(cniCodeOfReason(answer.reason ?? (answer.status >= 500 ? "internal" : "invalid")));
  switch (command) {
    case "ADD":
      if (operation === "allocate") return ok ? { ends: false } : { ends: true, result: failed() };
      if (operation === "attach" && !ok && answer.reason === "unsupported") {
        // The plugin makes the veth pair itself and goes on with add.
        return { ends: false };
      }
      if (operation === "program" || operation === "add" || operation === "attach") {
        return { ends: true, result: ok ? "ok" : failed() };
      }
      if (operation === "release") return { rollback: true };
      return undefined;
    case "DEL":
      if (operation !== "release") return undefined;
      // An attachment the daemon does not know is already gone: the plugin succeeds.
      return { ends: true, result: ok || answer.reason === "not_found" ? "ok" : failed() };
    case "CHECK":
      if (operation !== "endpoint") return undefined;
      return { ends: true, result: ok ? "ok" : failed() };
    case "GC":
      return operation === "gc" ? { ends: true, result: ok ? "ok" : failed() } : undefined;
    case "STATUS": {
      if (operation !== "status") return undefined;
      // The plugin's STATUS: 50 unless the daemon answers ready, 51 without a free address.
      const result = !ok || answer.ready !== true
        ? String(CniCode.PluginNotAvailable)
        : (answer.free ?? 0) <= 0
        ? String(CniCode.NoAddressesAvailable)
        : "ok";
      return { ends: true, result };
    }
  }
}

/** The API's metrics in a registry. */
export interface ApiMetrics {
  /** Wraps `handler`: times each request and command, and answers `GET /metrics`. */
  instrument(handler: Handler): Handler;
}

/**
 * Registers the API's metrics in `registry`; `expose()` renders a scrape (the daemon's whole
 * registry, after its hooks). `now` is `performance.now` (injectable for tests).
 */
export function apiMetrics(
  registry: Registry,
  options: { expose: () => Promise<string>; now?: () => number },
): ApiMetrics {
  const now = options.now ?? (() => performance.now());
  const requests = registry.histogram({
    name: "tern_api_request_duration_seconds",
    help:
      "Time the daemon took to answer an API request on its socket, by operation and HTTP status code.",
    labels: ["operation", "code"],
    buckets: API_BUCKETS,
  });
  const commands = registry.histogram({
    name: "tern_cni_command_duration_seconds",
    help:
      "CNI commands from the plugin's start to the daemon's answer to the command's last request, by command and result (ok or the CNI error code).",
    labels: ["command", "result"],
    buckets: CNI_BUCKETS,
  });
  const rollbacks = registry.counter({
    name: "tern_cni_add_rollbacks_total",
    help: "ADDs that failed after their address was claimed and released it again (rolled back).",
  });

  const scrape = async (): Promise<Response> =>
    new Response(await options.expose(), {
      headers: { "content-type": EXPOSITION_CONTENT_TYPE },
    });

  return {
    instrument(handler) {
      return async (req) => {
        const t0 = now();
        const path = new URL(req.url).pathname;
        const operation = apiOperation(req.method, path);
        const timing = parseCniTiming(req.headers.get(CNI_TIMING_HEADER));
        const res = operation === "metrics" ? await scrape() : await handler(req);
        const seconds = (now() - t0) / 1000;
        requests.observe({ operation, code: String(res.status) }, seconds);
        if (timing !== undefined) {
          const outcome = commandOutcome(timing.command, await answerOf(res, operation));
          if (outcome !== undefined && "rollback" in outcome) rollbacks.inc();
          else if (outcome?.ends) {
            commands.observe(
              { command: timing.command, result: outcome.result },
              timing.elapsedMs / 1000 + seconds,
            );
          }
        }
        return res;
      };
    },
  };
}

/** What the outcome needs of an answer; the body is read (from a copy) only when it matters. */
async function answerOf(res: Response, operation: string): Promise<Answer> {
  const ok = res.status >= 200 && res.status < 300;
  if (ok && operation !== "status") return { operation, status: res.status };
  try {
    const body = await res.clone().json() as { reason?: unknown; ready?: unknown; free?: unknown };
    const out: Answer = { operation, status: res.status };
    if (typeof body.reason === "string") out.reason = body.reason as ApiReason;
    if (typeof body.ready === "boolean") out.ready = body.ready;
    if (typeof body.free === "number") out.free = body.free;
    return out;
  } catch {
    return { operation, status: res.status };
  }
}

/**
 * The API while the daemon starts. ternd serves its socket as soon as it knows no other daemon
 * owns it, long before its parts are up (a `kubernetes` source first lists every kind, which takes
 * seconds on a large cluster and forever while the API server is down). Until the real handler is
 * attached, `GET /v1/status` answers `ready: false` with what start-up waits for, so CNI STATUS and
 * `tern status` can say why; every other request waits for the handler a bounded time (ADD must not
 * run before policy is in place, and must not fail at once either: the runtime would retry it at
 * its own pace) and then fails with 503 `unavailable`, which the plugin turns into CNI code 11.
 * @module
 */
import type { ApiError, ClusterStatus, StatusResponse } from "../../src/api.ts";
import { type Clock, realClock } from "../../src/clock.ts";
import { TERN_VERSION } from "../../src/version.ts";
import type { Handler } from "./handler.ts";

/** What start-up is doing now, for status. */
export interface StartingState {
  /** One line: what the daemon waits for. */
  phase: string;
  /** The cluster source's status while it lists, when there is one. */
  cluster?: () => ClusterStatus;
}

/** A handler that answers for a daemon that is starting, and becomes `attach`ed handler. */
export interface StartingHandler {
  /** The handler to serve. */
  readonly handle: Handler;
  /** From now on every request goes to `handler`; requests waiting for it go there too. */
  attach(handler: Handler): void;
  /** Whether a handler is attached. */
  readonly attached: boolean;
  /**
   * The daemon stops before a handler was attached: requests waiting for one, and any that come
   * later, are answered 503 at once (a server's shutdown waits for the requests in flight).
   */
  close(): void;
}

/**
 * A starting handler for `node`. `options.waitMs` bounds how long a request other than status
 * waits for the real handler; `options.state` says what start-up is doing.
 */
export function startingHandler(
  node: string,
  options: { waitMs: number; state: () => StartingState; clock?: Clock; startedAt?: number },
): StartingHandler {
  const clock = options.clock ?? realClock;
  const startedAt = options.startedAt ?? clock.now();
  let handler: Handler | undefined;
  let closed = false;
  const waiting = Promise.withResolvers<Handler | undefined>();
  const status = (): Response => {
    const state = options.state();
    const body: StatusResponse = {
      ready: false,
      version: TERN_VERSION,
      node,
      pools: [],
      free: 0,
      endpoints: 0,
      uptimeMs: Math.max(0, clock.now() - startedAt),
      starting: state.phase,
    };
    const cluster = state.cluster?.();
    if (cluster !== undefined) body.cluster = cluster;
    return json(body, 200);
  };
  const handle: Handler = async (req) => {
    if (handler !== undefined) return handler(req);
    if (req.method === "GET" && new URL(req.url).pathname === "/v1/status") return status();
    let timer: number | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = closed ? undefined : clock.setTimeout(() => resolve(undefined), options.waitMs);
    });
    const attached = closed ? undefined : await Promise.race([waiting.promise, late]);
    if (timer !== undefined) clock.clearTimeout(timer);
    if (attached !== undefined) return attached(req);
    await req.body?.cancel().catch(() => {});
    const body: ApiError = {
      error: closed
        ? `Daemon is stopping: it stopped during start-up (${options.state().phase})`
        : `Daemon is not ready: starting: ${options.state().phase} (waited ${options.waitMs} ms)`,
      reason: "unavailable",
    };
    return json(body, 503);
  };
  return {
    handle,
    attach(next) {
      handler = next;
      waiting.resolve(next);
    },
    get attached() {
      return handler !== undefined;
    },
    close() {
      if (handler !== undefined) return;
      closed = true;
      waiting.resolve(undefined);
    },
  };
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

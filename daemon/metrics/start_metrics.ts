/**
 * The daemon's metrics part: with `metrics.listen`, `GET /metrics` is served over TCP too, for a
 * Prometheus that cannot reach the Unix socket (a scrape from another host, or a DaemonSet's pod
 * annotation). It serves nothing else: the API stays on the socket, mode 0600. Without
 * `metrics.listen` the part does nothing (the socket serves the metrics anyway).
 * @module
 */
import { errorMessage } from "../../src/lib/errors.ts";
import type { Logger } from "../../src/log.ts";
import type { ListenAddress } from "../config.ts";
import type { DaemonPart } from "../daemon_part.ts";
import type { Handler } from "../api/handler.ts";
import type { ApiMetrics } from "./api_metrics.ts";

/** The running metrics listener; `status()` is where it listens, if it does. */
export interface MetricsPart extends DaemonPart<{ listen?: string }> {
  /** The bound address (its port, when the config said 0 in a test). */
  readonly addr?: Deno.NetAddr;
}

/** How an address reads in logs and errors: `127.0.0.1:9464`, `[::1]:9464`. */
export function formatListenAddress(addr: { hostname: string; port: number }): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

const notFound: Handler = (req) =>
  Promise.resolve(
    new Response(
      `Not found: ${new URL(req.url).pathname}: this address serves only GET /metrics\n`,
      {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      },
    ),
  );

/**
 * Serves the metrics on `listen` (when given) through `api.instrument`, which answers
 * `GET /metrics`; throws naming the address when it cannot be bound.
 */
export function startMetrics(
  listen: ListenAddress | undefined,
  context: { api: ApiMetrics; log: Logger },
): MetricsPart {
  if (listen === undefined) {
    return { stop: () => Promise.resolve(), status: () => ({}) };
  }
  const text = formatListenAddress(listen);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: listen.hostname, port: listen.port, onListen() {} },
      context.api.instrument(notFound),
    );
  } catch (err) {
    throw new Error(
      `Cannot serve metrics on ${text}: ${
        errorMessage(err)
      }: set metrics.listen to a free address of this node`,
    );
  }
  const addr = server.addr;
  context.log.info("Serving metrics", { listen: formatListenAddress(addr) });
  let stopped: Promise<void> | undefined;
  return {
    addr,
    stop() {
      stopped ??= server.shutdown();
      return stopped;
    },
    status: () => ({ listen: formatListenAddress(addr) }),
  };
}

/**
 * A small programmable HTTP server for the client's and reflector's tests: `Deno.serve` on
 * 127.0.0.1 port 0, a handler per test, every request recorded, and watch streams the test writes
 * to line by line (or leaves hanging) and ends when it wants. Private to `src/kube` tests; the
 * protocol-faithful fake API server lives in `test/fake_apiserver/`.
 * @module
 */
import type { KubeConnection } from "./kubeconfig.ts";

import type { ResourceType } from "./client.ts";

/** `v1` pods, the kind most tests list and watch. */
export const PODS: ResourceType = {
  group: "",
  version: "v1",
  plural: "pods",
  kind: "Pod",
  namespaced: true,
};

/** A request as the server saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: string;
  /** The client's port: requests with the same one came over the same connection. */
  remotePort: number;
}

/** A watch response the test writes to. */
export class TestStream {
  readonly #encoder = new TextEncoder();
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #closed = false;
  /** The response to return from the handler. */
  readonly response: Response;

  constructor() {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
      },
    });
    this.response = new Response(body, {
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
    });
  }

  /** Whether the stream ended (by the test or because the client went away). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw text (a part of a line, several lines). */
  write(text: string): void {
    if (this.#closed) return;
    try {
      this.#controller!.enqueue(this.#encoder.encode(text));
    } catch {
      this.#closed = true;
    }
  }

  /** Writes one watch event line. */
  event(type: string, object: unknown): void {
    this.write(JSON.stringify({ type, object }) + "\n");
  }

  /** Ends the response cleanly. */
  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller!.close();
    } catch {
      // Already cancelled by the client.
    }
  }

  /** Breaks the response (the connection is reset mid-body). */
  fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller!.error(new Error("cut by the test"));
    } catch {
      // Already cancelled.
    }
  }
}

/** A running test server. */
export interface TestServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** A connection to it (no TLS, no auth unless given). */
  connection: KubeConnection;
  requests: SeenRequest[];
  /** Streams handed out by `stream()`, in order. */
  streams: TestStream[];
  /** A new watch stream, remembered for teardown. */
  stream(): TestStream;
  /** Ends every stream and stops the server. */
  close(): Promise<void>;
}

/** A JSON response. */
export function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A `Status` failure response. */
export function status(
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(
    { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message },
    code,
    headers,
  );
}

/** Starts a server whose answers come from `handler`. */
export function startTestServer(
  handler: (req: SeenRequest, server: TestServer) => Response | Promise<Response>,
  options: { tls?: { cert: string; key: string } } = {},
): TestServer {
  const abort = new AbortController();
  const requests: SeenRequest[] = [];
  const streams: TestStream[] = [];
  const server: TestServer = {
    url: "",
    connection: { server: "", caCerts: [], namespace: "default", origin: "test server" },
    requests,
    streams,
    stream() {
      const s = new TestStream();
      streams.push(s);
      return s;
    },
    async close() {
      for (const s of streams) s.end();
      abort.abort();
      await served.finished;
    },
  };
  const served = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: abort.signal,
    onListen: () => {},
    ...(options.tls ?? {}),
  }, async (request, info) => {
    const url = new URL(request.url);
    const seen: SeenRequest = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: new Headers(request.headers),
      body: await request.text(),
      remotePort: (info.remoteAddr as Deno.NetAddr).port,
    };
    requests.push(seen);
    return await handler(seen, server);
  });
  const port = served.addr.port;
  const scheme = options.tls ? "https" : "http";
  server.url = `${scheme}://${options.tls ? "localhost" : "127.0.0.1"}:${port}`;
  server.connection = { ...server.connection, server: server.url };
  return server;
}

/** A minimal Pod as the API server sends it. */
export function podObject(
  name: string,
  resourceVersion: string,
  extra: { namespace?: string; ip?: string; labels?: Record<string, string> } = {},
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: extra.namespace ?? "default",
      uid: `uid-${name}`,
      resourceVersion,
      labels: extra.labels ?? {},
      managedFields: [{ manager: "kubectl", operation: "Update" }],
    },
    spec: { nodeName: "node-1", containers: [{ name: "c", image: "busybox" }] },
    status: extra.ip !== undefined
      ? { phase: "Running", podIP: extra.ip, podIPs: [{ ip: extra.ip }] }
      : { phase: "Pending" },
  };
}

/** Waits (real time, bounded) until `check` holds. */
export async function until(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

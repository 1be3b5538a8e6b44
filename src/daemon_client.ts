/**
 * The client side of the daemon's API (see `src/api.ts`): HTTP/1.1 + JSON over the daemon's Unix
 * socket, written on `Deno.connect` with no dependencies so that the plugin, which runs on every
 * pod's critical path, starts fast. One request per connection (`Connection: close`).
 * @module
 */
import type {
  AddRequest,
  AddResponse,
  AllocateRequest,
  AllocateResponse,
  ApiReason,
  AttachmentId,
  AttachRequest,
  Endpoint,
  GcRequest,
  GcResponse,
  ProgramRequest,
  ReleaseRequest,
  ReleaseResponse,
  StatusResponse,
} from "./api.ts";
import { CNI_TIMING_HEADER, formatCniTiming } from "./cni_timing.ts";
import { concatBytes } from "./lib/bytes.ts";
import { errorMessage } from "./lib/errors.ts";

/** What the plugin and the CLI need of the daemon; tests pass a fake. */
export interface DaemonApi {
  status(): Promise<StatusResponse>;
  /** Opens the next request's connection now (optional: a speed-up, not a behaviour). */
  connectAhead?(): void;
  /**
   * ADD's daemon side in one request (allocate, host route, policy, ready mark, one commit); on
   * an error nothing of it is left on the daemon's side.
   */
  add(req: AddRequest): Promise<AddResponse>;
  /**
   * ADD's veth pair and daemon side in one request (optional: a client without it makes the
   * pair itself); on an error nothing of it is left.
   */
  attach?(req: AttachRequest, options?: WhileWaiting): Promise<AddResponse>;
  allocate(req: AllocateRequest): Promise<AllocateResponse>;
  program(req: ProgramRequest): Promise<Endpoint>;
  release(req: ReleaseRequest): Promise<ReleaseResponse>;
  gc(req: GcRequest): Promise<GcResponse>;
  /** The endpoint, or undefined when the daemon does not know it (404). */
  endpoint(id: AttachmentId): Promise<Endpoint | undefined>;
  endpoints(): Promise<Endpoint[]>;
}

/** Work a request's caller does while the daemon works on it. */
export interface WhileWaiting {
  /**
   * Called once the request is sent, before the answer is read: synchronous work done here
   * overlaps the daemon's (a speed-up, not a behaviour; what it throws is ignored).
   */
  whileWaiting?: () => void;
}

/** The daemon could not be reached: no socket, nobody listening, or no answer in time. */
export class DaemonUnavailableError extends Error {
  /** The socket that was tried. */
  readonly socketPath: string;
  /** Builds the message from the socket path and the cause. */
  constructor(socketPath: string, cause: string) {
    super(`Cannot reach ternd at ${socketPath}: ${cause}`);
    this.name = "DaemonUnavailableError";
    this.socketPath = socketPath;
  }
}

/** The daemon answered with an error status and an `{error, reason}` body. */
export class DaemonApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Machine-readable reason from the body. */
  readonly reason: ApiReason;
  /** Wraps the daemon's own message. */
  constructor(status: number, reason: ApiReason, message: string) {
    super(message);
    this.name = "DaemonApiError";
    this.status = status;
    this.reason = reason;
  }
}

/** Whether `err` is the daemon's answer to a path it does not serve (a daemon older than it). */
export function isUnknownPath(err: unknown): boolean {
  return err instanceof DaemonApiError && err.status === 404 && err.reason === "not_found" &&
    err.message.startsWith("No such API path");
}

/** The daemon's answer is not HTTP as this client reads it; retrying elsewhere will not help. */
export class MalformedResponseError extends Error {
  /** `detail` says what was wrong: `no end of headers`, `bad chunk size`. */
  constructor(detail: string) {
    super(`Malformed HTTP response: ${detail}`);
    this.name = "MalformedResponseError";
  }
}

/** A parsed HTTP response: status, lower-cased headers and the body as text. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Parses a complete HTTP/1.1 response (the connection was closed by the server, so the bytes
 * are all there). Handles `Content-Length` and `Transfer-Encoding: chunked`. Pure.
 */
export function parseHttpResponse(bytes: Uint8Array): RawResponse {
  let headerEnd = -1;
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      headerEnd = i;
      break;
    }
  }
  if (headerEnd < 0) throw new MalformedResponseError("no end of headers");
  const lines = decoder.decode(bytes.subarray(0, headerEnd)).split("\r\n");
  const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!statusMatch) {
    throw new MalformedResponseError(`status line ${JSON.stringify(lines[0])}`);
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  let body = bytes.subarray(headerEnd + 4);
  if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") body = dechunk(body);
  else if (headers.has("content-length")) {
    body = body.subarray(0, Number(headers.get("content-length")));
  }
  return { status: Number(statusMatch[1]), headers, body: decoder.decode(body) };
}

function dechunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let lineEnd = pos;
    while (lineEnd + 1 < bytes.length && !(bytes[lineEnd] === 13 && bytes[lineEnd + 1] === 10)) {
      lineEnd++;
    }
    const size = parseInt(decoder.decode(bytes.subarray(pos, lineEnd)).split(";")[0]!, 16);
    if (!Number.isFinite(size)) throw new MalformedResponseError("bad chunk size");
    if (size === 0) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
  return concatBytes(parts);
}

/** Knobs of {@linkcode DaemonClient}; every field documents its default. */
export interface DaemonClientOptions {
  /** Bounds each whole request. Default 10 000. */
  timeoutMs?: number;
  /**
   * The plugin's CNI command: each request then says it, with the time since the plugin started
   * (`src/cni_timing.ts`), so the daemon measures the command. Default none (the CLI).
   */
  cniCommand?: string | undefined;
}

/** A connection being opened, and the timeout of the request that will use it. */
interface Opened {
  connecting: Promise<{ conn: Deno.UnixConn } | { error: unknown }>;
  timeout: AbortSignal;
}

/** The real client. */
export class DaemonClient implements DaemonApi {
  readonly #socketPath: string;
  readonly #timeoutMs: number;
  readonly #cniCommand: string | undefined;
  /**
   * A connection opened ahead by {@linkcode DaemonClient.connectAhead}, with its request's
   * timeout already armed, for the next request.
   */
  #ahead: Opened | undefined;

  /** A client for the daemon listening on `socketPath`. */
  constructor(socketPath: string, options: DaemonClientOptions = {}) {
    this.#socketPath = socketPath;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const command = options.cniCommand;
    // Only a command's name goes into a header line (the env may hold anything).
    this.#cniCommand = command !== undefined && /^[A-Z]{1,16}$/.test(command) ? command : undefined;
  }

  /** Sends one request and returns the parsed JSON body; throws the errors above. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: WhileWaiting = {},
  ): Promise<T> {
    const raw = await this.#exchange(method, path, body, options);
    let parsed: unknown;
    try {
      parsed = raw.body === "" ? {} : JSON.parse(raw.body);
    } catch {
      throw new DaemonApiError(
        raw.status,
        "internal",
        `Daemon sent a body that is not JSON: ${raw.body.slice(0, 200)}`,
      );
    }
    if (raw.status >= 200 && raw.status < 300) return parsed as T;
    const err = parsed as { error?: unknown; reason?: unknown };
    throw new DaemonApiError(
      raw.status,
      (typeof err.reason === "string" ? err.reason : "internal") as ApiReason,
      typeof err.error === "string" ? err.error : `Daemon answered HTTP ${raw.status}`,
    );
  }

  async #exchange(
    method: string,
    path: string,
    body?: unknown,
    options: WhileWaiting = {},
  ): Promise<RawResponse> {
    const payload = body === undefined ? new Uint8Array() : encoder.encode(JSON.stringify(body));
    const head = `${method} ${path} HTTP/1.1\r\nHost: ternd\r\nConnection: close\r\n` +
      (body === undefined ? "" : "Content-Type: application/json\r\n") +
      (this.#cniCommand === undefined
        ? ""
        : `${CNI_TIMING_HEADER}: ${formatCniTiming(this.#cniCommand, performance.now())}\r\n`) +
      `Content-Length: ${payload.length}\r\n\r\n`;
    const ahead = this.#ahead ?? this.#open();
    this.#ahead = undefined;
    const connected = await ahead.connecting;
    if ("error" in connected) {
      throw new DaemonUnavailableError(this.#socketPath, errorMessage(connected.error));
    }
    const conn = connected.conn;
    const timeout = ahead.timeout;
    if (timeout.aborted) {
      conn.close();
      throw new DaemonUnavailableError(this.#socketPath, `no answer within ${this.#timeoutMs} ms`);
    }
    const onTimeout = () => {
      try {
        conn.close();
      } catch {
        // already closed
      }
    };
    timeout.addEventListener("abort", onTimeout, { once: true });
    try {
      const request = new Uint8Array(encoder.encode(head).length + payload.length);
      request.set(encoder.encode(head));
      request.set(payload, request.length - payload.length);
      let written = 0;
      while (written < request.length) written += await conn.write(request.subarray(written));
      try {
        options.whileWaiting?.();
      } catch {
        // a speed-up only
      }
      const chunks: Uint8Array[] = [];
      const buf = new Uint8Array(16 * 1024);
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        chunks.push(buf.slice(0, n));
      }
      const all = concatBytes(chunks);
      if (all.length === 0) {
        throw new DaemonUnavailableError(this.#socketPath, "connection closed without an answer");
      }
      return parseHttpResponse(all);
    } catch (err) {
      if (err instanceof DaemonUnavailableError) throw err;
      if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
        throw new DaemonUnavailableError(
          this.#socketPath,
          `no answer within ${this.#timeoutMs} ms`,
        );
      }
      if (err instanceof MalformedResponseError) throw err;
      throw new DaemonUnavailableError(
        this.#socketPath,
        errorMessage(err),
      );
    } finally {
      timeout.removeEventListener("abort", onTimeout);
      try {
        conn.close();
      } catch {
        // closed by the timeout or the server
      }
    }
  }

  /**
   * Opens the connection of the next request now and arms that request's timeout (its bound
   * counts from here), so that their set-up (the first connect of a process costs ~1 ms here, the
   * timer ~0.3 ms) overlaps work the caller does meanwhile (ADD's veth pair). A failure is
   * reported by that request.
   */
  connectAhead(): void {
    this.#ahead ??= this.#open();
  }

  /**
   * A connection and its request's timeout. The bound is an AbortSignal's timer: the first
   * setTimeout of a process loads Deno's timers, 4–8 ms of the JavaScript thread here, which
   * stalled everything ADD overlaps with its first request (the veth pair's answer);
   * AbortSignal.timeout costs ~0.3 ms, and opened ahead it is paid while the kernel works.
   */
  #open(): Opened {
    return { connecting: this.#connect(), timeout: AbortSignal.timeout(this.#timeoutMs) };
  }

  #connect(): Promise<{ conn: Deno.UnixConn } | { error: unknown }> {
    return Deno.connect({ transport: "unix", path: this.#socketPath }).then(
      (conn) => ({ conn }),
      (error: unknown) => ({ error }),
    );
  }

  /** GET /metrics: the Prometheus text exposition, as the daemon wrote it. */
  async metrics(): Promise<string> {
    const raw = await this.#exchange("GET", "/metrics");
    if (raw.status >= 200 && raw.status < 300) return raw.body;
    throw new DaemonApiError(
      raw.status,
      "internal",
      `Daemon answered HTTP ${raw.status} to GET /metrics: ${raw.body.slice(0, 200)}`,
    );
  }

  /** GET /v1/status. */
  status(): Promise<StatusResponse> {
    return this.request("GET", "/v1/status");
  }

  /**
   * POST /v1/endpoints/add. A daemon older than that path (404 `No such API path`, during an
   * upgrade) gets allocate then program, and a release when program fails, to the same effect.
   */
  async add(req: AddRequest): Promise<AddResponse> {
    try {
      return await this.request<AddResponse>("POST", "/v1/endpoints/add", req);
    } catch (err) {
      if (!isUnknownPath(err)) throw err;
    }
    const { hostVeth, podMac, ...allocate } = req;
    const alloc = await this.allocate(allocate);
    try {
      const programmed = await this.program({
        network: req.network,
        containerID: req.containerID,
        ifname: req.ifname,
        netns: req.netns,
        hostVeth,
        podMac,
        ip: alloc.ip,
      });
      return { ...programmed, created: alloc.created };
    } catch (err) {
      if (alloc.created) {
        await this.release({
          containerID: req.containerID,
          ifname: req.ifname,
          network: req.network,
        }).catch(() => {});
      }
      throw err;
    }
  }

  /** POST /v1/endpoints/attach. */
  attach(req: AttachRequest, options: WhileWaiting = {}): Promise<AddResponse> {
    return this.request("POST", "/v1/endpoints/attach", req, options);
  }

  /** POST /v1/ipam/allocate. */
  allocate(req: AllocateRequest): Promise<AllocateResponse> {
    return this.request("POST", "/v1/ipam/allocate", req);
  }

  /** POST /v1/endpoints. */
  program(req: ProgramRequest): Promise<Endpoint> {
    return this.request("POST", "/v1/endpoints", req);
  }

  /** POST /v1/endpoints/release. */
  release(req: ReleaseRequest): Promise<ReleaseResponse> {
    return this.request("POST", "/v1/endpoints/release", req);
  }

  /** POST /v1/gc. */
  gc(req: GcRequest): Promise<GcResponse> {
    return this.request("POST", "/v1/gc", req);
  }

  /** GET /v1/endpoints/{containerID}/{ifname}; undefined on 404. */
  async endpoint(id: AttachmentId): Promise<Endpoint | undefined> {
    try {
      return await this.request<Endpoint>(
        "GET",
        `/v1/endpoints/${encodeURIComponent(id.containerID)}/${encodeURIComponent(id.ifname)}`,
      );
    } catch (err) {
      if (err instanceof DaemonApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** GET /v1/endpoints. */
  async endpoints(): Promise<Endpoint[]> {
    return (await this.request<{ endpoints: Endpoint[] }>("GET", "/v1/endpoints")).endpoints;
  }
}

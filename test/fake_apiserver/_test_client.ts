/**
 * What the fake API server's tests use to talk to it: plain `fetch` against 127.0.0.1 and a
 * reader of watch streams with deadlines, so that no test can hang on a stream. Private to this
 * folder; it is deliberately not a Kubernetes client (the fake is proven against the documented
 * protocol, not against tern's client).
 * @module
 */

/** A watch event as sent on the wire. */
export interface WireEvent {
  type: string;
  // deno-lint-ignore no-explicit-any
  object: any;
}

/** How a stream ended: a clean end, a broken connection, or nothing within the deadline. */
export type StreamEnd = "closed" | "error" | "timeout";

/** Sends a request with a JSON body (if any) and returns status, headers and parsed body. */
export async function call(
  url: string,
  init: { method?: string; body?: unknown; token?: string; contentType?: string } = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] = init.contentType ?? "application/json";
  }
  const resp = await fetch(url, {
    method: init.method ?? "GET",
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await resp.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: resp.status, headers: resp.headers, body: parsed };
}

/** Reads newline-delimited JSON events from a watch response, each read with a deadline. */
export class WatchReader {
  readonly response: Response;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  #ended: StreamEnd | undefined;

  constructor(response: Response) {
    this.response = response;
    this.#reader = response.body!.getReader();
  }

  /** Opens a watch at `url` (a GET with watch=1 already in it). */
  static async open(url: string, token?: string): Promise<WatchReader> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const resp = await fetch(url, { headers });
    return new WatchReader(resp);
  }

  /** Text received after the last complete line (a half event, after a cut). */
  get partial(): string {
    return this.#buffer;
  }

  /** The next event, or how the stream ended, within `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<WireEvent | StreamEnd> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line.trim() === "") continue;
        return JSON.parse(line) as WireEvent;
      }
      if (this.#ended !== undefined) return this.#ended;
      const left = deadline - Date.now();
      if (left <= 0) return "timeout";
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        this.#pending.then((v) => ({ v }), (e: unknown) => ({ e })),
        new Promise<"timeout">((res) => (timer = setTimeout(() => res("timeout"), left))),
      ]);
      clearTimeout(timer);
      if (r === "timeout") return "timeout";
      this.#pending = undefined;
      if ("e" in r) this.#ended = "error";
      else if (r.v.done) this.#ended = "closed";
      else this.#buffer += this.#decoder.decode(r.v.value, { stream: true });
    }
  }

  /** Exactly `n` events within `timeoutMs` (throws with what came otherwise). */
  async take(n: number, timeoutMs = 5_000): Promise<WireEvent[]> {
    const out: WireEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) {
      const e = await this.next(Math.max(1, deadline - Date.now()));
      if (typeof e === "string") {
        throw new Error(
          `Expected ${n} events, got ${out.length} then ${e}: ${
            JSON.stringify(out.map((x) => x.type))
          }`,
        );
      }
      out.push(e);
    }
    return out;
  }

  /** Events up to the end of the stream (or the deadline), and how it ended. */
  async rest(timeoutMs = 5_000): Promise<{ events: WireEvent[]; end: StreamEnd }> {
    const events: WireEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const e = await this.next(Math.max(1, deadline - Date.now()));
      if (typeof e === "string") return { events, end: e };
      events.push(e);
    }
  }

  /** Stops reading (the client goes away). */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch { /* already broken */ }
  }
}

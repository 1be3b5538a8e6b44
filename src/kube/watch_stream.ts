/**
 * The body of a Kubernetes watch, decoded: the API server streams one JSON object per line
 * (`{"type":"ADDED","object":{…}}`), in chunks that cut lines anywhere. {@linkcode WatchDecoder}
 * is the pure part (bytes in, events out); {@linkcode decodeWatchStream} reads a body with it. An
 * `ERROR` event carries a `Status`, decoded into an {@linkcode ApiError} (`410 Expired` when the
 * resourceVersion is too old). A stream that ends inside an event is a broken connection, never a
 * silently lost event.
 * @module
 */
import { ApiError, apiErrorFromStatus, KubeNetworkError } from "./errors.ts";

/** The object of a watch event, as the API server sends it; `metadata` is always there. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** The parts of `metadata` the client reads; the rest is kept as sent. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A change to an object, or a bookmark (only `metadata.resourceVersion` is meaningful). */
export interface WatchObjectEvent<T = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";
  object: T;
}

/** The server ends the watch with an error; `object` is the `Status`. */
export interface WatchErrorEvent {
  type: "ERROR";
  object: Record<string, unknown>;
  /** The `Status`, decoded (`error.expired` for 410). */
  error: ApiError;
}

/** What a watch yields. */
export type WatchEvent<T = KubeObject> = WatchObjectEvent<T> | WatchErrorEvent;

const TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);

/** Splits a watch body into events; feed it chunks, then call `end()`. Pure. */
export class WatchDecoder {
  readonly #text = new TextDecoder();
  #rest = "";

  /**
   * The complete events in `chunk` (with what earlier chunks left); throws on a bad line. Each
   * line is a slice of the chunk's text; only the line that an earlier chunk began is joined
   * with it (joining the whole chunk and splitting it copied every event's text once more: at
   * 1 000 events/s, ~6 KiB of garbage an event; docs/benchmarks.md, "Less garbage per event").
   */
  push(chunk: Uint8Array): WatchEvent[] {
    const text = this.#text.decode(chunk, { stream: true });
    const events: WatchEvent[] = [];
    let end = text.indexOf("\n");
    if (end < 0) {
      this.#rest += text;
      return events;
    }
    const first = this.#rest + text.slice(0, end);
    this.#rest = "";
    if (!isBlank(first)) events.push(decodeLine(first));
    let start = end + 1;
    while ((end = text.indexOf("\n", start)) >= 0) {
      if (!isBlank(text, start, end)) events.push(decodeLine(text.slice(start, end)));
      start = end + 1;
    }
    this.#rest = text.slice(start);
    return events;
  }

  /**
   * The stream ended: a last event without its newline is taken when it is complete JSON;
   * anything else left over means the connection was cut inside an event, and throws
   * {@linkcode KubeNetworkError}.
   */
  end(): WatchEvent[] {
    const rest = (this.#rest + this.#text.decode()).trim();
    this.#rest = "";
    if (rest === "") return [];
    try {
      JSON.parse(rest);
    } catch {
      throw new KubeNetworkError(
        `Watch stream ended inside an event: ${rest.length} bytes without their end`,
      );
    }
    return [decodeLine(rest)];
  }
}

/**
 * Whether `text[start..end)` is only white space (as `trim()` has it), without making the slice
 * for the usual line, which starts with `{`.
 */
function isBlank(text: string, start = 0, end = text.length): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) continue;
    return c < 128 ? false : text.slice(i, end).trim() === "";
  }
  return true;
}

function decodeLine(line: string): WatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new KubeNetworkError(
      `Watch stream sent a line that is not JSON: ${line.slice(0, 80)}: ${String(err)}`,
    );
  }
  const event = value as { type?: unknown; object?: unknown };
  if (
    value === null || typeof value !== "object" || typeof event.type !== "string" ||
    !TYPES.has(event.type) || event.object === null || typeof event.object !== "object"
  ) {
    throw new KubeNetworkError(
      `Watch stream sent something that is not a watch event: ${line.slice(0, 80)}`,
    );
  }
  const object = event.object as Record<string, unknown>;
  if (event.type === "ERROR") {
    return { type: "ERROR", object, error: apiErrorFromStatus(object) };
  }
  if (object.metadata === null || typeof object.metadata !== "object") {
    throw new KubeNetworkError(`Watch event without metadata: ${line.slice(0, 80)}`);
  }
  return { type: event.type as WatchObjectEvent["type"], object: object as KubeObject };
}

/**
 * The events of a watch body, in order, ending when the body ends. `onData` is called for every
 * chunk received (a bookmark-less quiet watch still proves the connection alive by its bytes).
 * Read errors propagate as they are.
 */
export async function* decodeWatchStream(
  body: ReadableStream<Uint8Array>,
  options: { onData?: () => void } = {},
): AsyncGenerator<WatchEvent> {
  const decoder = new WatchDecoder();
  const reader = body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      options.onData?.();
      for (const event of decoder.push(value)) yield event;
    }
    for (const event of decoder.end()) yield event;
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

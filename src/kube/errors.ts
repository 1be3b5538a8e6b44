/**
 * The errors of tern's Kubernetes client, for callers that handle them: {@linkcode ApiError} for
 * an answer of the API server that is not a success (decoded from its `Status` body, so that a
 * 409 `Conflict` is told from a 409 `AlreadyExists`, and a 429's `Retry-After` is kept), and
 * {@linkcode KubeNetworkError} for a server that could not be reached or a stream that broke.
 * @module
 */

/**
 * The `reason` of a `Status` (`metav1.StatusReason`), as the API server sends it. Others may
 * arrive (the type stays open); these are the ones tern acts on.
 */
export type StatusReason =
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Gone"
  | "Expired"
  | "Invalid"
  | "TooManyRequests"
  | "Timeout"
  | "ServerTimeout"
  | "BadRequest"
  | "MethodNotAllowed"
  | "InternalError"
  | "ServiceUnavailable"
  | "Unknown"
  | (string & Record<never, never>);

/** What an API error says, as its constructor takes it. */
export interface ApiErrorInit {
  /** The HTTP status code (or `Status.code` for an error inside a watch stream). */
  code: number;
  /** `Status.reason`, or one derived from the code when the body had none. */
  reason: StatusReason;
  /** `Status.message`, or the start of the body when it was not a `Status`. */
  message: string;
  /** Seconds to wait before retrying: the `Retry-After` header, else `details.retryAfterSeconds`. */
  retryAfterSeconds?: number | undefined;
  /** The method and path of the request, for the message. */
  request?: string | undefined;
}

/** The API server answered, and not with success. */
export class ApiError extends Error {
  /** HTTP status code: 401, 403, 404, 409, 410, 429, 500, … */
  readonly code: number;
  /** `Conflict` (a stale resourceVersion) vs `AlreadyExists` (a create of an existing name), … */
  readonly reason: StatusReason;
  /** The server's own message, without tern's prefix. */
  readonly serverMessage: string;
  /** Seconds the server asks the client to wait, when it said. */
  readonly retryAfterSeconds: number | undefined;

  /** Builds the error; the message names the request, the code, the reason and the server's text. */
  constructor(init: ApiErrorInit) {
    const where = init.request !== undefined ? ` to ${init.request}` : "";
    super(
      `Kubernetes API refused the request${where}: ${init.code} ${init.reason}: ${init.message}`,
    );
    this.name = "ApiError";
    this.code = init.code;
    this.reason = init.reason;
    this.serverMessage = init.message;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /** The resourceVersion asked for is too old (410 `Gone`/`Expired`): list again. */
  get expired(): boolean {
    return this.code === 410 || this.reason === "Expired" || this.reason === "Gone";
  }

  /** The resource (or the whole kind, when its CRD is not installed) does not exist. */
  get notFound(): boolean {
    return this.code === 404;
  }
}

/** The API server could not be reached, the connection broke, or a stream went silent. */
export class KubeNetworkError extends Error {
  /** Builds the error; `cause` is the underlying failure, when there is one. */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "KubeNetworkError";
  }
}

const REASON_BY_CODE: Record<number, StatusReason> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/**
 * Decodes an error answer: `body` is its text (a `Status` object, or anything else a proxy may
 * send), `retryAfter` the `Retry-After` header (seconds; an HTTP date is read too). Pure.
 */
export function apiErrorFromBody(
  code: number,
  body: string,
  options: { retryAfter?: string | null; request?: string; now?: number } = {},
): ApiError {
  let status: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      status = parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON: a proxy's page, or an empty body.
  }
  return apiErrorFromStatus(status ?? {}, {
    code,
    fallbackMessage: body.trim().slice(0, 200) || "(empty body)",
    ...options,
  });
}

/**
 * Decodes a `Status` object (the body of an error answer, or the object of a watch `ERROR`
 * event). `code` overrides `Status.code` when given (the HTTP code of the answer). Pure.
 */
export function apiErrorFromStatus(
  status: Record<string, unknown>,
  options: {
    code?: number;
    fallbackMessage?: string;
    retryAfter?: string | null;
    request?: string;
    now?: number;
  } = {},
): ApiError {
  const code = options.code ?? (typeof status.code === "number" ? status.code : 500);
  const reason = typeof status.reason === "string" && status.reason !== ""
    ? status.reason
    : REASON_BY_CODE[code] ?? "Unknown";
  const message = typeof status.message === "string" && status.message !== ""
    ? status.message
    : options.fallbackMessage ?? "(no message)";
  const details = status.details;
  const fromDetails = details !== null && typeof details === "object" &&
      typeof (details as Record<string, unknown>).retryAfterSeconds === "number"
    ? (details as Record<string, number>).retryAfterSeconds
    : undefined;
  const fromHeader = parseRetryAfter(options.retryAfter, options.now ?? Date.now());
  return new ApiError({
    code,
    reason,
    message,
    retryAfterSeconds: fromHeader ?? fromDetails,
    request: options.request,
  });
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number,
): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

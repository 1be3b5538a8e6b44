/**
 * `Status` objects, the body of every error (and of some deletes) the fake API server sends, in
 * the shape the API conventions document ("Response Status Kind": `kind: Status`, `status`
 * Failure|Success, a machine-readable `reason`, a human `message`, `details` naming the object,
 * `code` equal to the HTTP status). Handlers throw {@linkcode ApiError}; the HTTP edge turns it
 * into a response with {@linkcode statusResponse}.
 * @module
 */

import type { ResourceType } from "./resources.ts";

/** `details` of a Status: which object, and optional causes. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

/** A `v1` Status object. */
export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: { continue?: string; resourceVersion?: string };
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An error that becomes a Status response; thrown by the fake server's handlers. */
export class ApiError extends Error {
  /** The Status body sent to the client. */
  readonly status: Status;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>;

  /** `code` is the HTTP status, `reason` the Status reason (e.g. `NotFound`). */
  constructor(
    code: number,
    reason: string,
    message: string,
    details?: StatusDetails,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = failure(code, reason, message, details);
    this.headers = headers;
  }
}

/** Builds a Failure Status. */
export function failure(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): Status {
  const status: Status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
  if (details !== undefined) status.details = details;
  return status;
}

/** The name a resource goes by in messages: `pods`, `networkpolicies.networking.k8s.io`. */
export function qualifiedResource(rt: ResourceType): string {
  return rt.group === "" ? rt.plural : `${rt.plural}.${rt.group}`;
}

function objectDetails(rt: ResourceType, name: string): StatusDetails {
  const details: StatusDetails = { name };
  if (rt.group !== "") details.group = rt.group;
  details.kind = rt.plural;
  return details;
}

/** 404 for a named object: `pods "web" not found`. */
export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    404,
    "NotFound",
    `${qualifiedResource(rt)} "${name}" not found`,
    objectDetails(rt, name),
  );
}

/** 404 for a path the server does not serve (e.g. a CRD that is not installed). */
export function pathNotFound(): ApiError {
  return new ApiError(404, "NotFound", "the server could not find the requested resource", {});
}

/** 409 AlreadyExists: a create of a name that is taken. */
export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    "AlreadyExists",
    `${qualifiedResource(rt)} "${name}" already exists`,
    objectDetails(rt, name),
  );
}

/** 409 Conflict: an update or delete whose resourceVersion (or uid) precondition is stale. */
export function conflict(rt: ResourceType, name: string, why: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${why}`,
    objectDetails(rt, name),
  );
}

/** The message of a Conflict for a stale resourceVersion, as the API server words it. */
export const STALE_OBJECT =
  "the object has been modified; please apply your changes to the latest version and try again";

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

/** 422 Invalid, with one cause per field. */
export function invalid(
  rt: ResourceType,
  name: string,
  causes: { field: string; reason: string; message: string }[],
): ApiError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  const details: StatusDetails = { name };
  if (rt.group !== "") details.group = rt.group;
  details.kind = rt.kind;
  details.causes = causes;
  return new ApiError(422, "Invalid", `${rt.kind} "${name}" is invalid: ${text}`, details);
}

/** 410 Gone with reason Expired (a compacted resourceVersion or continue token). */
export function expired(message: string, continueToken?: string): ApiError {
  const err = new ApiError(410, "Expired", message);
  if (continueToken !== undefined) err.status.metadata.continue = continueToken;
  return err;
}

/** 504 Timeout with cause ResourceVersionTooLarge: a resourceVersion newer than the store's. */
export function tooLargeResourceVersion(asked: number, current: number): ApiError {
  return new ApiError(
    504,
    "Timeout",
    `Timeout: Too large resource version: ${asked}, current: ${current}`,
    {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
      retryAfterSeconds: 1,
    },
    { "Retry-After": "1" },
  );
}

/** The JSON response for a Status (its `code` is the HTTP status). */
export function statusResponse(status: Status, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(status), {
    status: status.code,
    headers: { "content-type": "application/json", ...headers },
  });
}

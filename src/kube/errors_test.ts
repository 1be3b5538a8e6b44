import { assertEquals } from "../../test/assert.ts";
import { apiErrorFromBody, apiErrorFromStatus, parseRetryAfter } from "./errors.ts";

const status = (code: number, reason: string, message: string, details?: unknown) =>
  JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code,
    reason,
    message,
    details,
  });

Deno.test("apiErrorFromBody() tells a 409 Conflict from a 409 AlreadyExists", () => {
  const conflict = apiErrorFromBody(409, status(409, "Conflict", "the object has been modified"));
  const exists = apiErrorFromBody(409, status(409, "AlreadyExists", 'pods "web" already exists'), {
    request: "POST /api/v1/namespaces/default/pods",
  });
  assertEquals([conflict.code, conflict.reason], [409, "Conflict"]);
  assertEquals([exists.code, exists.reason], [409, "AlreadyExists"]);
  assertEquals(
    exists.message,
    'Kubernetes API refused the request to POST /api/v1/namespaces/default/pods: 409 AlreadyExists: pods "web" already exists',
  );
  assertEquals(exists.serverMessage, 'pods "web" already exists');
});

Deno.test("apiErrorFromBody() takes Retry-After from the header, else from the status details", () => {
  const body = status(429, "TooManyRequests", "slow down", { retryAfterSeconds: 7 });
  assertEquals(apiErrorFromBody(429, body).retryAfterSeconds, 7);
  assertEquals(apiErrorFromBody(429, body, { retryAfter: "3" }).retryAfterSeconds, 3);
  assertEquals(apiErrorFromBody(429, "{}").retryAfterSeconds, undefined);
});

Deno.test("apiErrorFromBody() derives a reason from the code when the body is not a Status", () => {
  const err = apiErrorFromBody(503, "<html>upstream down</html>");
  assertEquals([err.reason, err.serverMessage], [
    "ServiceUnavailable",
    "<html>upstream down</html>",
  ]);
  const gone = apiErrorFromBody(410, "");
  assertEquals([gone.reason, gone.expired, gone.serverMessage], ["Expired", true, "(empty body)"]);
  assertEquals(apiErrorFromBody(404, "").notFound, true);
});

Deno.test("apiErrorFromStatus() reads a watch ERROR event's Status, code included", () => {
  const err = apiErrorFromStatus({
    kind: "Status",
    code: 410,
    reason: "Expired",
    message: "too old resource version: 5 (90)",
  });
  assertEquals([err.code, err.reason, err.expired], [410, "Expired", true]);
});

Deno.test("parseRetryAfter() reads seconds and HTTP dates, and ignores nonsense", () => {
  const now = Date.parse("2026-12-04T12:00:00Z");
  assertEquals(parseRetryAfter("12", now), 12);
  assertEquals(parseRetryAfter("Fri, 04 Dec 2026 12:00:30 GMT", now), 30);
  assertEquals(parseRetryAfter("soon", now), undefined);
  assertEquals(parseRetryAfter(null, now), undefined);
});

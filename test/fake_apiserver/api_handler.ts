/**
 * The fake API server's HTTP API as one `(Request) => Response` function: authentication (bearer
 * tokens, 401 Unauthorized as a Status), request faults, discovery, and the REST paths of the API
 * concepts page ("Resource URIs"): `/api/v1/{resource}`, `/api/v1/namespaces/{ns}/{resource}`,
 * `/apis/{group}/{version}/...`, an object's `/{name}` and its `/status`. Verbs: get, list, watch
 * (`watch=1|true`), create, update, patch, delete. Errors are Status objects.
 * @module
 */

import { parse as parseYaml } from "yaml";
import type { ApiObjects, DeleteOptions, KubeObject } from "./api_objects.ts";
import { apiGroup, apiGroupList, apiResourceList, apiVersions } from "./discovery.ts";
import type { Faults } from "./faults.ts";
import { apiVersionOf, type ResourceType } from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ApiError, badRequest, pathNotFound, statusResponse } from "./status.ts";
import type { Version } from "./store.ts";
import type { WatchHub, WatchRequest } from "./watch.ts";

/** What the handler serves from. */
export interface ApiContext {
  objects: ApiObjects;
  hub: WatchHub;
  faults: Faults;
  /** Accepted bearer tokens; empty: no authentication. */
  tokens: Set<string>;
  /** Counts of requests by verb, for tests and benches. */
  counts: Map<string, number>;
  /** The last requests, oldest first (bounded), to check what a client sent and when. */
  log: RequestLogEntry[];
  /** Requests seen so far (the log's sequence numbers). */
  requestSeq: number;
}

/** One request as the log keeps it. */
export interface RequestLogEntry {
  /** Sequence number, from 1. */
  seq: number;
  /** When it arrived (ms since the epoch). */
  at: number;
  method: string;
  path: string;
  /** The query string without `?` (`watch=1&resourceVersion=12`). */
  query: string;
  /** The HTTP status answered (200 for a watch that started). */
  status: number;
  /** Whether a bearer token was sent. */
  token: boolean;
}

/** How many requests the log keeps. */
export const REQUEST_LOG_SIZE = 2_000;

const JSON_HEADERS = { "content-type": "application/json" };
const encoder = new TextEncoder();

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function objectResponse(v: Version, status = 200): Response {
  return new Response(v.json, { status, headers: JSON_HEADERS });
}

function methodNotAllowed(method: string): ApiError {
  return new ApiError(
    405,
    "MethodNotAllowed",
    `the server does not allow this method on the requested resource: ${method}`,
  );
}

/** The object a path names. */
interface Target {
  rt: ResourceType;
  namespace: string;
  name?: string;
  subresource?: string;
}

function route(objects: ApiObjects, group: string, version: string, rest: string[]): Target {
  if (rest.length >= 3 && rest[0] === "namespaces") {
    const rt = objects.resolve(group, version, rest[2]!);
    if (rt !== undefined && rt.namespaced && rest.length <= 5) {
      const t: Target = { rt, namespace: rest[1]! };
      if (rest[3] !== undefined) t.name = rest[3];
      if (rest[4] !== undefined) t.subresource = rest[4];
      return check(t);
    }
  }
  const rt = rest[0] === undefined ? undefined : objects.resolve(group, version, rest[0]);
  if (rt === undefined || rest.length > 3) throw pathNotFound();
  // A namespaced resource without a namespace is only a collection across namespaces.
  if (rt.namespaced && rest.length > 1) throw pathNotFound();
  const t: Target = { rt, namespace: "" };
  if (rest[1] !== undefined) t.name = rest[1];
  if (rest[2] !== undefined) t.subresource = rest[2];
  return check(t);
}

function check(t: Target): Target {
  if (t.subresource !== undefined && !(t.subresource === "status" && t.rt.statusSubresource)) {
    throw pathNotFound();
  }
  return t;
}

async function readBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === "") return undefined;
  const type = req.headers.get("content-type") ?? "";
  try {
    return type.includes("yaml") ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(
      `the body of the request is not valid ${type.includes("yaml") ? "YAML" : "JSON"}: ${
        (err as Error).message
      }`,
    );
  }
}

/** Streams a list body in pieces so that a list of 150 000 objects is never one string. */
function listBody(
  rt: ResourceType,
  rv: number,
  items: Version[],
  cont: string | undefined,
  cut: boolean,
): ReadableStream<Uint8Array> {
  let meta = `"resourceVersion":"${rv}"`;
  if (cont !== undefined) meta += `,"continue":"${cont}"`;
  const head = `{"kind":"${rt.listKind}","apiVersion":"${
    apiVersionOf(rt)
  }","metadata":{${meta}},"items":[`;
  // Items of built-in kinds go without apiVersion and kind, as the real server sends typed lists
  // (kubernetes/kubernetes#3030); custom resources' items keep theirs. Stored objects begin with
  // exactly this prefix (ApiObjects writes apiVersion and kind first), so it is cut, not parsed.
  const typePrefix = `{"apiVersion":"${apiVersionOf(rt)}","kind":"${rt.kind}",`;
  const item = (json: string) =>
    !rt.custom && json.startsWith(typePrefix) ? `{${json.slice(typePrefix.length)}` : json;
  let i = 0;
  let sentHead = false;
  const cutAt = cut ? Math.floor(items.length / 2) : -1;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      let text = sentHead ? "" : head;
      sentHead = true;
      while (i < items.length && text.length < 512 * 1024) {
        if (i === cutAt) {
          text += items[i]!.json.slice(0, items[i]!.json.length >> 1);
          c.enqueue(encoder.encode(text));
          setTimeout(() => c.error(new Error("list response cut by the fake API server")), 20);
          i = items.length + 1;
          return;
        }
        text += (i === 0 ? "" : ",") + item(items[i]!.json);
        i++;
      }
      if (i > items.length) return;
      if (i === items.length) {
        text += "]}";
        i++;
        c.enqueue(encoder.encode(text));
        c.close();
        return;
      }
      c.enqueue(encoder.encode(text));
    },
  }, { highWaterMark: 0 });
}

function count(ctx: ApiContext, verb: string): void {
  ctx.counts.set(verb, (ctx.counts.get(verb) ?? 0) + 1);
}

/** Builds the API handler (everything but the admin paths). */
export function apiHandler(ctx: ApiContext): (req: Request) => Promise<Response> {
  return async (req) => {
    const at = Date.now();
    let resp: Response;
    try {
      resp = await serve(ctx, req);
    } catch (err) {
      if (err instanceof ApiError) resp = statusResponse(err.status, err.headers);
      else {
        const message = err instanceof Error ? err.message : String(err);
        resp = statusResponse(
          new ApiError(500, "InternalError", `Internal error occurred: ${message}`).status,
        );
      }
    }
    const url = new URL(req.url);
    ctx.log.push({
      seq: ++ctx.requestSeq,
      at,
      method: req.method,
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      status: resp.status,
      token: req.headers.has("authorization"),
    });
    if (ctx.log.length > REQUEST_LOG_SIZE) ctx.log.splice(0, ctx.log.length - REQUEST_LOG_SIZE);
    return resp;
  };
}

async function serve(ctx: ApiContext, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname.replace(/\/+$/, "") || "/";
  if (path === "/healthz" || path === "/livez" || path === "/readyz") {
    return new Response("ok", { headers: { "content-type": "text/plain" } });
  }
  if (path === "/version") {
    return json({
      major: "1",
      minor: "33",
      gitVersion: "v1.33.0-fake.tern",
      platform: "linux/amd64",
    });
  }
  if (ctx.tokens.size > 0) {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (m === null || !ctx.tokens.has(m[1]!)) {
      count(ctx, "unauthorized");
      throw new ApiError(401, "Unauthorized", "Unauthorized");
    }
  }
  const segs = path.split("/").filter((s) => s !== "").map(decodeURIComponent);
  const q = url.searchParams;
  const isWatch = q.get("watch") === "1" || q.get("watch") === "true";
  const fault = ctx.faults.next(req.method === "GET" && !isWatch);
  if (fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
  if (fault.reject !== undefined) {
    count(ctx, "throttled");
    throw fault.reject;
  }
  const types = ctx.objects.types();
  let target: Target;
  if (segs[0] === "api") {
    if (segs.length === 1) return json(apiVersions(url.host));
    if (segs[1] !== "v1") throw pathNotFound();
    if (segs.length === 2) return json(apiResourceList(types, "", "v1"));
    target = route(ctx.objects, "", "v1", segs.slice(2));
  } else if (segs[0] === "apis") {
    if (segs.length === 1) return json(apiGroupList(types));
    if (segs.length === 2) {
      const g = apiGroup(types, segs[1]!);
      if (g === undefined) throw pathNotFound();
      return json(g);
    }
    if (segs.length === 3) {
      const l = apiResourceList(types, segs[1]!, segs[2]!);
      if (l === undefined) throw pathNotFound();
      return json(l);
    }
    target = route(ctx.objects, segs[1]!, segs[2]!, segs.slice(3));
  } else throw pathNotFound();

  const { rt, namespace, name, subresource } = target;
  const objects = ctx.objects;
  if (name === undefined) {
    if (req.method === "GET") {
      const labels = parseLabelSelector(q.get("labelSelector"));
      const fields = parseFieldSelector(q.get("fieldSelector"), rt.fieldLabels);
      if (isWatch) {
        count(ctx, "watch");
        const wr: WatchRequest = {
          rt,
          namespace,
          resourceVersion: q.get("resourceVersion"),
          labels,
          fields,
          allowBookmarks: q.get("allowWatchBookmarks") === "true" ||
            q.get("allowWatchBookmarks") === "1",
        };
        const sie = q.get("sendInitialEvents");
        if (sie !== null) wr.sendInitialEvents = sie === "true" || sie === "1";
        const rvm = q.get("resourceVersionMatch");
        if (rvm !== null) wr.resourceVersionMatch = rvm;
        const timeout = q.get("timeoutSeconds");
        if (timeout !== null && timeout !== "") {
          const s = Number(timeout);
          if (!Number.isFinite(s) || s < 0) {
            throw badRequest(
              `Invalid value: "${timeout}": timeoutSeconds must be a non-negative integer`,
            );
          }
          // 0 is no timeout of the client's: the server's default applies, as in the real one.
          if (s > 0) wr.timeoutMs = s * 1000;
        }
        const w = ctx.hub.open(wr);
        return new Response(w.body, { headers: JSON_HEADERS });
      }
      count(ctx, "list");
      const res = objects.list({ rt, namespace }, {
        resourceVersion: q.get("resourceVersion"),
        resourceVersionMatch: q.get("resourceVersionMatch"),
        limit: q.get("limit"),
        continue: q.get("continue"),
        labels,
        fields,
      });
      return new Response(listBody(rt, res.rv, res.items, res.continue, fault.cut), {
        headers: JSON_HEADERS,
      });
    }
    if (req.method === "POST") {
      if (rt.namespaced && namespace === "") throw methodNotAllowed(req.method);
      count(ctx, "create");
      const v = objects.create({ rt, namespace }, await readBody(req));
      return objectResponse(v, 201);
    }
    if (req.method === "DELETE") {
      // deletecollection: every object the selectors match, each deleted as one DELETE would;
      // the answer lists what was deleted, as the generic registry's DeleteCollection does.
      count(ctx, "deletecollection");
      const labels = parseLabelSelector(q.get("labelSelector"));
      const fields = parseFieldSelector(q.get("fieldSelector"), rt.fieldLabels);
      const body = (await readBody(req)) as DeleteOptions | undefined;
      const opts: DeleteOptions = {};
      const grace = q.get("gracePeriodSeconds") ?? body?.gracePeriodSeconds;
      if (grace !== undefined && grace !== null && grace !== "") {
        opts.gracePeriodSeconds = Number(grace);
      }
      const matched = objects.list({ rt, namespace }, { labels, fields }).items;
      const deleted: Version[] = [];
      for (const v of matched) {
        const o = JSON.parse(v.json) as KubeObject;
        try {
          deleted.push(
            objects.delete(
              { rt, namespace: o.metadata?.namespace ?? "", name: o.metadata!.name! },
              opts,
            ),
          );
        } catch (err) {
          if (!(err instanceof ApiError) || err.status.code !== 404) throw err;
        }
      }
      return new Response(listBody(rt, objects.store.rv, deleted, undefined, false), {
        headers: JSON_HEADERS,
      });
    }
    throw methodNotAllowed(req.method);
  }
  const sub: { subresource?: string } = subresource === undefined ? {} : { subresource };
  switch (req.method) {
    case "GET":
      count(ctx, "get");
      return objectResponse(
        objects.get({ rt, namespace, name }, { resourceVersion: q.get("resourceVersion") }),
      );
    case "PUT":
      count(ctx, "update");
      return objectResponse(objects.update({ rt, namespace, name }, await readBody(req), sub));
    case "PATCH": {
      count(ctx, "patch");
      const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim();
      return objectResponse(
        objects.patch({ rt, namespace, name }, { type, body: await readBody(req) }, sub),
      );
    }
    case "DELETE": {
      if (subresource !== undefined) throw methodNotAllowed(req.method);
      count(ctx, "delete");
      const body = (await readBody(req)) as DeleteOptions | undefined;
      const opts: DeleteOptions = {};
      if (body?.preconditions !== undefined) opts.preconditions = body.preconditions;
      const grace = q.get("gracePeriodSeconds") ?? body?.gracePeriodSeconds;
      if (grace !== undefined && grace !== null && grace !== "") {
        const g = Number(grace);
        if (!Number.isInteger(g)) {
          throw badRequest(`Invalid value: "${grace}": gracePeriodSeconds must be an integer`);
        }
        opts.gracePeriodSeconds = g;
      }
      const v = objects.delete({ rt, namespace, name }, opts);
      if (rt.returnDeletedObject) return objectResponse(v);
      const obj = JSON.parse(v.json) as KubeObject;
      const details: Record<string, string> = { name };
      if (rt.group !== "") details.group = rt.group;
      details.kind = rt.plural;
      details.uid = obj.metadata?.uid ?? "";
      return json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details });
    }
    default:
      throw methodNotAllowed(req.method);
  }
}

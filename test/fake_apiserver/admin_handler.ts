/**
 * The admin API of the fake API server, under `/_fake/`: the in-process admin methods over HTTP,
 * for a server that runs as a separate process (inside a network namespace, say). No
 * authentication: it is a test control plane, never part of the Kubernetes API. Every answer is
 * JSON; an error is `{"error": "..."}` with status 400 (or 404 for an unknown path).
 * See docs/fake_apiserver.md for the list of endpoints.
 * @module
 */

import { parseAllDocuments } from "yaml";
import type { KubeObject } from "./api_objects.ts";
import type { Churn } from "./churn.ts";
import { resourceName } from "./resources.ts";
import type { FakeApiServer, KindRef } from "./server.ts";

function reply(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Objects from a JSON object, array or List, NDJSON, or YAML documents. */
export function parseObjects(text: string): KubeObject[] {
  const t = text.trim();
  if (t === "") return [];
  const flatten = (v: unknown): KubeObject[] => {
    if (Array.isArray(v)) return v.flatMap(flatten);
    if (v === null || typeof v !== "object") return [];
    const o = v as KubeObject & { items?: unknown[] };
    if (typeof o.kind === "string" && o.kind.endsWith("List") && Array.isArray(o.items)) {
      return o.items.flatMap(flatten);
    }
    return [o];
  };
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return flatten(JSON.parse(t));
    } catch {
      // NDJSON: one object a line.
      return t.split("\n").filter((l) => l.trim() !== "").flatMap((l) => flatten(JSON.parse(l)));
    }
  }
  return parseAllDocuments(t).flatMap((d) => {
    if (d.errors.length > 0) throw new Error(`Cannot parse YAML: ${d.errors[0]!.message}`);
    return flatten(d.toJS());
  });
}

/** Builds the admin handler for a server. */
export function adminHandler(fake: FakeApiServer): (req: Request) => Promise<Response> {
  let lastChurn: Churn | undefined;
  return async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/^\/_fake/, "").replace(/\/+$/, "") || "/";
    const method = req.method;
    try {
      const text = method === "GET" || method === "DELETE" ? "" : await req.text();
      const body = (): Record<string, unknown> => {
        if (text.trim() === "") return {};
        const v = JSON.parse(text);
        if (v === null || typeof v !== "object") {
          throw new Error(`The body must be a JSON object: got ${text.slice(0, 80)}`);
        }
        return v as Record<string, unknown>;
      };
      const num = (v: unknown, what: string): number | undefined => {
        if (v === undefined || v === null) return undefined;
        if (typeof v !== "number" || !Number.isFinite(v)) {
          throw new Error(`"${what}" must be a number: got ${JSON.stringify(v)}`);
        }
        return v;
      };
      const str = (v: unknown, what: string): string | undefined => {
        if (v === undefined || v === null) return undefined;
        if (typeof v !== "string") {
          throw new Error(`"${what}" must be a string: got ${JSON.stringify(v)}`);
        }
        return v;
      };
      const filter = (b: Record<string, unknown>) => {
        const r = str(b.resource, "resource");
        return r === undefined ? {} : { resource: r };
      };
      const key = `${method} ${path}`;
      switch (key) {
        case "GET /":
        case "GET /state": {
          const counts: Record<string, number> = {};
          for (const rt of fake.objects.types()) {
            counts[resourceName(rt)] = fake.objects.store.count(resourceName(rt));
          }
          return reply({
            url: fake.url,
            running: fake.running,
            resourceVersion: fake.rv,
            compactedResourceVersion: fake.objects.store.compactedRv,
            historySize: fake.objects.store.historySize,
            objects: counts,
            watches: fake.hub.watches.map((w) => ({
              resource: w.resource,
              namespace: w.req.namespace,
              sent: w.sent,
              hung: w.hung,
            })),
            requests: Object.fromEntries(fake.counts),
            churn: lastChurn?.progress() ?? null,
          });
        }
        case "POST /objects":
          return reply({ loaded: fake.load(parseObjects(text)), resourceVersion: fake.rv });
        case "POST /delete": {
          // Deletes by {apiVersion, kind, namespace?, name, gracePeriodSeconds?} (one or a list),
          // as DELETE would, also while the API listener is stopped; absent objects are skipped.
          const v = text.trim() === "" ? [] : JSON.parse(text);
          const refs =
            (Array.isArray(v) ? v : [v]) as (KindRef & { gracePeriodSeconds?: number })[];
          let deleted = 0;
          for (const r of refs) {
            if (
              typeof r?.apiVersion !== "string" || typeof r.kind !== "string" ||
              typeof r.name !== "string"
            ) {
              throw new Error(
                `Each object to delete needs apiVersion, kind and name: got ${JSON.stringify(r)}`,
              );
            }
            const ref: KindRef = { apiVersion: r.apiVersion, kind: r.kind, name: r.name };
            if (typeof r.namespace === "string") ref.namespace = r.namespace;
            if (fake.get(ref) === undefined) continue;
            fake.delete(
              ref,
              typeof r.gracePeriodSeconds === "number"
                ? { gracePeriodSeconds: r.gracePeriodSeconds }
                : {},
            );
            deleted++;
          }
          return reply({ deleted, resourceVersion: fake.rv });
        }
        case "POST /generate": {
          const b = body();
          const shape = {
            nodes: num(b.nodes, "nodes") ?? 0,
            pods: num(b.pods, "pods") ?? 0,
            networkPolicies: num(b.networkPolicies, "networkPolicies") ?? 0,
          } as Parameters<FakeApiServer["generate"]>[0];
          const ns = num(b.namespaces, "namespaces");
          if (ns !== undefined) shape.namespaces = ns;
          const seed = num(b.seed, "seed");
          if (seed !== undefined) shape.seed = seed;
          return reply({ loaded: fake.generate(shape), resourceVersion: fake.rv });
        }
        case "POST /crds": {
          const b = body();
          const rt = typeof b.name === "string" && b.kind === undefined
            ? fake.installCrd(b.name)
            : fake.installCrd(b as KubeObject);
          return reply({ installed: resourceName(rt) });
        }
        case "POST /compact": {
          const b = body();
          return reply({
            compactedResourceVersion: fake.compact(num(b.resourceVersion, "resourceVersion")),
          });
        }
        case "POST /tokens": {
          const b = body();
          const tokens = b.tokens;
          if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) {
            throw new Error(`"tokens" must be an array of strings: got ${JSON.stringify(tokens)}`);
          }
          fake.rotateTokens(tokens as string[]);
          return reply({ tokens: tokens.length });
        }
        case "POST /faults/throttle": {
          const b = body();
          const o: Parameters<FakeApiServer["throttle"]>[0] = {};
          const count = num(b.count, "count");
          const rate = num(b.rate, "rate");
          const ra = num(b.retryAfterSeconds, "retryAfterSeconds");
          if (count !== undefined) o.count = count;
          if (rate !== undefined) o.rate = rate;
          if (ra !== undefined) o.retryAfterSeconds = ra;
          fake.throttle(o);
          return reply({ ok: true });
        }
        case "POST /faults/slow": {
          const b = body();
          const delayMs = num(b.delayMs, "delayMs");
          if (delayMs === undefined) throw new Error(`"delayMs" is required`);
          const count = num(b.count, "count");
          fake.slow(count === undefined ? { delayMs } : { delayMs, count });
          return reply({ ok: true });
        }
        case "POST /faults/cut-lists":
          fake.cutLists(num(body().count, "count") ?? 1);
          return reply({ ok: true });
        case "POST /faults/clear":
          fake.clearFaults();
          return reply({ ok: true });
        case "POST /watches/drop": {
          const b = body();
          return reply({
            watches: fake.dropWatches({ ...filter(b), midEvent: b.midEvent === true }),
          });
        }
        case "POST /watches/close":
          return reply({ watches: fake.closeWatches(filter(body())) });
        case "POST /watches/hang": {
          const b = body();
          return reply({
            watches: fake.hangWatches({ ...filter(b), next: num(b.next, "next") ?? 0 }),
          });
        }
        case "POST /watches/expire": {
          const b = body();
          return reply({
            watches: fake.expireWatches({ ...filter(b), next: num(b.next, "next") ?? 0 }),
          });
        }
        case "POST /gone-storm":
          return reply({ watches: fake.goneStorm({ next: num(body().next, "next") ?? 10 }) });
        case "POST /bookmarks": {
          const ms = num(body().intervalMs, "intervalMs");
          if (ms === undefined) throw new Error(`"intervalMs" is required`);
          fake.setBookmarkInterval(ms);
          return reply({ ok: true });
        }
        case "POST /churn": {
          const b = body();
          const eventsPerSecond = num(b.eventsPerSecond, "eventsPerSecond");
          const durationMs = num(b.durationMs, "durationMs");
          if (eventsPerSecond === undefined || durationMs === undefined) {
            throw new Error(`"eventsPerSecond" and "durationMs" are required`);
          }
          const ns = str(b.namespace, "namespace");
          lastChurn = fake.churn(
            ns === undefined
              ? { eventsPerSecond, durationMs }
              : { eventsPerSecond, durationMs, namespace: ns },
          );
          if (b.wait === true) return reply(await lastChurn.done);
          return reply(lastChurn.progress());
        }
        case "GET /requests": {
          // ?since=SEQ gives the requests after that sequence number.
          const since = Number(url.searchParams.get("since") ?? "0");
          return reply(fake.requests.filter((r) => r.seq > since));
        }
        case "POST /save": {
          const b = body();
          const path = str(b.path, "path");
          return reply({ saved: await fake.save(path), resourceVersion: fake.rv });
        }
        case "GET /churn":
          return reply(lastChurn?.progress() ?? null);
        case "POST /churn/stop":
          lastChurn?.stop();
          return reply(lastChurn?.progress() ?? null);
        case "POST /restart": {
          const downMs = num(body().downMs, "downMs") ?? 0;
          // Answer first: the restart breaks this very listener when it is the API's.
          setTimeout(() => {
            fake.restart(downMs).catch((err) =>
              console.error(`Cannot restart the fake API server: ${err}`)
            );
          }, 10);
          return reply({ restartingInMs: 10, downMs });
        }
        case "POST /stop":
          setTimeout(() => {
            fake.stop().catch((err) => console.error(`Cannot stop the fake API server: ${err}`));
          }, 10);
          return reply({ stoppingInMs: 10 });
        case "POST /start":
          await fake.start();
          return reply({ running: fake.running, url: fake.url });
      }
      if (method === "DELETE" && path.startsWith("/crds/")) {
        fake.uninstallCrd(decodeURIComponent(path.slice("/crds/".length)));
        return reply({ ok: true });
      }
      return reply({
        error: `Unknown admin endpoint: ${method} /_fake${path}: see docs/fake_apiserver.md`,
      }, 404);
    } catch (err) {
      return reply({ error: err instanceof Error ? err.message : String(err) }, 400);
    }
  };
}

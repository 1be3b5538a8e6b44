import { assert, assertEquals } from "../../test/assert.ts";
import { FakeClock } from "../clock.ts";
import { KubeClient, type ResourceType } from "./client.ts";
import {
  compactVersion,
  keyOf,
  Reflector,
  type ReflectorChange,
  type ReflectorClient,
  type ReflectorOptions,
} from "./reflector.ts";
import { ApiError, KubeNetworkError } from "./errors.ts";
import {
  json,
  podObject,
  PODS,
  type SeenRequest,
  startTestServer,
  status,
  type TestServer,
  until,
} from "./_test_server.ts";
import type { KubeObject } from "./watch_stream.ts";

/** A list handler over `items` with pagination, at `rv`. */
function listOf(req: SeenRequest, items: Record<string, unknown>[], rv: string): Response {
  const from = Number(req.query.get("continue") ?? "0");
  const limit = Number(req.query.get("limit") ?? items.length);
  const next = from + limit < items.length ? String(from + limit) : undefined;
  return json({
    kind: "PodList",
    apiVersion: "v1",
    metadata: { resourceVersion: rv, ...(next !== undefined ? { continue: next } : {}) },
    items: items.slice(from, from + limit),
  });
}

const isWatch = (req: SeenRequest) => req.query.get("watch") === "1";
const watches = (server: TestServer) => server.requests.filter(isWatch);
const lists = (server: TestServer) => server.requests.filter((r) => !isWatch(r));
const brief = (changes: ReflectorChange<KubeObject>[]) =>
  changes.map((c) => `${c.type} ${c.key}@${c.object.metadata.resourceVersion}`);

interface Harness {
  server: TestServer;
  clock: FakeClock;
  reflector: Reflector<KubeObject>;
  changes: ReflectorChange<KubeObject>[][];
  errors: unknown[];
}

async function withReflector(
  handler: (req: SeenRequest, server: TestServer) => Response | Promise<Response>,
  fn: (h: Harness) => Promise<void>,
  options: ReflectorOptions<KubeObject> = {},
): Promise<void> {
  const server = startTestServer(handler);
  const clock = new FakeClock();
  const client = new KubeClient(server.connection, { clock });
  const changes: ReflectorChange<KubeObject>[][] = [];
  const errors: unknown[] = [];
  const reflector = new Reflector<KubeObject>(client, PODS, {
    clock,
    random: () => 0.999,
    pageSize: 2,
    onChange: (c) => changes.push(c),
    onError: (e) => errors.push(e),
    ...options,
  });
  try {
    reflector.start();
    await fn({ server, clock, reflector, changes, errors });
  } finally {
    await reflector.stop();
    client.close();
    await server.close();
  }
}

Deno.test("a reflector lists page by page, then watches from the list's version", async () => {
  const items = ["a", "b", "c"].map((n, i) => podObject(n, String(i + 1)));
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, items, "10");
    const s = server.stream();
    s.event("ADDED", podObject("d", "11"));
    s.event("MODIFIED", podObject("a", "12"));
    s.event("DELETED", podObject("b", "13"));
    return s.response;
  }, async ({ server, reflector, changes }) => {
    await reflector.synced;
    await until(() => changes.length === 4, "the watch's three events");
    assertEquals(lists(server).map((r) => r.query.toString()), ["limit=2", "limit=2&continue=2"]);
    const q = watches(server)[0]!.query;
    assertEquals([q.get("resourceVersion"), q.get("allowWatchBookmarks")], ["10", "true"]);
    assertEquals(Number(q.get("timeoutSeconds")) >= 300, true);
    assertEquals(brief(changes[0]!), [
      "added default/a@1",
      "added default/b@2",
      "added default/c@3",
    ]);
    assertEquals(changes.slice(1).map(brief), [
      ["added default/d@11"],
      ["modified default/a@12"],
      ["deleted default/b@2"],
    ]);
    assertEquals(reflector.items().map(keyOf).sort(), ["default/a", "default/c", "default/d"]);
    const st = reflector.status();
    assertEquals([st.synced, st.watching, st.objects, st.resourceVersion], [true, true, 3, "13"]);
  });
});

Deno.test("a reflector re-watches from the last bookmark after a clean end, not sooner than 1 s", async () => {
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [podObject("a", "1")], "5");
    const s = server.stream();
    if (watches(server).length === 1) {
      s.event("BOOKMARK", { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: "40" } });
    }
    s.end();
    return s.response;
  }, async ({ server, clock, reflector, changes }) => {
    await reflector.synced;
    await until(() => watches(server).length === 1, "the first watch");
    await new Promise((resolve) => setTimeout(resolve, 30)); // its clean end is seen
    assertEquals(watches(server).length, 1);
    await clock.tick(999);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(watches(server).length, 1, "no watch before the minimum interval");
    await clock.tick(1);
    await until(() => watches(server).length === 2, "the second watch");
    assertEquals(watches(server)[1]!.query.get("resourceVersion"), "40");
    assertEquals(lists(server).length, 1);
    assertEquals(changes.length, 1, "a bookmark changes nothing");
    // A clean end is a reconnect, not an error.
    assertEquals([reflector.status().reconnects >= 1, reflector.status().errors], [true, 0]);
  });
});

Deno.test("a server that ends every watch at once gets one watch per second of clock", async () => {
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [], "5");
    const s = server.stream();
    s.end();
    return s.response;
  }, async ({ server, clock, reflector }) => {
    await reflector.synced;
    for (let i = 0; i < 100; i++) {
      await clock.tick(100);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    // 10 s of clock: the first watch at once, then at most one per second.
    const n = watches(server).length;
    assert(n >= 9 && n <= 11, `expected about 11 watches in 10 s, got ${n}`);
  });
});

Deno.test("a 410 relists and reports only the difference against the cache", async () => {
  let phase = 1;
  await withReflector((req, server) => {
    if (!isWatch(req)) {
      return phase === 1
        ? listOf(req, [podObject("a", "1"), podObject("b", "2"), podObject("c", "3")], "10")
        : listOf(req, [podObject("a", "1"), podObject("b", "25"), podObject("d", "26")], "30");
    }
    const s = server.stream();
    if (phase === 1) {
      phase = 2;
      s.event("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" });
    }
    s.end();
    return s.response;
  }, async ({ server, clock, reflector, changes }) => {
    await reflector.synced;
    await until(() => reflector.status().lastError !== undefined, "the 410");
    assertEquals(reflector.status().lastError?.message.includes("410 Expired"), true);
    await clock.tick(1_000); // the backoff of one failure (random 0.999: ~1 s)
    await until(() => lists(server).length >= 3, "the relist");
    await until(() => changes.length === 2, "the relist's changes");
    assertEquals(brief(changes[1]!), [
      "modified default/b@25",
      "added default/d@26",
      "deleted default/c@3",
    ]);
    const st = reflector.status();
    assertEquals([st.relists, st.resourceVersion, st.objects, st.errors], [1, "30", 3, 1]);
    // The unchanged object is the very object handed out before.
    assert(changes[0]!.find((c) => c.key === "default/a")!.object === reflector.get("default/a"));
    await clock.tick(1_000);
    await until(() => watches(server).length === 2, "the watch from the relist");
    assertEquals(watches(server)[1]!.query.get("resourceVersion"), "30");
  });
});

Deno.test("a value that keeps its version is cached alone, and a 410's relist compares that version", async () => {
  let phase = 1;
  const server = startTestServer((req, server) => {
    if (!isWatch(req)) {
      return phase === 1
        ? listOf(req, [podObject("a", "1"), podObject("b", "2"), podObject("c", "x")], "10")
        : listOf(req, [podObject("a", "1"), podObject("b", "25"), podObject("c", "x")], "30");
    }
    const s = server.stream();
    if (phase === 1) {
      phase = 2;
      s.event("MODIFIED", podObject("a", "7"));
      s.event("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" });
    }
    s.end();
    return s.response;
  });
  const clock = new FakeClock();
  const client = new KubeClient(server.connection, { clock });
  interface Kept {
    name: string;
    version: string | number;
  }
  const changes: ReflectorChange<Kept>[][] = [];
  const reflector = new Reflector<Kept>(client, PODS, {
    clock,
    random: () => 0.999,
    transform: (o, version) => ({ name: o.metadata.name!, version }),
    versionOf: (kept) => kept.version,
    onChange: (c) => changes.push(c),
  });
  try {
    reflector.start();
    await reflector.synced;
    await until(() => changes.length === 2, "the watch's event");
    assertEquals(reflector.get("default/a"), { name: "a", version: 7 });
    assertEquals(reflector.get("default/c"), { name: "c", version: "x" });
    const before = reflector.get("default/c");
    await clock.tick(1_000);
    await until(() => changes.length === 3, "the relist's changes");
    // a went back to 1 (a version that differs from the kept 7), b changed; c is the same object.
    assertEquals(
      changes[2]!.map((c) => `${c.type} ${c.key}@${c.object.version}<${c.previous?.version}`),
      ["modified default/a@1<7", "modified default/b@25<2"],
    );
    assert(reflector.get("default/c") === before);
    assertEquals(reflector.items().map((k) => k.name).sort(), ["a", "b", "c"]);
  } finally {
    await reflector.stop();
    client.close();
    await server.close();
  }
});

Deno.test("a 429 waits the server's Retry-After before trying again", async () => {
  await withReflector((req, server) => {
    if (lists(server).length === 1) {
      return status(429, "TooManyRequests", "slow down", { "retry-after": "7" });
    }
    return isWatch(req) ? new Response(null, { status: 200 }) : listOf(req, [], "3");
  }, async ({ server, clock, reflector, errors }) => {
    await until(() => errors.length === 1, "the 429");
    await clock.tick(6_900);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(lists(server).length, 1);
    await clock.tick(100);
    await reflector.synced;
    assertEquals(lists(server).length, 2);
  });
});

Deno.test("failures back off exponentially with jitter, up to 30 s", async () => {
  await withReflector(
    () => status(500, "InternalError", "etcd is down"),
    async ({ server, clock }) => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        await until(() => server.requests.length === i + 1, `attempt ${i + 1}`);
        times.push(clock.now());
        await clock.tick(clock.nextAt()! - clock.now());
      }
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      // random() is 0.999: each delay is just under the doubled base.
      assertEquals(gaps, [1000, 1999, 3998, 7996, 15992, 29985]);
    },
  );
});

Deno.test("a kind whose CRD is missing is reported, counted as synced and retried slowly", async () => {
  let installed = false;
  await withReflector((req, server) => {
    if (!installed) {
      return status(404, "NotFound", "the server could not find the requested resource");
    }
    if (!isWatch(req)) return listOf(req, [podObject("sg", "8")], "8");
    return server.stream().response;
  }, async ({ server, clock, reflector, changes }) => {
    await reflector.synced;
    const st = reflector.status();
    assertEquals([st.synced, st.missing, st.objects], [true, true, 0]);
    // Soon at first (a starting API server serves its CRDs within seconds), then every minute.
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      await until(() => server.requests.length === i + 1, `attempt ${i + 1}`);
      times.push(clock.now());
      await clock.tick(clock.nextAt()! - clock.now());
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assertEquals(gaps, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    await until(() => server.requests.length === 10, "attempt 10");
    installed = true;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await clock.tick(clock.nextAt()! - clock.now());
    await until(() => changes.length === 1, "the kind's objects");
    assertEquals(brief(changes[0]!), ["added default/sg@8"]);
    assertEquals(reflector.status().missing, false);
  }, { pageSize: 500 });
});

Deno.test("a CRD not served at the first list is asked for again within a second", async () => {
  // Nodes and control plane restarting together: the API server answers 404 for custom
  // resources until it has read their CRDs; a minute without SecurityGroups would leave the
  // pods they isolate open for that minute.
  let served = false;
  await withReflector((req, server) => {
    if (!served) {
      served = true;
      return status(404, "NotFound", "the server could not find the requested resource");
    }
    if (!isWatch(req)) return listOf(req, [podObject("sg", "8")], "8");
    return server.stream().response;
  }, async ({ clock, reflector, changes }) => {
    await reflector.synced;
    assertEquals(reflector.status().missing, true);
    await clock.tick(1_000);
    await until(() => changes.length === 1, "the kind's objects");
    assertEquals(reflector.status().missing, false);
  }, { pageSize: 500 });
});

Deno.test("a hung watch is renewed from the last version after the idle timeout", async () => {
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [], "5");
    const s = server.stream();
    if (watches(server).length === 1) s.event("ADDED", podObject("a", "6"));
    return s.response; // never ends, never writes again
  }, async ({ server, clock, reflector, errors }) => {
    await until(() => reflector.items().length === 1, "the first event");
    await clock.tick(30_000);
    await until(() => errors.length === 1, "the idle timeout");
    assertEquals(String(errors[0]).includes("went silent: no data for 30 s"), true);
    await clock.tick(1_000);
    await until(() => watches(server).length === 2, "the second watch");
    assertEquals(watches(server)[1]!.query.get("resourceVersion"), "6");
    assertEquals(lists(server).length, 1, "no relist for a hung stream");
    assertEquals(reflector.items().length, 1, "the cache is kept");
  }, { idleTimeoutMs: 30_000 });
});

Deno.test("a watch cut inside an event resumes from the last whole event, losing nothing", async () => {
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [], "5");
    const s = server.stream();
    const from = req.query.get("resourceVersion");
    if (from === "5") {
      s.event("ADDED", podObject("a", "6"));
      s.write(JSON.stringify({ type: "ADDED", object: podObject("b", "7") }).slice(0, 40));
      s.end(); // the connection ends in the middle of b's event
    } else if (from === "6") {
      s.event("ADDED", podObject("b", "7"));
    }
    return s.response;
  }, async ({ server, clock, reflector, changes, errors }) => {
    await until(() => errors.length === 1, "the cut");
    assertEquals(String(errors[0]).includes("ended inside an event"), true);
    await clock.tick(1_000);
    await until(() => changes.length === 2, "b from the second watch");
    assertEquals(watches(server).map((r) => r.query.get("resourceVersion")), ["5", "6"]);
    assertEquals(reflector.items().map(keyOf).sort(), ["default/a", "default/b"]);
    assertEquals(lists(server).length, 1);
  });
});

Deno.test("transform keeps only what is used before caching", async () => {
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [podObject("a", "1")], "1");
    return server.stream().response;
  }, async ({ reflector }) => {
    await reflector.synced;
    const kept = reflector.get("default/a")!;
    assertEquals(kept.metadata.managedFields, undefined);
    assertEquals(kept.metadata.name, "a");
  }, {
    transform: (o) =>
      ({
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
      }) as KubeObject,
  });
});

Deno.test("a 404 for a kind already listed keeps its objects: a CRD briefly not served deletes nothing", async () => {
  // A restarting API server answers 404 for custom resources until its CRD informer has synced;
  // a real CRD deletion deletes every object first, and the watch reports those deletes.
  let served = true;
  await withReflector((req, server) => {
    if (!served) return status(404, "NotFound", "the server could not find the requested resource");
    if (!isWatch(req)) return listOf(req, [podObject("sg", "8"), podObject("sg2", "9")], "9");
    const s = server.stream();
    s.end();
    served = false;
    return s.response;
  }, async ({ server, clock, reflector, changes }) => {
    await reflector.synced;
    await clock.tick(1_000);
    await until(() => reflector.status().missing, "the 404");
    assertEquals(changes.length, 1, "no change for a 404");
    const st = reflector.status();
    assertEquals([st.synced, st.missing, st.objects], [true, true, 2]);
    served = true;
    const before = server.requests.length;
    await clock.tick(60_000);
    await until(() => lists(server).length === 2, "the relist");
    await until(() => server.requests.length > before + 1, "the watch after it");
    assertEquals(changes.length, 1, "the same objects again change nothing");
    assertEquals(reflector.status().missing, false);
    assertEquals(reflector.items().map(keyOf).sort(), ["default/sg", "default/sg2"]);
  }, { pageSize: 500 });
});

Deno.test("a watch that worked before it broke ends the run of failures: the next retry is soon", async () => {
  // A proxy or load balancer that cuts long connections breaks every watch after minutes of
  // events; each cut is one failure, not the next step of an ever longer backoff.
  let rv = 5;
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [], "5");
    const s = server.stream();
    s.event("ADDED", podObject(`p${rv}`, String(++rv)));
    setTimeout(() => s.fail(), 5);
    return s.response;
  }, async ({ server, clock, errors }) => {
    for (let i = 1; i <= 6; i++) {
      await until(() => errors.length === i, `cut ${i}`);
      // Every retry within the first step of the backoff (1 s with random 0.999).
      await clock.tick(1_000);
      await until(() => watches(server).length === i + 1, `watch ${i + 1}`);
    }
    assertEquals(lists(server).length, 1);
  });
});

Deno.test("a 410 storm keeps backing off: a watch whose first event is the ERROR is no success", async () => {
  const errors: unknown[] = [];
  const retries: number[] = [];
  await withReflector((req, server) => {
    if (!isWatch(req)) return listOf(req, [], "5");
    const s = server.stream();
    s.event("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" });
    s.end();
    return s.response;
  }, async ({ server, clock }) => {
    const times: number[] = [];
    for (let i = 1; i <= 4; i++) {
      await until(() => errors.length === i, `410 number ${i}`);
      times.push(clock.now());
      // The backoff's sleep is set in the same turn as the error is told: tick through it.
      await clock.tick(retries[i - 1]!);
      await until(() => lists(server).length === i + 1, `relist ${i}`);
      // The watch after the relist waits out what is left of the 1 s between watches, if any:
      // that wait is set once the list's answer is read, so wait for it or for the watch.
      const pause = () => {
        const next = clock.nextAt();
        return next !== undefined && next - clock.now() <= 1_000 ? next - clock.now() : undefined;
      };
      await until(() => errors.length > i || pause() !== undefined, `watch ${i + 1}`);
      const left = pause();
      if (errors.length === i && left !== undefined) await clock.tick(left);
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert(gaps[2]! > gaps[0]! * 2, `the backoff did not grow: ${gaps}`);
  }, { onError: (e, ms) => void (errors.push(e), retries.push(ms)) });
});

/** A client whose server is out of reach while `state.down`; else empty lists, quiet watches. */
function flakyClient(state: { down: boolean; refuse?: boolean }, calls: string[]): ReflectorClient {
  const fail = (what: string) => {
    if (state.refuse) {
      throw new ApiError({
        code: 503,
        reason: "ServiceUnavailable",
        message: "shutting down",
        request: what,
      });
    }
    throw new KubeNetworkError(`Cannot reach the Kubernetes API server: ${what}: refused`);
  };
  return {
    listAll: ((type: ResourceType) => {
      calls.push(`list ${type.kind}`);
      try {
        if (state.down) fail("list");
      } catch (err) {
        return Promise.reject(err);
      }
      return Promise.resolve({ items: [], resourceVersion: "1", pages: 1 });
    }) as unknown as ReflectorClient["listAll"],
    watch: async function* (
      type: ResourceType,
      options: { signal?: AbortSignal; onOpen?: () => void },
    ) {
      calls.push(`watch ${type.kind}`);
      if (state.down) fail("watch");
      options.onOpen?.();
      // Open and quiet until the reflector stops: no event ever comes.
      const never = await new Promise<undefined>((resolve) => {
        if (options.signal?.aborted) resolve(undefined);
        options.signal?.addEventListener("abort", () => resolve(undefined), { once: true });
      });
      if (never !== undefined) yield never;
    } as unknown as ReflectorClient["watch"],
  };
}

Deno.test("when one kind reaches the server again, retryNow() ends the others' network backoff", async () => {
  const clock = new FakeClock();
  const state = { down: true };
  const calls: string[] = [];
  const client = flakyClient(state, calls);
  const nodes = { ...PODS, kind: "Node", plural: "nodes", namespaced: false };
  let failures = 0;
  let reachable = 0;
  const b = new Reflector(client, nodes, {
    clock,
    random: () => 0.999,
    onError: () => failures++,
  });
  const a = new Reflector(client, PODS, {
    clock,
    random: () => 0, // a's waits are half of b's: a comes back first
    onError: () => failures++,
    onReachable: () => {
      reachable++;
      b.retryNow();
    },
  });
  try {
    a.start();
    b.start();
    await until(() => failures === 2, "both first lists failed");
    // A few more failures: b's wait grows to ~8 s, a's to ~4 s.
    while (failures < 8) {
      const n = failures;
      await clock.tick(clock.nextAt()! - clock.now());
      await until(() => failures > n, `failure ${n + 1}`);
    }
    state.down = false;
    const lists = () => calls.filter((c) => c === "list Node").length;
    const before = lists();
    // Only up to a's attempt: b's own wait (twice a's) has not run out when it lists.
    await clock.tick(clock.nextAt()! - clock.now());
    await until(() => a.status().synced && b.status().synced, "b's list, at once after a's");
    assertEquals([lists(), reachable], [before + 1, 1]);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("retryNow() keeps a wait after a refusal: only an unreachable server is retried early", async () => {
  const clock = new FakeClock();
  const state = { down: true, refuse: true };
  const calls: string[] = [];
  const r = new Reflector(flakyClient(state, calls), PODS, { clock, random: () => 0.999 });
  try {
    r.start();
    await until(() => r.status().lastError !== undefined, "the 503");
    state.down = false;
    r.retryNow();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(calls, ["list Pod"], "no retry before the backoff ran out");
    await clock.tick(1_000);
    await until(() => r.status().synced, "the retry after the backoff");
  } finally {
    await r.stop();
  }
});

Deno.test("compactVersion() keeps canonical integers as numbers and every other text as it is", () => {
  assertEquals(compactVersion("165054"), 165054);
  assertEquals(compactVersion("999999999999999"), 999_999_999_999_999);
  for (const text of ["", "0", "007", "1e3", "12a", " 12", "1234567890123456", "-1"]) {
    assertEquals(compactVersion(text), text);
  }
  // Two texts never compact to the same value.
  assertEquals(compactVersion("10") === compactVersion("010"), false);
});

import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { FakeClock } from "../clock.ts";
import { ApiError, KubeNetworkError } from "./errors.ts";
import {
  KubeClient,
  LIST_RESTARTS,
  resourcePath,
  type ResourceType,
  WatchIdleError,
} from "./client.ts";
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
import type { KubeConnection } from "./kubeconfig.ts";
import type { KubeObject, WatchEvent } from "./watch_stream.ts";
import { startFakeApiServer } from "../../test/fake_apiserver/server.ts";

const NETPOL: ResourceType = {
  group: "networking.k8s.io",
  version: "v1",
  plural: "networkpolicies",
  kind: "NetworkPolicy",
  namespaced: true,
};

async function withServer(
  handler: (req: SeenRequest, server: TestServer) => Response | Promise<Response>,
  fn: (server: TestServer) => Promise<void>,
): Promise<void> {
  const server = startTestServer(handler);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function podList(names: string[], rv: string, next?: string) {
  return json({
    kind: "PodList",
    apiVersion: "v1",
    metadata: { resourceVersion: rv, ...(next !== undefined ? { continue: next } : {}) },
    items: names.map((n, i) => podObject(n, String(i + 1))),
  });
}

Deno.test("resourcePath() builds core, group, namespaced and cluster-wide paths", () => {
  assertEquals(resourcePath(PODS), "/api/v1/pods");
  assertEquals(
    resourcePath(PODS, "kube-system", "coredns"),
    "/api/v1/namespaces/kube-system/pods/coredns",
  );
  assertEquals(
    resourcePath(NETPOL, "a"),
    "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies",
  );
  const nodes: ResourceType = {
    group: "",
    version: "v1",
    plural: "nodes",
    kind: "Node",
    namespaced: false,
  };
  assertEquals(resourcePath(nodes, "ignored", "n1"), "/api/v1/nodes/n1");
});

Deno.test("listAll() pages with limit and continue and keeps the list's resourceVersion", async () => {
  const all = ["a", "b", "c", "d", "e"];
  await withServer((req) => {
    const from = Number(req.query.get("continue") ?? "0");
    const limit = Number(req.query.get("limit"));
    const next = from + limit < all.length ? String(from + limit) : undefined;
    return podList(all.slice(from, from + limit), "90", next);
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const out = await client.listAll<{ metadata: { name: string } }, string>(PODS, {
        pageSize: 2,
        map: (p) => p.metadata.name,
      });
      assertEquals(out, { items: all, resourceVersion: "90", pages: 3 });
      assertEquals(
        server.requests.map((r) => `${r.path}?${r.query}`),
        [
          "/api/v1/pods?limit=2",
          "/api/v1/pods?limit=2&continue=2",
          "/api/v1/pods?limit=2&continue=4",
        ],
      );
    } finally {
      client.close();
    }
  });
});

Deno.test("listAll() pages again from a fresh snapshot when a continue token expires (410), never unpaged", async () => {
  let expire = 1;
  await withServer((req) => {
    if (req.query.get("continue") === "tok") {
      if (expire-- > 0) return status(410, "Expired", "The provided continue parameter is too old");
      return podList(["c"], "77");
    }
    return podList(["a", "b"], "77", "tok");
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const out = await client.listAll(PODS, { pageSize: 2 });
      assertEquals(out.items.map((p) => p.metadata.name), ["a", "b", "c"]);
      assertEquals(out.resourceVersion, "77");
      assertEquals(server.requests.map((r) => r.query.toString()), [
        "limit=2",
        "limit=2&continue=tok",
        "limit=2",
        "limit=2&continue=tok",
      ]);
    } finally {
      client.close();
    }
  });
});

Deno.test("listAll() gives up after LIST_RESTARTS expired snapshots in a row and throws the 410", async () => {
  await withServer((req) => {
    if (req.query.get("continue") === "tok") {
      return status(410, "Expired", "The provided continue parameter is too old");
    }
    return podList(["a", "b"], "50", "tok");
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const err = await assertRejects(() => client.listAll(PODS, { pageSize: 2 }), ApiError);
      assertEquals([err.code, err.expired], [410, true]);
      assertEquals(server.requests.length, 2 * (LIST_RESTARTS + 1));
      assert(server.requests.every((r) => r.query.get("limit") === "2"), "every request paged");
    } finally {
      client.close();
    }
  });
});

Deno.test("get(), create(), patch() and delete() send the right requests and decode errors", async () => {
  await withServer((req) => {
    if (req.method === "GET") return status(404, "NotFound", 'pods "x" not found');
    if (req.method === "POST") return status(409, "AlreadyExists", 'pods "web" already exists');
    if (req.method === "PATCH") {
      return json({ ...podObject("web", "9"), patched: JSON.parse(req.body) });
    }
    return json({ kind: "Status", status: "Success" });
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const missing = await assertRejects(
        () => client.get(PODS, "x", { namespace: "default" }),
        ApiError,
      );
      assertEquals([missing.notFound, missing.reason], [true, "NotFound"]);
      const exists = await assertRejects(
        () => client.create(PODS, podObject("web", "1"), { namespace: "default" }),
        ApiError,
        "409 AlreadyExists",
      );
      assertEquals(exists.reason, "AlreadyExists");
      const patched = await client.patch<{ patched: unknown }>(
        PODS,
        "web",
        { metadata: { annotations: { "tern.dev/pod-ips": "10.0.0.5" } } },
        { namespace: "default" },
      );
      assertEquals(patched.patched, {
        metadata: { annotations: { "tern.dev/pod-ips": "10.0.0.5" } },
      });
      await client.delete(PODS, "web", { namespace: "default" });
      const [get, post, patch, del] = server.requests;
      assertEquals(get!.path, "/api/v1/namespaces/default/pods/x");
      assertEquals([post!.method, post!.headers.get("content-type")], ["POST", "application/json"]);
      assertEquals(
        [patch!.method, patch!.headers.get("content-type")],
        ["PATCH", "application/merge-patch+json"],
      );
      assertEquals([del!.method, del!.path], ["DELETE", "/api/v1/namespaces/default/pods/web"]);
    } finally {
      client.close();
    }
  });
});

Deno.test("delete() sends its preconditions as a DeleteOptions body", async () => {
  await withServer(
    () => json({ kind: "Status", status: "Success" }),
    async (server) => {
      const client = new KubeClient(server.connection);
      try {
        await client.delete(PODS, "web", {
          namespace: "default",
          preconditions: { uid: "u1", resourceVersion: "42" },
        });
        const [del] = server.requests;
        assertEquals(del!.headers.get("content-type"), "application/json");
        assertEquals(JSON.parse(del!.body), {
          apiVersion: "v1",
          kind: "DeleteOptions",
          preconditions: { uid: "u1", resourceVersion: "42" },
        });
      } finally {
        client.close();
      }
    },
  );
});

Deno.test("a 429 carries the server's Retry-After", async () => {
  await withServer(
    () => status(429, "TooManyRequests", "too many requests", { "retry-after": "4" }),
    async (server) => {
      const client = new KubeClient(server.connection);
      try {
        const err = await assertRejects(() => client.list(PODS), ApiError);
        assertEquals([err.code, err.reason, err.retryAfterSeconds], [429, "TooManyRequests", 4]);
      } finally {
        client.close();
      }
    },
  );
});

Deno.test("an unreachable server is a KubeNetworkError naming it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = new KubeClient({
    server: `http://127.0.0.1:${port}`,
    caCerts: [],
    namespace: "default",
    origin: "test",
  });
  try {
    await assertRejects(
      () => client.list(PODS),
      KubeNetworkError,
      `Cannot reach the Kubernetes API server http://127.0.0.1:${port} (test)`,
    );
  } finally {
    client.close();
  }
});

Deno.test("a 401 after the token rotated re-reads the token file and retries once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-kube-token-" });
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, "old\n");
  let accepted = "old";
  await withServer((req) => {
    return req.headers.get("authorization") === `Bearer ${accepted}`
      ? podList([], "1")
      : status(401, "Unauthorized", "Unauthorized");
  }, async (server) => {
    const clock = new FakeClock();
    const connection: KubeConnection = { ...server.connection, tokenFile };
    const client = new KubeClient(connection, { clock });
    try {
      await client.list(PODS);
      // The kubelet rotates the token; the client's 60 s check interval has not passed.
      accepted = "new";
      await Deno.writeTextFile(`${dir}/token.tmp`, "new\n");
      await Deno.rename(`${dir}/token.tmp`, tokenFile);
      await client.list(PODS);
      assertEquals(
        server.requests.map((r) => r.headers.get("authorization")),
        ["Bearer old", "Bearer old", "Bearer new"],
      );
      // A token that is refused and did not change is not retried.
      accepted = "newer";
      await assertRejects(() => client.list(PODS), ApiError, "401 Unauthorized");
      assertEquals(server.requests.length, 4);
    } finally {
      client.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("a changed token file is picked up at the next check without a 401", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-kube-token-" });
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, "one");
  await withServer(() => podList([], "1"), async (server) => {
    const clock = new FakeClock();
    const client = new KubeClient({ ...server.connection, tokenFile }, {
      clock,
      tokenCheckMs: 60_000,
    });
    try {
      await client.list(PODS);
      await Deno.writeTextFile(tokenFile, "two-longer");
      await client.list(PODS); // within the check interval: the cached token
      await clock.tick(60_000);
      await client.list(PODS);
      assertEquals(
        server.requests.map((r) => r.headers.get("authorization")),
        ["Bearer one", "Bearer one", "Bearer two-longer"],
      );
    } finally {
      client.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("watch() asks for bookmarks and a server timeout and yields events as they stream", async () => {
  await withServer((_req, server) => {
    const s = server.stream();
    s.write(
      JSON.stringify({ type: "ADDED", object: podObject("a", "11") }) + "\n" +
        JSON.stringify({ type: "MODIFIED", object: podObject("a", "12") }).slice(0, 25),
    );
    return s.response;
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const seen: WatchEvent[] = [];
      const done = (async () => {
        for await (const e of client.watch(PODS, { resourceVersion: "10", timeoutSeconds: 42 })) {
          seen.push(e);
        }
      })();
      await until(() => seen.length === 1, "the first event");
      const s = server.streams[0]!;
      s.write(JSON.stringify({ type: "MODIFIED", object: podObject("a", "12") }).slice(25) + "\n");
      s.event("BOOKMARK", { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: "15" } });
      s.end();
      await done;
      assertEquals(
        seen.map((e) =>
          `${e.type} ${(e.object.metadata as { resourceVersion?: string }).resourceVersion}`
        ),
        [
          "ADDED 11",
          "MODIFIED 12",
          "BOOKMARK 15",
        ],
      );
      const q = server.requests[0]!.query;
      assertEquals(
        [
          q.get("watch"),
          q.get("resourceVersion"),
          q.get("allowWatchBookmarks"),
          q.get("timeoutSeconds"),
        ],
        ["1", "10", "true", "42"],
      );
    } finally {
      client.close();
    }
  });
});

Deno.test("watch() notices a hung stream with its idle timeout on the clock", async () => {
  await withServer((_req, server) => {
    const s = server.stream();
    s.event("ADDED", podObject("a", "11"));
    return s.response; // and then nothing, never closed
  }, async (server) => {
    const clock = new FakeClock();
    const client = new KubeClient(server.connection, { clock });
    try {
      const seen: string[] = [];
      const done = (async () => {
        for await (
          const e of client.watch(PODS, { resourceVersion: "10", idleTimeoutMs: 30_000 })
        ) {
          seen.push(e.type);
        }
      })();
      await until(() => seen.length === 1, "the first event");
      await clock.tick(29_000);
      assertEquals(server.streams[0]!.closed, false);
      await clock.tick(1_000);
      const err = await assertRejects(() => done, WatchIdleError, "no data for 30 s");
      assertEquals(err instanceof KubeNetworkError, true);
    } finally {
      client.close();
    }
  });
});

Deno.test("watch() throws the server's refusal and yields an ERROR event's Status", async () => {
  let calls = 0;
  await withServer((_req, server) => {
    if (calls++ === 0) return status(403, "Forbidden", 'pods is forbidden: User "x" cannot watch');
    const s = server.stream();
    s.event("ERROR", {
      kind: "Status",
      code: 410,
      reason: "Expired",
      message: "too old resource version",
    });
    s.end();
    return s.response;
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const refused = await assertRejects(
        () => Array.fromAsync(client.watch(PODS, { resourceVersion: "1" })),
        ApiError,
        "403 Forbidden",
      );
      assertEquals(refused.reason, "Forbidden");
      const events = await Array.fromAsync(client.watch(PODS, { resourceVersion: "1" }));
      const first = events[0];
      assert(first?.type === "ERROR");
      assertEquals([first.error.code, first.error.expired], [410, true]);
    } finally {
      client.close();
    }
  });
});

Deno.test("watch() reports a connection cut mid-event as a network error", async () => {
  await withServer((_req, server) => {
    const s = server.stream();
    s.write(JSON.stringify({ type: "ADDED", object: podObject("a", "11") }).slice(0, 30));
    return s.response;
  }, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const done = Array.fromAsync(client.watch(PODS, { resourceVersion: "1" }));
      await until(() => server.streams.length === 1, "the watch");
      await new Promise((resolve) => setTimeout(resolve, 20));
      server.streams[0]!.end();
      await assertRejects(() => done, KubeNetworkError, "ended inside an event");
    } finally {
      client.close();
    }
  });
});

Deno.test("watch() ends with the caller's reason when the caller aborts it", async () => {
  await withServer((_req, server) => server.stream().response, async (server) => {
    const client = new KubeClient(server.connection);
    try {
      const abort = new AbortController();
      const done = Array.fromAsync(
        client.watch(PODS, { resourceVersion: "1", signal: abort.signal }),
      );
      await until(() => server.streams.length === 1, "the watch");
      abort.abort(new Error("closing"));
      await assertRejects(() => done, Error, "closing");
    } finally {
      client.close();
    }
  });
});

Deno.test("a refusal whose body stalls still fails within the request timeout", async () => {
  // An error's headers came (a proxy, an overloaded server), then no more bytes: the list must
  // not hang its reflector for ever.
  await withServer((_req, server) => {
    const s = server.stream();
    s.write('{"kind":"Status","code":500,');
    return new Response(s.response.body, { status: 500 });
  }, async (server) => {
    const clock = new FakeClock();
    const client = new KubeClient(server.connection, { clock, requestTimeoutMs: 10_000 });
    try {
      let settled = false;
      const listed = client.list(PODS).finally(() => settled = true);
      listed.catch(() => {});
      await until(() => server.streams.length === 1, "the request");
      await new Promise((resolve) => setTimeout(resolve, 30));
      await clock.tick(10_000);
      await until(() => settled, "the timeout", 1_000).catch(() => {});
      assert(settled, "the list gave up at the request timeout");
      await assertRejects(() => listed, KubeNetworkError, "did not answer");
    } finally {
      client.close();
    }
  });
});

Deno.test("a request's own timeoutMs fails it sooner than the client's, naming its seconds", async () => {
  // The block pool's writes wait in one line: a server that drops packets must cost them 10 s,
  // not the 60 s a list of 150 000 pods may need.
  await withServer((_req, server) => {
    const s = server.stream();
    s.write("{");
    return new Response(s.response.body, { status: 200 });
  }, async (server) => {
    const clock = new FakeClock();
    const client = new KubeClient(server.connection, { clock, requestTimeoutMs: 60_000 });
    try {
      const settled = new Set<string>();
      const patched = client.patch(PODS, "web", { metadata: {} }, {
        namespace: "default",
        timeoutMs: 10_000,
      }).finally(() => settled.add("patch"));
      patched.catch(() => {});
      const listed = client.list(PODS).finally(() => settled.add("list"));
      listed.catch(() => {});
      await until(() => server.streams.length === 2, "both requests");
      await new Promise((resolve) => setTimeout(resolve, 30));
      await clock.tick(9_999);
      await new Promise((resolve) => setTimeout(resolve, 30));
      assertEquals([...settled], [], "nothing gave up before 10 s");
      await clock.tick(1);
      await until(() => settled.has("patch"), "the patch's timeout", 1_000);
      await assertRejects(
        () => patched,
        KubeNetworkError,
        "did not answer PATCH /api/v1/namespaces/default/pods/web within 10 s",
      );
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert(!settled.has("list"), "the list keeps the client's 60 s");
      await clock.tick(50_000);
      await until(() => settled.has("list"), "the list's timeout", 1_000);
      await assertRejects(() => listed, KubeNetworkError, "within 60 s");
    } finally {
      client.close();
    }
  });
});

Deno.test("listAll() waits out a 429 on a page and asks for that page again, not the first", async () => {
  // At 5,000 nodes every node relists at once after an API server restart, and priority and
  // fairness answers some pages 429: starting 300 pages over at each one might never finish.
  const all = ["a", "b", "c", "d", "e"];
  let refused = 0;
  await withServer((req) => {
    const from = Number(req.query.get("continue") ?? "0");
    if (from === 2 && refused < 2) {
      refused++;
      return status(429, "TooManyRequests", "too many requests", { "retry-after": "3" });
    }
    const limit = Number(req.query.get("limit"));
    const next = from + limit < all.length ? String(from + limit) : undefined;
    return podList(all.slice(from, from + limit), "90", next);
  }, async (server) => {
    const clock = new FakeClock();
    const client = new KubeClient(server.connection, { clock });
    try {
      const listed = client.listAll<{ metadata: { name: string } }, string>(PODS, {
        pageSize: 2,
        map: (p) => p.metadata.name,
      });
      listed.catch(() => {});
      await until(() => server.requests.length === 2, "the refused page");
      await new Promise((resolve) => setTimeout(resolve, 20));
      await clock.tick(2_999);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assertEquals(server.requests.length, 2, "not before its Retry-After");
      await clock.tick(1);
      await until(() => server.requests.length === 3, "the page again");
      await new Promise((resolve) => setTimeout(resolve, 20));
      await clock.tick(3_000);
      const out = await listed;
      assertEquals(out.items, all);
      assertEquals(server.requests.map((r) => r.query.toString()), [
        "limit=2",
        "limit=2&continue=2",
        "limit=2&continue=2",
        "limit=2&continue=2",
        "limit=2&continue=4",
      ]);
    } finally {
      client.close();
    }
  });
});

Deno.test("listAll() against the fake API server: a compaction between pages restarts paging at a fresh snapshot", async () => {
  const fake = await startFakeApiServer({ checkNamespaces: false });
  const client = new KubeClient({
    server: fake.url,
    caCerts: [],
    namespace: "default",
    origin: "test",
  });
  try {
    const pod = (name: string) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "default" },
      spec: { containers: [{ name: "c", image: "busybox" }] },
    });
    for (let i = 0; i < 5; i++) fake.create(pod(`p${i}`));
    let compacted = false;
    const out = await client.listAll<KubeObject, string>(PODS, {
      pageSize: 2,
      map: (p) => {
        if (!compacted) {
          // The first page is read; the server moves on and compacts past its snapshot.
          compacted = true;
          fake.create(pod("p5"));
          fake.compact();
        }
        return p.metadata.name ?? "";
      },
    });
    assertEquals(out.items, ["p0", "p1", "p2", "p3", "p4", "p5"]);
    assertEquals(out.resourceVersion, String(fake.rv));
    const lists = fake.requests.filter((r) => r.method === "GET");
    assertEquals(lists.map((r) => r.status), [200, 410, 200, 200, 200]);
    assert(lists.every((r) => r.query.includes("limit=2")), "no unpaged list");
  } finally {
    client.close();
    await fake.close();
  }
});

/**
 * {@linkcode KubeClusterObjects} against a tiny API server stub on `Deno.serve`, written from the
 * API conventions (discovery documents, `Status` bodies with `AlreadyExists` and `Conflict`,
 * optimistic concurrency on `metadata.resourceVersion`, a `/status` subresource that the main
 * resource ignores), not from the sandbox's fake server.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { FakeClock } from "../src/clock.ts";
import { KubeApiError, KubeClusterObjects, mergeOwnedKeys } from "./cluster_objects_kube.ts";
import type { KubeObject } from "./cluster_objects.ts";

type Obj = KubeObject & { status?: unknown };

const DISCOVERY: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
  "/api/v1": [
    { name: "nodes", kind: "Node", namespaced: false },
    { name: "nodes/status", kind: "Node", namespaced: false },
    { name: "pods", kind: "Pod", namespaced: true },
    { name: "pods/status", kind: "Pod", namespaced: true },
    { name: "namespaces", kind: "Namespace", namespaced: false },
  ],
  "/apis/tern.dev/v1alpha1": [{ name: "securitygroups", kind: "SecurityGroup", namespaced: false }],
};

/** The stub: objects by path, a resourceVersion counter, a log of requests, hooks for faults. */
class Stub {
  readonly objects = new Map<string, Obj>();
  readonly log: string[] = [];
  /** Runs before each request; a Response returned is the answer. */
  before?: (req: Request, path: string) => Response | undefined;
  #rv = 100;
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Changes a stored object as another writer would (a new resourceVersion). */
  touch(path: string, change: (o: Obj) => void) {
    const o = structuredClone(this.objects.get(path)!);
    change(o);
    o.metadata.resourceVersion = String(++this.#rv);
    this.objects.set(path, o);
  }

  async close() {
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    this.log.push(`${req.method} ${path}${url.search}`);
    if (req.headers.get("authorization") !== "Bearer t0ken") {
      return status(401, "Unauthorized", "no valid token");
    }
    const hooked = this.before?.(req, path);
    if (hooked) return hooked;
    if (DISCOVERY[path]) return json(200, { kind: "APIResourceList", resources: DISCOVERY[path] });
    const sub = path.endsWith("/status");
    const item = sub ? path.slice(0, -"/status".length) : path;
    const text = await req.text();
    const body = text ? JSON.parse(text) as Obj : undefined;
    const existing = this.objects.get(item);
    const hasStatus = /\/(pods|nodes)\//.test(item);
    switch (req.method) {
      case "POST": {
        const at = `${path}/${body!.metadata.name}`;
        if (this.objects.has(at)) return status(409, "AlreadyExists", `${at} already exists`);
        const o: Obj = structuredClone(body!);
        o.metadata.resourceVersion = String(++this.#rv);
        o.metadata.uid = crypto.randomUUID();
        if (hasStatus) delete o.status;
        this.objects.set(at, o);
        return json(201, o);
      }
      case "GET":
        return existing ? json(200, existing) : status(404, "NotFound", `${item} not found`);
      case "PUT": {
        if (!existing) return status(404, "NotFound", `${item} not found`);
        if (body!.metadata.resourceVersion !== existing.metadata.resourceVersion) {
          return status(409, "Conflict", "the object has been modified");
        }
        const o: Obj = structuredClone(sub ? { ...existing, status: body!.status } : body!);
        if (!sub && hasStatus) o.status = existing.status;
        o.metadata.resourceVersion = String(++this.#rv);
        this.objects.set(item, o);
        return json(200, o);
      }
      case "DELETE":
        if (!this.objects.delete(item)) return status(404, "NotFound", `${item} not found`);
        return json(200, { kind: "Status", status: "Success" });
    }
    return status(405, "MethodNotAllowed", req.method);
  }
}

function json(code: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status: code,
    headers: { "content-type": "application/json" },
  });
}

function status(code: number, reason: string, message: string): Response {
  return json(code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code });
}

async function withStub(fn: (stub: Stub, objects: KubeClusterObjects) => Promise<void>) {
  const stub = new Stub();
  try {
    await fn(stub, new KubeClusterObjects({ server: stub.url, token: "t0ken" }));
  } finally {
    await stub.close();
  }
}

function pod(labels: Record<string, string>, ip?: string): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "x", labels, annotations: {} },
    spec: { nodeName: "node-1", containers: [{ name: "main", image: "sandbox" }] },
    status: ip ? { phase: "Running", podIPs: [{ ip }] } : { phase: "Pending" },
  };
}

const POD_PATH = "/api/v1/namespaces/x/pods/web";

Deno.test("apply() creates a pod with POST and writes its status through /status, as kubelet does", async () => {
  await withStub(async (stub, objects) => {
    await objects.apply(pod({ app: "web" }));
    assertEquals(stub.log, [
      "GET /api/v1",
      "POST /api/v1/namespaces/x/pods",
      `PUT ${POD_PATH}/status`,
    ]);
    assertEquals(stub.objects.get(POD_PATH)?.status, { phase: "Pending" });
    assertEquals(stub.objects.get(POD_PATH)?.metadata.labels, { app: "web" });
  });
});

Deno.test("apply() of an existing object GETs it and PUTs it back with its resourceVersion", async () => {
  await withStub(async (stub, objects) => {
    await objects.apply(pod({ app: "web", bound: "yes" }));
    // ternd merge-patches its annotation right after ADD.
    stub.touch(POD_PATH, (o) => o.metadata.annotations = { "tern.dev/pod-ips": "10.244.1.5" });
    stub.log.length = 0;
    await objects.apply(pod({ app: "web" }, "10.244.1.5"));
    assertEquals(stub.log, [
      "POST /api/v1/namespaces/x/pods",
      `GET ${POD_PATH}`,
      `PUT ${POD_PATH}`,
      `PUT ${POD_PATH}/status`,
    ]);
    const stored = stub.objects.get(POD_PATH)!;
    assertEquals(stored.metadata.labels, { app: "web" }, "the label we no longer give is gone");
    assertEquals(stored.metadata.annotations, { "tern.dev/pod-ips": "10.244.1.5" });
    assertEquals(stored.status, { phase: "Running", podIPs: [{ ip: "10.244.1.5" }] });
  });
});

Deno.test("apply() reads the object again and retries after a 409 Conflict", async () => {
  await withStub(async (stub, objects) => {
    await objects.apply(pod({ app: "web" }));
    const raced = new Set<string>();
    stub.before = (req, path) => {
      // Another writer changes the pod before our first PUT of it, and of its status.
      if (req.method === "PUT" && !raced.has(path)) {
        raced.add(path);
        stub.touch(path.replace(/\/status$/, ""), (o) => o.metadata.labels!.other = "writer");
      }
      return undefined;
    };
    stub.log.length = 0;
    await objects.apply(pod({ app: "web", v: "2" }, "10.244.1.6"));
    assertEquals(stub.log, [
      "POST /api/v1/namespaces/x/pods",
      `GET ${POD_PATH}`,
      `PUT ${POD_PATH}`,
      `GET ${POD_PATH}`,
      `PUT ${POD_PATH}`,
      `PUT ${POD_PATH}/status`,
      `GET ${POD_PATH}`,
      `PUT ${POD_PATH}/status`,
    ]);
    const stored = stub.objects.get(POD_PATH)!;
    assertEquals(stored.metadata.labels, { app: "web", other: "writer", v: "2" });
    assertEquals(stored.status, { phase: "Running", podIPs: [{ ip: "10.244.1.6" }] });
  });
});

Deno.test("apply() gives up on Conflict after its retries, with the server's reason", async () => {
  await withStub(async (stub, objects) => {
    await objects.apply(pod({}));
    stub.before = (req) =>
      req.method === "PUT" ? status(409, "Conflict", "the object has been modified") : undefined;
    const err = await assertRejects(() => objects.apply(pod({ a: "b" })), KubeApiError);
    assertEquals([err.status, err.reason], [409, "Conflict"]);
    assert(err.message.startsWith("Cannot replace Pod x/web: 409 Conflict"), err.message);
  });
});

Deno.test("remove() deletes at once and treats 404 as success", async () => {
  await withStub(async (stub, objects) => {
    await objects.apply(pod({}));
    await objects.remove({ apiVersion: "v1", kind: "Pod", namespace: "x", name: "web" });
    await objects.remove({ apiVersion: "v1", kind: "Pod", namespace: "x", name: "web" });
    assertEquals(stub.log.filter((l) => l.startsWith("DELETE")), [
      `DELETE ${POD_PATH}?gracePeriodSeconds=0`,
      `DELETE ${POD_PATH}?gracePeriodSeconds=0`,
    ]);
    assertEquals(stub.objects.has(POD_PATH), false);
    assertEquals(
      await objects.get({ apiVersion: "v1", kind: "Pod", namespace: "x", name: "web" }),
      undefined,
    );
  });
});

Deno.test("the path of a kind comes from discovery: a cluster-scoped custom resource, a Node's status", async () => {
  await withStub(async (stub, objects) => {
    await objects.apply({
      apiVersion: "tern.dev/v1alpha1",
      kind: "SecurityGroup",
      metadata: { name: "sg-db" },
      spec: { ingress: [] },
    });
    await objects.apply({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "node-1" },
      spec: { podCIDRs: ["10.244.1.0/24"] },
      status: { addresses: [{ type: "InternalIP", address: "10.98.0.1" }] },
    });
    assertEquals(stub.log, [
      "GET /apis/tern.dev/v1alpha1",
      "POST /apis/tern.dev/v1alpha1/securitygroups",
      "GET /api/v1",
      "POST /api/v1/nodes",
      "PUT /api/v1/nodes/node-1/status",
    ]);
    assertEquals(stub.objects.get("/api/v1/nodes/node-1")?.status, {
      addresses: [{ type: "InternalIP", address: "10.98.0.1" }],
    });
  });
});

Deno.test("a kind the server does not serve is an error that says to install its CRD", async () => {
  await withStub(async (_stub, objects) => {
    const err = await assertRejects(
      () =>
        objects.apply({
          apiVersion: "vpcresources.k8s.aws/v1beta1",
          kind: "SecurityGroupPolicy",
          metadata: { name: "p", namespace: "x" },
          spec: {},
        }),
      KubeApiError,
    );
    assertEquals(
      err.message,
      `Cannot write SecurityGroupPolicy x/p: the API server at ${_stub.url} serves no ` +
        "SecurityGroupPolicy in vpcresources.k8s.aws/v1beta1: install its CustomResourceDefinition",
    );
  });
});

Deno.test("a namespaced kind without a namespace is refused before any write", async () => {
  await withStub(async (stub, objects) => {
    const bad = pod({});
    delete bad.metadata.namespace;
    await assertRejects(() => objects.apply(bad), TypeError, "Pod is namespaced");
    assertEquals(stub.log, ["GET /api/v1"]);
  });
});

Deno.test("a 429 is retried after its Retry-After", async () => {
  const stub = new Stub();
  const clock = new FakeClock();
  try {
    const objects = new KubeClusterObjects({ server: stub.url, token: "t0ken", clock });
    let throttled = false;
    stub.before = (req) => {
      if (req.method !== "POST" || throttled) return undefined;
      throttled = true;
      const res = status(429, "TooManyRequests", "slow down");
      res.headers.set("retry-after", "2");
      return res;
    };
    const done = objects.apply(pod({}));
    while (clock.pending === 0) await new Promise((r) => setTimeout(r, 5));
    assertEquals(clock.nextAt()! - clock.now(), 2000);
    assertEquals(stub.objects.has(POD_PATH), false);
    await clock.tick(2000);
    await done;
    assert(stub.objects.has(POD_PATH));
    assertEquals(stub.log.filter((l) => l.startsWith("POST")).length, 2);
  } finally {
    await stub.close();
  }
});

Deno.test("a wrong token is an error with the server's reason", async () => {
  const stub = new Stub();
  try {
    const objects = new KubeClusterObjects({ server: stub.url, token: "wrong" });
    const err = await assertRejects(() => objects.apply(pod({})), KubeApiError);
    assertEquals([err.status, err.reason], [401, "Unauthorized"]);
    assertEquals(
      err.message,
      "Cannot discover the resources of v1: 401 Unauthorized: no valid token",
    );
  } finally {
    await stub.close();
  }
});

Deno.test("mergeOwnedKeys() keeps others' keys, drops the ones we gave up, puts ours on top", () => {
  assertEquals(
    mergeOwnedKeys({ a: "1", b: "1", theirs: "x" }, { a: "0", b: "0" }, { a: "2" }),
    { a: "2", theirs: "x" },
  );
  assertEquals(mergeOwnedKeys(undefined, undefined, undefined), undefined);
  assertEquals(mergeOwnedKeys({ a: "1" }, { a: "1" }, {}), undefined);
});

/**
 * The fake API server's REST behaviour against the documentation: the API conventions (Status
 * objects, 409 Conflict vs AlreadyExists, 429 with Retry-After, merge patch, status
 * subresources) and the API concepts page (resource versions, retrieving large results in chunks,
 * 410 Gone, discovery), over real HTTP on 127.0.0.1 with plain fetch.
 * @module
 */

import { assert, assertEquals, assertMatch, assertNotEquals, assertThrows } from "../assert.ts";
import { call } from "./_test_client.ts";
import { ApiError } from "./status.ts";
import { type FakeApiServer, startFakeApiServer } from "./server.ts";
import { makeServingCertificate } from "./tls_certs.ts";

async function withServer(
  fn: (fake: FakeApiServer) => Promise<void> | void,
  options: Parameters<typeof startFakeApiServer>[0] = {},
): Promise<void> {
  const fake = await startFakeApiServer(options);
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

const PODS = "/api/v1/namespaces/default/pods";

function pod(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: "web" } },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "nginx" }] },
    ...extra,
  };
}

// deno-lint-ignore no-explicit-any
function itemNames(body: any): string[] {
  return body.items.map((o: { metadata: { name: string } }) => o.metadata.name);
}

Deno.test("create sets uid, creationTimestamp, resourceVersion and generation; a pod starts Pending (conventions: metadata, system fields)", async () => {
  await withServer(async (fake) => {
    const before = fake.rv;
    const r = await call(`${fake.url}${PODS}`, {
      method: "POST",
      body: pod("a", { status: { phase: "Running", podIP: "10.0.0.1" } }),
    });
    assertEquals(r.status, 201);
    const m = r.body.metadata;
    assertMatch(m.uid, /^[0-9a-f-]{36}$/);
    assertMatch(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assertEquals(m.resourceVersion, String(before + 1));
    assertEquals(m.generation, 1);
    assertEquals(m.namespace, "default");
    assertEquals(r.body.status, { phase: "Pending" });
    const got = await call(`${fake.url}${PODS}/a`);
    assertEquals(got.body, r.body);
  });
});

Deno.test("every write increases the one global resourceVersion, across kinds (concepts: resource versions)", async () => {
  await withServer(async (fake) => {
    const rvs: number[] = [];
    for (let i = 0; i < 3; i++) {
      rvs.push(
        Number(
          (await call(`${fake.url}${PODS}`, { method: "POST", body: pod(`p${i}`) })).body.metadata
            .resourceVersion,
        ),
      );
      rvs.push(
        Number(
          (await call(`${fake.url}/api/v1/nodes`, {
            method: "POST",
            body: { metadata: { name: `n${i}` } },
          })).body.metadata.resourceVersion,
        ),
      );
    }
    rvs.push(
      Number(
        (await call(`${fake.url}${PODS}/p0`, { method: "DELETE" })).body.metadata.resourceVersion,
      ),
    );
    assert(rvs.every((v, i) => i === 0 || v === rvs[i - 1]! + 1), `${rvs}`);
    const list = await call(`${fake.url}/api/v1/pods`);
    assertEquals(list.body.metadata.resourceVersion, String(fake.rv));
    assertEquals(list.body.kind, "PodList");
  });
});

Deno.test("a taken name is 409 AlreadyExists, a stale resourceVersion 409 Conflict (conventions: concurrency control)", async () => {
  await withServer(async (fake) => {
    const a = (await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") })).body;
    const dup = await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") });
    assertEquals(dup.status, 409);
    assertEquals(dup.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "a" already exists',
      reason: "AlreadyExists",
      details: { name: "a", kind: "pods" },
      code: 409,
    });
    const first = await call(`${fake.url}${PODS}/a`, {
      method: "PUT",
      body: { ...a, metadata: { ...a.metadata, labels: { app: "v2" } } },
    });
    assertEquals(first.status, 200);
    assert(Number(first.body.metadata.resourceVersion) > Number(a.metadata.resourceVersion));
    const stale = await call(`${fake.url}${PODS}/a`, {
      method: "PUT",
      body: { ...a, metadata: { ...a.metadata, labels: { app: "v3" } } },
    });
    assertEquals(stale.status, 409);
    assertEquals(stale.body.reason, "Conflict");
    assertEquals(
      stale.body.message,
      'Operation cannot be fulfilled on pods "a": the object has been modified; please apply your changes to the latest version and try again',
    );
    // A merge patch carrying a stale resourceVersion is a Conflict too.
    const p = await call(`${fake.url}${PODS}/a`, {
      method: "PATCH",
      body: { metadata: { resourceVersion: a.metadata.resourceVersion, labels: { x: "1" } } },
      contentType: "application/merge-patch+json",
    });
    assertEquals([p.status, p.body.reason], [409, "Conflict"]);
    // A delete whose precondition is stale too.
    const d = await call(`${fake.url}${PODS}/a`, {
      method: "DELETE",
      body: {
        kind: "DeleteOptions",
        apiVersion: "v1",
        preconditions: { resourceVersion: a.metadata.resourceVersion },
      },
    });
    assertEquals([d.status, d.body.reason], [409, "Conflict"]);
  });
});

Deno.test("an update that changes nothing writes nothing: the resourceVersion stays", async () => {
  await withServer(async (fake) => {
    const a = (await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") })).body;
    const rv = fake.rv;
    const same = await call(`${fake.url}${PODS}/a`, { method: "PUT", body: a });
    assertEquals(same.status, 200);
    assertEquals(same.body.metadata.resourceVersion, a.metadata.resourceVersion);
    assertEquals(fake.rv, rv);
  });
});

Deno.test("custom resources refuse an update without resourceVersion (422); builtins allow it", async () => {
  await withServer(async (fake) => {
    const base = `${fake.url}/apis/tern.dev/v1alpha1/ippools`;
    const created = await call(base, {
      method: "POST",
      body: {
        apiVersion: "tern.dev/v1alpha1",
        kind: "IPPool",
        metadata: { name: "pool" },
        spec: { cidr: "10.0.0.0/16" },
      },
    });
    assertEquals(created.status, 201);
    assertEquals(created.body.metadata.namespace, undefined);
    const r = await call(`${base}/pool`, {
      method: "PUT",
      body: {
        apiVersion: "tern.dev/v1alpha1",
        kind: "IPPool",
        metadata: { name: "pool" },
        spec: { cidr: "10.1.0.0/16" },
      },
    });
    assertEquals([r.status, r.body.reason], [422, "Invalid"]);
    const ok = await call(`${base}/pool`, {
      method: "PUT",
      body: { ...created.body, spec: { cidr: "10.1.0.0/16" } },
    });
    assertEquals(ok.status, 200);
    assertEquals(ok.body.metadata.generation, 2);
  }, { crds: ["ippools.tern.dev"] });
});

Deno.test("merge patch: objects merge, null deletes, lists replace (conventions: patch operations, RFC 7386)", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}${PODS}`, {
      method: "POST",
      body: {
        ...pod("a"),
        metadata: { name: "a", labels: { app: "web", tier: "fe" }, annotations: { k: "v" } },
      },
    });
    const r = await call(`${fake.url}${PODS}/a`, {
      method: "PATCH",
      body: {
        metadata: { labels: { tier: null, team: "x" }, annotations: { "tern.dev/ip": "10.0.0.9" } },
      },
      contentType: "application/merge-patch+json",
    });
    assertEquals(r.status, 200);
    assertEquals(r.body.metadata.labels, { app: "web", team: "x" });
    assertEquals(r.body.metadata.annotations, { k: "v", "tern.dev/ip": "10.0.0.9" });
    // A main-resource patch cannot change a pod's status (status subresource).
    const s = await call(`${fake.url}${PODS}/a`, {
      method: "PATCH",
      body: { status: { phase: "Running" } },
      contentType: "application/merge-patch+json",
    });
    assertEquals(s.body.status.phase, "Pending");
    const bad = await call(`${fake.url}${PODS}/a`, {
      method: "PATCH",
      body: {},
      contentType: "application/apply-patch+yaml",
    });
    assertEquals([bad.status, bad.body.reason], [415, "UnsupportedMediaType"]);
  });
});

Deno.test("the pods status subresource changes status only, as a kubelet writes podIPs", async () => {
  await withServer(async (fake) => {
    const a = (await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") })).body;
    const r = await call(`${fake.url}${PODS}/a/status`, {
      method: "PATCH",
      body: {
        metadata: { labels: { ignored: "yes" } },
        status: { phase: "Running", podIP: "10.244.1.5", podIPs: [{ ip: "10.244.1.5" }] },
      },
      contentType: "application/strategic-merge-patch+json",
    });
    assertEquals(r.status, 200);
    assertEquals(r.body.status.podIPs, [{ ip: "10.244.1.5" }]);
    assertEquals(r.body.metadata.labels, { app: "web" });
    assertEquals(r.body.metadata.generation, 1);
    const put = await call(`${fake.url}${PODS}/a/status`, {
      method: "PUT",
      body: { ...r.body, spec: { nodeName: "other" }, status: { phase: "Succeeded" } },
    });
    assertEquals(put.body.status, { phase: "Succeeded" });
    assertEquals(put.body.spec.nodeName, "n1");
    assertNotEquals(put.body.metadata.resourceVersion, a.metadata.resourceVersion);
  });
});

Deno.test("a missing object is 404 NotFound with a Status naming it; a missing namespace refuses creates", async () => {
  await withServer(async (fake) => {
    const r = await call(`${fake.url}${PODS}/nope`);
    assertEquals(r.status, 404);
    assertEquals(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "nope" not found',
      reason: "NotFound",
      details: { name: "nope", kind: "pods" },
      code: 404,
    });
    const np = await call(
      `${fake.url}/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/x`,
    );
    assertEquals(np.body.message, 'networkpolicies.networking.k8s.io "x" not found');
    assertEquals(np.body.details, {
      name: "x",
      group: "networking.k8s.io",
      kind: "networkpolicies",
    });
    const c = await call(`${fake.url}/api/v1/namespaces/ghost/pods`, {
      method: "POST",
      body: pod("a"),
    });
    assertEquals([c.status, c.body.message], [404, 'namespaces "ghost" not found']);
  });
});

Deno.test("delete answers the object for pods and a Success Status for networkpolicies", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") });
    const d = await call(`${fake.url}${PODS}/a`, {
      method: "DELETE",
      body: { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0 },
    });
    assertEquals([d.status, d.body.kind, d.body.metadata.resourceVersion], [
      200,
      "Pod",
      String(fake.rv),
    ]);
    const np = `${fake.url}/apis/networking.k8s.io/v1/namespaces/default/networkpolicies`;
    const created = await call(np, {
      method: "POST",
      body: {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny" },
        spec: { podSelector: {} },
      },
    });
    const dn = await call(`${np}/deny`, { method: "DELETE" });
    assertEquals(dn.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: {
        name: "deny",
        group: "networking.k8s.io",
        kind: "networkpolicies",
        uid: created.body.metadata.uid,
      },
    });
    assertEquals((await call(`${np}/deny`)).status, 404);
  });
});

Deno.test("deleting a namespace deletes what is in it", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}/api/v1/namespaces`, {
      method: "POST",
      body: { metadata: { name: "team" } },
    });
    await call(`${fake.url}/api/v1/namespaces/team/pods`, { method: "POST", body: pod("a") });
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("b") });
    await call(`${fake.url}/api/v1/namespaces/team`, { method: "DELETE" });
    assertEquals(itemNames((await call(`${fake.url}/api/v1/pods`)).body), ["b"]);
  });
});

Deno.test("a namespace carries the kubernetes.io/metadata.name label the server sets", async () => {
  await withServer(async (fake) => {
    const r = await call(`${fake.url}/api/v1/namespaces`, {
      method: "POST",
      body: { metadata: { name: "team", labels: { env: "prod" } } },
    });
    assertEquals(r.body.metadata.labels, { env: "prod", "kubernetes.io/metadata.name": "team" });
    assertEquals(r.body.status, { phase: "Active" });
    const list = await call(`${fake.url}/api/v1/namespaces`);
    assertEquals(itemNames(list.body), [
      "default",
      "kube-node-lease",
      "kube-public",
      "kube-system",
      "team",
    ]);
  });
});

Deno.test("label and field selectors on list (metadata.name, spec.nodeName, set-based labels); an unknown field is 400", async () => {
  await withServer(async (fake) => {
    const mk = (name: string, labels: Record<string, string>, node: string) =>
      call(`${fake.url}${PODS}`, {
        method: "POST",
        body: {
          ...pod(name),
          metadata: { name, labels },
          spec: { nodeName: node, containers: [] },
        },
      });
    await mk("a", { app: "web", tier: "fe" }, "n1");
    await mk("b", { app: "api" }, "n2");
    await mk("c", { app: "db", tier: "be" }, "n1");
    const q = async (query: string) =>
      itemNames((await call(`${fake.url}/api/v1/pods?${query}`)).body);
    assertEquals(await q("labelSelector=app%3Dweb"), ["a"]);
    assertEquals(await q("labelSelector=app%20in%20(web,db)"), ["a", "c"]);
    assertEquals(await q("labelSelector=!tier"), ["b"]);
    assertEquals(await q("labelSelector=tier,app!%3Ddb"), ["a"]);
    assertEquals(await q("fieldSelector=spec.nodeName%3Dn1"), ["a", "c"]);
    assertEquals(await q("fieldSelector=metadata.name%3Db"), ["b"]);
    assertEquals(await q("fieldSelector=spec.nodeName%3Dn1,metadata.name!%3Da"), ["c"]);
    const bad = await call(`${fake.url}/api/v1/pods?fieldSelector=spec.foo%3Dx`);
    assertEquals([bad.status, bad.body.reason, bad.body.message], [
      400,
      "BadRequest",
      "field label not supported: spec.foo",
    ]);
  });
});

Deno.test("paginated lists are one consistent snapshot while writes happen between pages (concepts: retrieving large results in chunks)", async () => {
  await withServer(async (fake) => {
    for (let i = 0; i < 10; i++) {
      await call(`${fake.url}${PODS}`, { method: "POST", body: pod(`p${i}`) });
    }
    const first = await call(`${fake.url}/api/v1/pods?limit=4`);
    assertEquals(itemNames(first.body), ["p0", "p1", "p2", "p3"]);
    const rv = first.body.metadata.resourceVersion;
    assert(typeof first.body.metadata.continue === "string");
    // Writes between pages: a delete of a later item, a new item, an update.
    await call(`${fake.url}${PODS}/p6`, { method: "DELETE" });
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("p55") });
    await call(`${fake.url}${PODS}/p8`, {
      method: "PATCH",
      body: { metadata: { labels: { new: "1" } } },
      contentType: "application/merge-patch+json",
    });
    const names = [...itemNames(first.body)];
    let cont = first.body.metadata.continue;
    let pages = 1;
    while (cont) {
      const page = await call(
        `${fake.url}/api/v1/pods?limit=4&continue=${encodeURIComponent(cont)}`,
      );
      assertEquals(page.status, 200);
      assertEquals(page.body.metadata.resourceVersion, rv);
      names.push(...itemNames(page.body));
      // deno-lint-ignore no-explicit-any
      for (const item of page.body.items as any[]) {
        if (item.metadata.name === "p8") assertEquals(item.metadata.labels, { app: "web" });
      }
      cont = page.body.metadata.continue;
      pages++;
    }
    assertEquals(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]);
    assertEquals(pages, 3);
    // The last page has no continue; a list without limit has none either.
    assertEquals((await call(`${fake.url}/api/v1/pods`)).body.metadata.continue, undefined);
  });
});

Deno.test("a continue token from before a compaction is 410 Expired with a token to go on inconsistently (concepts: 410 Gone)", async () => {
  await withServer(async (fake) => {
    for (let i = 0; i < 6; i++) {
      await call(`${fake.url}${PODS}`, { method: "POST", body: pod(`p${i}`) });
    }
    const first = await call(`${fake.url}/api/v1/pods?limit=2`);
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("p9") });
    fake.compact();
    const r = await call(
      `${fake.url}/api/v1/pods?limit=2&continue=${
        encodeURIComponent(first.body.metadata.continue)
      }`,
    );
    assertEquals([r.status, r.body.reason, r.body.code], [410, "Expired", 410]);
    assertMatch(r.body.message, /continue parameter is too old/);
    const next = await call(
      `${fake.url}/api/v1/pods?limit=10&continue=${encodeURIComponent(r.body.metadata.continue)}`,
    );
    assertEquals(next.status, 200);
    assertEquals(itemNames(next.body), ["p2", "p3", "p4", "p5", "p9"]);
    assertEquals(next.body.metadata.resourceVersion, String(fake.rv));
    const garbage = await call(`${fake.url}/api/v1/pods?limit=2&continue=nonsense`);
    assertEquals(garbage.status, 400);
  });
});

Deno.test("list resourceVersion semantics: Exact, NotOlderThan, 0, and the invalid combinations (concepts: resource versions table)", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") });
    const old = fake.rv;
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("b") });
    const l = (q: string) => call(`${fake.url}/api/v1/pods?${q}`);
    // Exact: the list as it was at old.
    const exact = await l(`resourceVersion=${old}&resourceVersionMatch=Exact`);
    assertEquals([itemNames(exact.body), exact.body.metadata.resourceVersion], [
      ["a"],
      String(old),
    ]);
    // limit with a resourceVersion and no match is Exact too (legacy rule).
    assertEquals(itemNames((await l(`resourceVersion=${old}&limit=10`)).body), ["a"]);
    // NotOlderThan (and a bare resourceVersion without limit): at least that new — here the latest.
    const not = await l(`resourceVersion=${old}&resourceVersionMatch=NotOlderThan`);
    assertEquals(itemNames(not.body), ["a", "b"]);
    assertEquals(itemNames((await l(`resourceVersion=${old}`)).body), ["a", "b"]);
    assertEquals(itemNames((await l("resourceVersion=0")).body), ["a", "b"]);
    assertEquals((await l("resourceVersionMatch=NotOlderThan")).status, 400);
    assertEquals((await l("resourceVersion=0&resourceVersionMatch=Exact")).status, 400);
    assertEquals((await l(`resourceVersion=${old}&resourceVersionMatch=Sometime`)).status, 400);
    const first = await l("limit=1");
    assertEquals(
      (await l(
        `limit=1&resourceVersion=${old}&continue=${
          encodeURIComponent(first.body.metadata.continue)
        }`,
      )).status,
      400,
    );
    const tooNew = await l(`resourceVersion=${fake.rv + 10}&resourceVersionMatch=NotOlderThan`);
    assertEquals([tooNew.status, tooNew.body.details.causes[0].reason], [
      504,
      "ResourceVersionTooLarge",
    ]);
    fake.compact();
    const gone = await l(`resourceVersion=${old}&resourceVersionMatch=Exact`);
    assertEquals([gone.status, gone.body.reason], [410, "Expired"]);
  });
});

Deno.test("discovery lists a CRD's group only while it is installed; a CRD not installed answers 404 with a Status", async () => {
  await withServer(async (fake) => {
    const path = `${fake.url}/apis/tern.dev/v1alpha1/securitygroups`;
    const missing = await call(path);
    assertEquals([missing.status, missing.body.kind, missing.body.reason], [
      404,
      "Status",
      "NotFound",
    ]);
    assertEquals((await call(`${fake.url}/apis/tern.dev/v1alpha1`)).status, 404);
    const groups = await call(`${fake.url}/apis`);
    assertEquals(groups.body.kind, "APIGroupList");
    // deno-lint-ignore no-explicit-any
    const names = () => groups.body.groups.map((g: any) => g.name);
    assertEquals(names(), ["networking.k8s.io"]);
    fake.installCrd("securitygroups.tern.dev");
    const gv = await call(`${fake.url}/apis/tern.dev/v1alpha1`);
    assertEquals(gv.body.kind, "APIResourceList");
    assertEquals(gv.body.groupVersion, "tern.dev/v1alpha1");
    // deno-lint-ignore no-explicit-any
    assertEquals(gv.body.resources.map((r: any) => [r.name, r.kind, r.namespaced]), [[
      "securitygroups",
      "SecurityGroup",
      false,
    ]]);
    assertEquals((await call(path)).status, 200);
    const core = await call(`${fake.url}/api/v1`);
    // deno-lint-ignore no-explicit-any
    assert(core.body.resources.some((r: any) => r.name === "pods/status"));
    assertEquals((await call(`${fake.url}/api`)).body.versions, ["v1"]);
    fake.uninstallCrd("securitygroups.tern.dev");
    assertEquals((await call(path)).status, 404);
  });
});

Deno.test("a CRD object installs its type: scope, names, status subresource", async () => {
  await withServer(async (fake) => {
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.com" },
      spec: {
        group: "example.com",
        scope: "Cluster",
        names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        versions: [{ name: "v1", served: true, storage: true, subresources: { status: {} } }],
      },
    };
    const r = await call(`${fake.adminUrl}/crds`, { method: "POST", body: crd });
    assertEquals(r.body, { installed: "widgets.example.com" });
    const w = await call(`${fake.url}/apis/example.com/v1/widgets`, {
      method: "POST",
      body: {
        apiVersion: "example.com/v1",
        kind: "Widget",
        metadata: { name: "w" },
        spec: { n: 1 },
        status: { ok: true },
      },
    });
    assertEquals([w.status, w.body.status], [201, undefined]);
    const s = await call(`${fake.url}/apis/example.com/v1/widgets/w/status`, {
      method: "PATCH",
      body: { status: { ok: true } },
      contentType: "application/merge-patch+json",
    });
    assertEquals(s.body.status, { ok: true });
    assertEquals(s.body.metadata.generation, 1);
    const d = await call(`${fake.url}/apis/example.com/v1/widgets/w`, { method: "DELETE" });
    assertEquals([d.body.kind, d.body.status, d.body.details.group, d.body.details.kind], [
      "Status",
      "Success",
      "example.com",
      "widgets",
    ]);
  });
});

Deno.test("bearer tokens: none or a wrong one is 401 with a Status; after rotation the old token is refused", async () => {
  await withServer(async (fake) => {
    const none = await call(`${fake.url}/api/v1/pods`);
    assertEquals([none.status, none.body.reason, none.body.kind], [401, "Unauthorized", "Status"]);
    assertEquals((await call(`${fake.url}/api/v1/pods`, { token: "wrong" })).status, 401);
    assertEquals((await call(`${fake.url}/api/v1/pods`, { token: "t1" })).status, 200);
    const rot = await call(`${fake.adminUrl}/tokens`, { method: "POST", body: { tokens: ["t2"] } });
    assertEquals(rot.status, 200);
    assertEquals((await call(`${fake.url}/api/v1/pods`, { token: "t1" })).status, 401);
    assertEquals((await call(`${fake.url}/api/v1/pods`, { token: "t2" })).status, 200);
    // Health and version need no token, as with the default RBAC.
    assertEquals((await call(`${fake.url}/healthz`)).status, 200);
  }, { tokens: ["t1"] });
});

Deno.test("429 TooManyRequests with Retry-After for the next N requests, then normal service (conventions: 429)", async () => {
  await withServer(async (fake) => {
    fake.throttle({ count: 2, retryAfterSeconds: 3 });
    for (let i = 0; i < 2; i++) {
      const r = await call(`${fake.url}/api/v1/pods`);
      assertEquals([
        r.status,
        r.headers.get("retry-after"),
        r.body.reason,
        r.body.details.retryAfterSeconds,
      ], [429, "3", "TooManyRequests", 3]);
    }
    assertEquals((await call(`${fake.url}/api/v1/pods`)).status, 200);
    fake.throttle({ rate: 0.5 });
    let n = 0;
    for (let i = 0; i < 40; i++) if ((await call(`${fake.url}/api/v1/pods`)).status === 429) n++;
    assert(n > 5 && n < 35, `${n} of 40 throttled at rate 0.5`);
    fake.clearFaults();
    assertEquals((await call(`${fake.url}/api/v1/pods`)).status, 200);
  });
});

Deno.test("slow responses are delayed; a cut list breaks mid-body", async () => {
  await withServer(async (fake) => {
    fake.slow({ delayMs: 800, count: 1 });
    let t0 = Date.now();
    await call(`${fake.url}/api/v1/namespaces`);
    assert(Date.now() - t0 >= 780, "delayed");
    t0 = Date.now();
    await call(`${fake.url}/api/v1/namespaces`);
    // Generous: the machine is shared; the point is that the second is not delayed by 800 ms.
    assert(Date.now() - t0 < 600, "only once");
    fake.cutLists(1);
    let failed = false;
    try {
      const resp = await fetch(`${fake.url}/api/v1/namespaces`);
      JSON.parse(await resp.text());
    } catch {
      failed = true;
    }
    assert(failed, "the cut list could not be read whole");
    assertEquals((await call(`${fake.url}/api/v1/namespaces`)).status, 200);
  });
});

Deno.test("TLS: the server answers over HTTPS with the given certificate", async () => {
  const tls = await makeServingCertificate();
  await withServer(async (fake) => {
    assert(fake.url.startsWith("https://"));
    const client = Deno.createHttpClient({ caCerts: [tls.caPem] });
    try {
      const r = await fetch(`${fake.url}/api/v1/namespaces`, { client });
      assertEquals(r.status, 200);
      assertEquals((await r.json()).kind, "NamespaceList");
    } finally {
      client.close();
    }
  }, { tls: { cert: tls.certPem, key: tls.keyPem } });
});

Deno.test("admin: bulk load YAML keeps status, generate makes a realistic cluster, state reports it", async () => {
  await withServer(async (fake) => {
    const yaml = `apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default}
spec: {nodeName: n1}
status: {phase: Running, podIPs: [{ip: 10.244.1.5}]}
`;
    const r = await fetch(`${fake.adminUrl}/objects`, { method: "POST", body: yaml });
    assertEquals((await r.json()).loaded, 2);
    const p = await call(`${fake.url}${PODS}/a`);
    assertEquals(p.body.status.podIPs, [{ ip: "10.244.1.5" }]);
    const g = await call(`${fake.adminUrl}/generate`, {
      method: "POST",
      body: { nodes: 3, pods: 9, networkPolicies: 2, namespaces: 2 },
    });
    assertEquals(g.body.loaded, 2 + 3 + 9 + 2);
    const state = await call(`${fake.adminUrl}/state`);
    assertEquals(state.body.objects.pods, 10);
    assertEquals(state.body.objects.nodes, 4);
    assertEquals(state.body.objects["networkpolicies.networking.k8s.io"], 2);
    assertEquals(state.body.resourceVersion, fake.rv);
    const del = await call(`${fake.adminUrl}/delete`, {
      method: "POST",
      body: [
        { apiVersion: "v1", kind: "Pod", namespace: "default", name: "a", gracePeriodSeconds: 0 },
        { apiVersion: "v1", kind: "Pod", namespace: "default", name: "absent" },
      ],
    });
    assertEquals(del.body.deleted, 1);
    assertEquals((await call(`${fake.url}${PODS}/a`)).status, 404);
    const badDel = await call(`${fake.adminUrl}/delete`, { method: "POST", body: { kind: "Pod" } });
    assertEquals(badDel.status, 400);
    const unknown = await call(`${fake.adminUrl}/nope`, { method: "POST" });
    assertEquals(unknown.status, 404);
  });
});

Deno.test("admin: restart with downMs keeps the store and the port, and a separate admin port stays up", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") });
    const r = await call(`${fake.adminUrl}/restart`, { method: "POST", body: { downMs: 400 } });
    assertEquals(r.status, 200);
    await new Promise((res) => setTimeout(res, 150));
    const state = await call(`${fake.adminUrl}/state`);
    assertEquals(state.body.running, false);
    let up = false;
    for (let i = 0; i < 40 && !up; i++) {
      await new Promise((res) => setTimeout(res, 50));
      up = (await call(`${fake.adminUrl}/state`)).body.running;
    }
    assert(up, "the API came back");
    assertEquals(itemNames((await call(`${fake.url}${PODS}`)).body), ["a"]);
  }, { adminPort: 0 });
});

Deno.test("the admin API on a unix socket answers while the API listener is stopped", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/admin.sock`;
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  try {
    await withServer(async (fake) => {
      await fake.stop();
      const r = await fetch("http://fake/_fake/state", { client });
      assertEquals(r.status, 200);
      assertEquals((await r.json()).running, false);
    }, { adminSocket: path });
  } finally {
    client.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load replaces an existing object (a restore), keeping the uid and status it brings", async () => {
  await withServer(async (fake) => {
    const podObj = (uid: string, phase: string) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "a", namespace: "default", uid },
      spec: { nodeName: "n1" },
      status: { phase },
    });
    assertEquals(fake.load([podObj("u1", "Pending")]), 1);
    assertEquals(fake.load([podObj("u2", "Running")]), 1);
    const got = await call(`${fake.url}${PODS}/a`);
    assertEquals([got.body.metadata.uid, got.body.status.phase], ["u2", "Running"]);
  });
});

Deno.test("churn pods are new objects: their own uid and name", async () => {
  await withServer(async (fake) => {
    fake.generate({ nodes: 2, pods: 16, networkPolicies: 0, namespaces: 1 });
    await fake.churn({ eventsPerSecond: 400, durationMs: 300 }).done;
    const list = await call(`${fake.url}/api/v1/pods`);
    // deno-lint-ignore no-explicit-any
    const uids = list.body.items.map((p: any) => p.metadata.uid);
    assertEquals(new Set(uids).size, uids.length);
    assert(uids.length >= 16);
  });
});

Deno.test("deletecollection deletes what the selectors match and lists it", async () => {
  await withServer(async (fake) => {
    for (const [name, app] of [["a", "web"], ["b", "web"], ["c", "db"]] as const) {
      await call(`${fake.url}${PODS}`, {
        method: "POST",
        body: { ...pod(name), metadata: { name, labels: { app } } },
      });
    }
    const r = await call(`${fake.url}${PODS}?labelSelector=app%3Dweb&gracePeriodSeconds=0`, {
      method: "DELETE",
    });
    assertEquals([r.status, r.body.kind, itemNames(r.body)], [200, "PodList", ["a", "b"]]);
    assertEquals(itemNames((await call(`${fake.url}${PODS}`)).body), ["c"]);
  });
});

Deno.test("in-process object methods follow the API semantics: create, update (409 if stale), status, patch, get, list, delete", async () => {
  await withServer((fake) => {
    const created = fake.create(pod("a", { status: { phase: "Running" } }));
    assertEquals(created.status, { phase: "Pending" });
    const ref = { apiVersion: "v1", kind: "Pod", name: "a" };
    const running = fake.updateStatus({
      ...created,
      status: { phase: "Running", podIPs: [{ ip: "10.0.0.5" }] },
    });
    assertEquals(running.status, { phase: "Running", podIPs: [{ ip: "10.0.0.5" }] });
    const err = assertThrows(() => fake.update(created), ApiError);
    assertEquals([err.status.code, err.status.reason], [409, "Conflict"]);
    const patched = fake.patch(ref, { metadata: { annotations: { "tern.dev/ip": "10.0.0.5" } } });
    assertEquals(patched.metadata!.annotations, { "tern.dev/ip": "10.0.0.5" });
    assertEquals(fake.get(ref)?.metadata?.resourceVersion, patched.metadata!.resourceVersion);
    assertEquals(fake.list({ apiVersion: "v1", kind: "Pod" }).map((p) => p.metadata!.name), ["a"]);
    fake.delete(ref, { gracePeriodSeconds: 0 });
    assertEquals(fake.get(ref), undefined);
    assertThrows(
      () => fake.get({ apiVersion: "tern.dev/v1alpha1", kind: "SecurityGroup", name: "x" }),
      Error,
      "Unknown kind",
    );
  });
});

Deno.test("list items of built-in kinds carry no apiVersion/kind (kubernetes#3030); custom resources' do", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}${PODS}`, { method: "POST", body: pod("a") });
    const list = await call(`${fake.url}${PODS}`);
    assertEquals([list.body.kind, list.body.apiVersion], ["PodList", "v1"]);
    assertEquals([list.body.items[0].kind, list.body.items[0].apiVersion], [undefined, undefined]);
    assertEquals(list.body.items[0].metadata.name, "a");
    assertEquals((await call(`${fake.url}${PODS}/a`)).body.kind, "Pod");
    const sg = `${fake.url}/apis/tern.dev/v1alpha1/securitygroups`;
    await call(sg, {
      method: "POST",
      body: { apiVersion: "tern.dev/v1alpha1", kind: "SecurityGroup", metadata: { name: "g" } },
    });
    const sgs = await call(sg);
    assertEquals([sgs.body.items[0].kind, sgs.body.items[0].apiVersion], [
      "SecurityGroup",
      "tern.dev/v1alpha1",
    ]);
  }, { crds: ["securitygroups.tern.dev"] });
});

Deno.test("the request log shows what a client sent: method, path, query, status, token", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}/api/v1/pods?limit=5`, { token: "t" });
    await call(`${fake.url}/api/v1/pods`);
    const log = await call(`${fake.adminUrl}/requests`);
    // deno-lint-ignore no-explicit-any
    const seen = log.body.map((r: any) => [r.method, r.path, r.query, r.status, r.token]);
    assertEquals(seen, [
      ["GET", "/api/v1/pods", "limit=5", 200, true],
      ["GET", "/api/v1/pods", "", 401, false],
    ]);
    const later = await call(`${fake.adminUrl}/requests?since=${log.body[0].seq}`);
    assertEquals(later.body.length, 1);
    assertEquals(fake.requests.length, 2);
  }, { tokens: ["t"] });
});

/**
 * Watch streams against the documented behaviour (API concepts page, "Efficient detection of
 * changes", "Watch bookmarks", "Resource versions"), over real HTTP on 127.0.0.1.
 * @module
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { call, WatchReader, type WireEvent } from "./_test_client.ts";
import { type FakeApiServer, startFakeApiServer } from "./server.ts";

async function withServer(
  fn: (fake: FakeApiServer) => Promise<void>,
  options: Parameters<typeof startFakeApiServer>[0] = {},
): Promise<void> {
  const fake = await startFakeApiServer(options);
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

function pod(name: string, labels: Record<string, string> = {}, nodeName = "n1") {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: { nodeName, containers: [{ name: "c", image: "i" }] },
  };
}

async function createPod(
  fake: FakeApiServer,
  name: string,
  labels: Record<string, string> = {},
  ns = "default",
  node = "n1",
) {
  const r = await call(`${fake.url}/api/v1/namespaces/${ns}/pods`, {
    method: "POST",
    body: pod(name, labels, node),
  });
  assertEquals(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

function names(events: WireEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.object.metadata.name}`);
}

Deno.test("watch from a list's resourceVersion sends every later change once, in order (concepts: efficient detection of changes)", async () => {
  await withServer(async (fake) => {
    await createPod(fake, "a");
    await createPod(fake, "b");
    const list = await call(`${fake.url}/api/v1/pods`);
    const rv = list.body.metadata.resourceVersion;
    await call(`${fake.url}/api/v1/namespaces/default/pods/a`, {
      method: "PATCH",
      body: { metadata: { labels: { x: "1" } } },
      contentType: "application/merge-patch+json",
    });
    await createPod(fake, "c");
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${rv}`);
    const replayed = await w.take(2);
    assertEquals(names(replayed), ["MODIFIED a", "ADDED c"]);
    // Unlike list items, watch event objects carry apiVersion and kind.
    assertEquals([replayed[0]!.object.apiVersion, replayed[0]!.object.kind], ["v1", "Pod"]);
    await call(`${fake.url}/api/v1/namespaces/default/pods/b?gracePeriodSeconds=0`, {
      method: "DELETE",
    });
    const [del] = await w.take(1);
    assertEquals(names([del!]), ["DELETED b"]);
    // Each event's resourceVersion is greater than the last; none is repeated.
    const rvs = [...replayed, del!].map((e) => Number(e.object.metadata.resourceVersion));
    assert(rvs.every((v, i) => i === 0 || v > rvs[i - 1]!), `increasing: ${rvs}`);
    assert(rvs[0]! > Number(rv));
    // The DELETED object carries the revision of the delete (what a resumed watch starts after).
    assertEquals(rvs[2], fake.rv);
    assertEquals(await w.next(200), "timeout");
    await w.cancel();
  });
});

Deno.test("watch without resourceVersion starts with synthetic ADDED for the current state (concepts: resourceVersion unset)", async () => {
  await withServer(async (fake) => {
    await createPod(fake, "a");
    await createPod(fake, "b");
    await call(`${fake.url}/api/v1/namespaces/default/pods/a`, { method: "DELETE" });
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=true`);
    assertEquals(names(await w.take(1)), ["ADDED b"]);
    await createPod(fake, "c");
    assertEquals(names(await w.take(1)), ["ADDED c"]);
    await w.cancel();
    const w0 = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=0`);
    assertEquals(names(await w0.take(2)), ["ADDED b", "ADDED c"]);
    await w0.cancel();
  });
});

Deno.test("a watch resumed from the last event's resourceVersion has no gap and no duplicate", async () => {
  await withServer(async (fake) => {
    const list = await call(`${fake.url}/api/v1/pods`);
    let rv = list.body.metadata.resourceVersion;
    const seen: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) await createPod(fake, `p${round}-${i}`);
      const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${rv}`);
      const events = await w.take(3);
      seen.push(...names(events));
      rv = events[2]!.object.metadata.resourceVersion;
      await w.cancel();
    }
    assertEquals(seen, [0, 1, 2].flatMap((r) => [0, 1, 2].map((i) => `ADDED p${r}-${i}`)));
  });
});

Deno.test("allowWatchBookmarks=true brings BOOKMARK events with only metadata.resourceVersion (concepts: watch bookmarks)", async () => {
  await withServer(async (fake) => {
    const list = await call(`${fake.url}/api/v1/pods`);
    const w = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${list.body.metadata.resourceVersion}`,
    );
    // A write to another resource moves the revision: the bookmark reports it.
    await call(`${fake.url}/api/v1/nodes`, { method: "POST", body: { metadata: { name: "n1" } } });
    const [b] = await w.take(1, 3_000);
    assertEquals(b!.type, "BOOKMARK");
    assertEquals(b!.object, {
      kind: "Pod",
      apiVersion: "v1",
      metadata: { resourceVersion: String(fake.rv) },
    });
    await w.cancel();
    // Without allowWatchBookmarks there is none.
    const w2 = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    assertEquals(await w2.next(400), "timeout");
    await w2.cancel();
  }, { bookmarkIntervalMs: 100 });
});

Deno.test("timeoutSeconds ends the stream cleanly (concepts: watch timeoutSeconds)", async () => {
  await withServer(async (fake) => {
    const t0 = Date.now();
    const w = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}&timeoutSeconds=1`,
    );
    const { events, end } = await w.rest(5_000);
    assertEquals(end, "closed");
    assertEquals(events, []);
    const ms = Date.now() - t0;
    assert(ms >= 900 && ms < 3_000, `ended after ${ms} ms`);
    // timeoutSeconds=0 means the server's default, not "end at once".
    const w0 = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&timeoutSeconds=0&resourceVersion=${fake.rv}`,
    );
    assertEquals(await w0.next(300), "timeout");
    await w0.cancel();
  });
});

Deno.test("a watch from a compacted resourceVersion gets one ERROR event with a 410 Expired Status, then the end (concepts: 410 Gone)", async () => {
  await withServer(async (fake) => {
    const old = fake.rv;
    await createPod(fake, "a");
    await createPod(fake, "b");
    fake.compact();
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${old}`);
    assertEquals(w.response.status, 200);
    const { events, end } = await w.rest(3_000);
    assertEquals(end, "closed");
    assertEquals(events.length, 1);
    assertEquals(events[0]!.type, "ERROR");
    const s = events[0]!.object;
    assertEquals([s.kind, s.status, s.code, s.reason], ["Status", "Failure", 410, "Expired"]);
    assertMatch(s.message, /too old resource version/);
    // From the compaction point on, the watch works.
    const w2 = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "c");
    assertEquals(names(await w2.take(1)), ["ADDED c"]);
    await w2.cancel();
  });
});

Deno.test("the history window is bounded: a watch from before the last historyLimit changes is expired", async () => {
  await withServer(async (fake) => {
    const start = fake.rv;
    for (let i = 0; i < 8; i++) await createPod(fake, `p${i}`);
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${start}`);
    const [e] = await w.take(1);
    assertEquals([e!.type, e!.object.code], ["ERROR", 410]);
    await w.cancel();
    const w2 = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv - 5}`,
    );
    assertEquals(names(await w2.take(5)).length, 5);
    await w2.cancel();
  }, { historyLimit: 5 });
});

Deno.test("selectors on watch: an object leaving the selector is DELETED, entering it is ADDED (concepts: watch with selectors)", async () => {
  await withServer(async (fake) => {
    await createPod(fake, "a", { app: "web" });
    const rv = fake.rv;
    const w = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&labelSelector=app%3Dweb&resourceVersion=${rv}`,
    );
    const patch = (name: string, labels: Record<string, string | null>) =>
      call(`${fake.url}/api/v1/namespaces/default/pods/${name}`, {
        method: "PATCH",
        body: { metadata: { labels } },
        contentType: "application/merge-patch+json",
      });
    await createPod(fake, "other", { app: "db" });
    await patch("a", { app: "api" });
    await patch("a", { app: "web" });
    await patch("a", { tier: "fe" });
    const events = await w.take(3);
    assertEquals(names(events), ["DELETED a", "ADDED a", "MODIFIED a"]);
    // The DELETED carries the last matching state at the revision of the change.
    assertEquals(events[0]!.object.metadata.labels, { app: "web" });
    assertEquals(Number(events[0]!.object.metadata.resourceVersion), rv + 2);
    assertEquals(await w.next(200), "timeout");
    await w.cancel();
    const wf = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dn2`,
    );
    await createPod(fake, "on-n2", {}, "default", "n2");
    await createPod(fake, "on-n1", {}, "default", "n1");
    assertEquals(names(await wf.take(1)), ["ADDED on-n2"]);
    assertEquals(await wf.next(200), "timeout");
    await wf.cancel();
  });
});

Deno.test("a namespaced watch sees only its namespace", async () => {
  await withServer(async (fake) => {
    await call(`${fake.url}/api/v1/namespaces`, {
      method: "POST",
      body: { metadata: { name: "team" } },
    });
    const w = await WatchReader.open(
      `${fake.url}/api/v1/namespaces/team/pods?watch=1&resourceVersion=${fake.rv}`,
    );
    await createPod(fake, "a");
    await createPod(fake, "b", {}, "team");
    assertEquals(names(await w.take(1)), ["ADDED b"]);
    await w.cancel();
  });
});

Deno.test("dropWatches breaks the connection: the client's read fails", async () => {
  await withServer(async (fake) => {
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "a");
    assertEquals(names(await w.take(1)), ["ADDED a"]);
    assertEquals(fake.dropWatches(), 1);
    assertEquals(await w.next(3_000), "error");
  });
});

Deno.test("dropWatches midEvent sends half an event line, then breaks the connection", async () => {
  await withServer(async (fake) => {
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "a");
    assertEquals(names(await w.take(1)), ["ADDED a"]);
    const before = fake.rv;
    fake.dropWatches({ midEvent: true });
    await createPod(fake, "b");
    assertEquals(await w.next(3_000), "error");
    assert(
      w.partial.startsWith('{"type":"ADDED","object":{'),
      `partial: ${w.partial.slice(0, 60)}`,
    );
    assert(!w.partial.includes("\n"));
    // Resuming from the last whole event brings the cut one in full.
    const w2 = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${before}`);
    assertEquals(names(await w2.take(1)), ["ADDED b"]);
    await w2.cancel();
  });
});

Deno.test("closeWatches ends streams cleanly; hangWatches sends nothing and never closes", async () => {
  await withServer(async (fake) => {
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    assertEquals(fake.closeWatches(), 1);
    assertEquals((await w.rest(2_000)).end, "closed");
    const h = await WatchReader.open(
      `${fake.url}/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=${fake.rv}`,
    );
    assertEquals(fake.hangWatches(), 1);
    await createPod(fake, "a");
    // Neither the event, nor bookmarks, nor the 1 s timeout: nothing at all.
    assertEquals(await h.next(1_500), "timeout");
    await h.cancel();
    // hangWatches({ next }) hangs new watches too.
    fake.hangWatches({ next: 1 });
    const h2 = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "b");
    assertEquals(await h2.next(300), "timeout");
    await h2.cancel();
    const ok = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "c");
    assertEquals(names(await ok.take(1)), ["ADDED c"]);
    await ok.cancel();
  }, { bookmarkIntervalMs: 100 });
});

Deno.test("a 410 storm: open watches get ERROR 410, the next ones too, then watches work again", async () => {
  await withServer(async (fake) => {
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "a");
    await w.take(1);
    assertEquals(fake.goneStorm({ next: 2 }), 1);
    const r = await w.rest(2_000);
    assertEquals([r.events.map((e) => e.type), r.end], [["ERROR"], "closed"]);
    for (let i = 0; i < 2; i++) {
      const s = await WatchReader.open(
        `${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`,
      );
      const rr = await s.rest(2_000);
      assertEquals(rr.events.map((e) => e.object.code), [410]);
    }
    const ok = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    await createPod(fake, "b");
    assertEquals(names(await ok.take(1)), ["ADDED b"]);
    await ok.cancel();
  });
});

Deno.test("a watch from a resourceVersion newer than the server's is a 504 ResourceVersionTooLarge", async () => {
  await withServer(async (fake) => {
    const r = await call(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv + 100}`);
    assertEquals(r.status, 504);
    assertEquals(r.body.details.causes[0].reason, "ResourceVersionTooLarge");
  });
});

Deno.test("restart keeps the store and the port; watches break and resume from their resourceVersion", async () => {
  await withServer(async (fake) => {
    const url = fake.url;
    await createPod(fake, "a");
    const w = await WatchReader.open(`${url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    const rv = fake.rv;
    await fake.stop();
    assertEquals(await w.next(3_000), "error");
    let refused = false;
    try {
      await fetch(`${url}/api/v1/pods`);
    } catch {
      refused = true;
    }
    assert(refused, "the API is down while stopped");
    fake.objects.create(
      { rt: fake.objects.type("pods"), namespace: "default" },
      pod("made-while-down"),
    );
    await fake.start();
    assertEquals(fake.url, url);
    const list = await call(`${url}/api/v1/namespaces/default/pods`);
    assertEquals(list.body.items.map((p: { metadata: { name: string } }) => p.metadata.name), [
      "a",
      "made-while-down",
    ]);
    const w2 = await WatchReader.open(`${url}/api/v1/pods?watch=1&resourceVersion=${rv}`);
    assertEquals(names(await w2.take(1)), ["ADDED made-while-down"]);
    await w2.cancel();
  });
});

Deno.test("uninstalling a CRD ends its watches and its path answers 404", async () => {
  await withServer(async (fake) => {
    const path = `${fake.url}/apis/tern.dev/v1alpha1/securitygroups`;
    const w = await WatchReader.open(`${path}?watch=1&resourceVersion=${fake.rv}`);
    const r = await call(path, {
      method: "POST",
      body: {
        apiVersion: "tern.dev/v1alpha1",
        kind: "SecurityGroup",
        metadata: { name: "sg" },
        spec: {},
      },
    });
    assertEquals(r.status, 201);
    assertEquals(names(await w.take(1)), ["ADDED sg"]);
    fake.uninstallCrd("securitygroups.tern.dev");
    const rest = await w.rest(2_000);
    assertEquals([names(rest.events), rest.end], [["DELETED sg"], "closed"]);
    assertEquals((await call(path)).status, 404);
  }, { crds: ["securitygroups.tern.dev"] });
});

Deno.test("sendInitialEvents=true streams the state, then a BOOKMARK annotated k8s.io/initial-events-end (concepts: streaming lists)", async () => {
  await withServer(async (fake) => {
    await createPod(fake, "a");
    await createPod(fake, "b");
    const rv = fake.rv;
    const base = `${fake.url}/api/v1/pods?watch=1&sendInitialEvents=true`;
    const w = await WatchReader.open(
      `${base}&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`,
    );
    const events = await w.take(3);
    assertEquals(names(events.slice(0, 2)), ["ADDED a", "ADDED b"]);
    assertEquals(events[2]!.type, "BOOKMARK");
    assertEquals(events[2]!.object.metadata, {
      resourceVersion: String(rv),
      annotations: { "k8s.io/initial-events-end": "true" },
    });
    await createPod(fake, "c");
    assertEquals(names(await w.take(1)), ["ADDED c"]);
    await w.cancel();
    // Without bookmarks, or without resourceVersionMatch=NotOlderThan, it is refused.
    const bad = await call(`${base}&resourceVersionMatch=NotOlderThan`);
    assertEquals([bad.status, bad.body.reason], [422, "Invalid"]);
    assertEquals((await call(`${base}&allowWatchBookmarks=true`)).status, 422);
    assertEquals(
      (await call(`${fake.url}/api/v1/pods?watch=1&resourceVersionMatch=NotOlderThan`)).status,
      422,
    );
  });
});

Deno.test("a watcher that falls more than watchQueueLimit events behind is closed; its initial state does not count", async () => {
  await withServer(async (fake) => {
    const pods = fake.objects.type("pods");
    const big = "x".repeat(512 * 1024);
    const bigPod = (name: string) => ({ metadata: { name, annotations: { big } } });
    // 40 big pods: far more initial state than socket buffers hold, and than the limit of 3.
    for (let i = 0; i < 40; i++) {
      fake.objects.create({ rt: pods, namespace: "default" }, bigPod(`p${i}`));
    }
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1`);
    await new Promise((r) => setTimeout(r, 100));
    fake.objects.create({ rt: pods, namespace: "default" }, { metadata: { name: "small" } });
    assertEquals(fake.hub.watches.length, 1, "initial events do not count against the limit");
    // Not reading: a backlog of more than 3 later events closes it.
    for (let i = 0; i < 200 && fake.hub.watches.length > 0; i++) {
      fake.objects.create({ rt: pods, namespace: "default" }, bigPod(`q${i}`));
      await new Promise((r) => setTimeout(r, 1));
    }
    assertEquals(fake.hub.watches.length, 0);
    const { end } = await w.rest(5_000);
    assertEquals(end, "closed");
  }, { watchQueueLimit: 3 });
});

Deno.test("a pod on a node is deleted gracefully: MODIFIED with deletionTimestamp, then DELETED when the kubelet confirms", async () => {
  await withServer(async (fake) => {
    await createPod(fake, "a");
    const w = await WatchReader.open(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
    const d = await call(`${fake.url}/api/v1/namespaces/default/pods/a`, { method: "DELETE" });
    assertEquals(d.status, 200);
    assertEquals(d.body.metadata.deletionGracePeriodSeconds, 30);
    assert(typeof d.body.metadata.deletionTimestamp === "string");
    // Still there, terminating, until the fake kubelet confirms (300 ms here); an update cannot
    // take the deletionTimestamp away.
    assertEquals((await call(`${fake.url}/api/v1/namespaces/default/pods/a`)).status, 200);
    const put = await call(`${fake.url}/api/v1/namespaces/default/pods/a`, {
      method: "PUT",
      body: {
        ...d.body,
        metadata: { ...d.body.metadata, deletionTimestamp: undefined, labels: { x: "1" } },
      },
    });
    assertEquals(put.body.metadata.deletionTimestamp, d.body.metadata.deletionTimestamp);
    const [m, relabelled] = await w.take(2);
    assertEquals([m!.type, m!.object.metadata.deletionTimestamp], [
      "MODIFIED",
      d.body.metadata.deletionTimestamp,
    ]);
    assertEquals(relabelled!.object.metadata.labels, { x: "1" });
    const [del] = await w.take(1, 3_000);
    assertEquals(del!.type, "DELETED");
    assertEquals((await call(`${fake.url}/api/v1/namespaces/default/pods/a`)).status, 404);
    // gracePeriodSeconds=0 deletes at once, as does a pod not bound to a node.
    await createPod(fake, "b");
    await call(`${fake.url}/api/v1/namespaces/default/pods/b?gracePeriodSeconds=0`, {
      method: "DELETE",
    });
    assertEquals(names(await w.take(2)), ["ADDED b", "DELETED b"]);
    await w.cancel();
  }, { podTerminationMs: 300 });
});

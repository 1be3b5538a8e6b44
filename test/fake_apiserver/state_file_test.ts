/**
 * Persisted state: a fake restarted from its saved state has its objects, custom types and
 * revision, and (no history surviving) expires watches from before the restart.
 * @module
 */

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { call, WatchReader } from "./_test_client.ts";
import { startFakeApiServer } from "./server.ts";
import { loadState, saveState } from "./state_file.ts";

Deno.test("a fake restarted from its saved state keeps objects, CRDs and the revision; older watches get 410", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state.ndjson`;
    const first = await startFakeApiServer({ crds: ["securitygroups.tern.dev"], stateFile: path });
    first.create({ apiVersion: "v1", kind: "Pod", metadata: { name: "a", namespace: "default" } });
    first.create({
      apiVersion: "tern.dev/v1alpha1",
      kind: "SecurityGroup",
      metadata: { name: "g", namespace: "default" },
    });
    const uid = first.get({ apiVersion: "v1", kind: "Pod", name: "a" })!.metadata!.uid;
    const rv = first.rv;
    assertEquals(await first.save(), path);
    await first.close();

    const snap = await loadState(path);
    assert(snap !== undefined);
    const second = await startFakeApiServer({ restore: snap });
    try {
      assertEquals(second.rv, rv);
      const pod = second.get({ apiVersion: "v1", kind: "Pod", name: "a" });
      assertEquals(pod?.metadata?.uid, uid);
      const sgs = await call(
        `${second.url}/apis/tern.dev/v1alpha1/securitygroups`,
      );
      assertEquals(sgs.body.items.map((o: { metadata: { name: string } }) => o.metadata.name), [
        "g",
      ]);
      // Namespaces come back as they were, not made again.
      assertEquals(second.list({ apiVersion: "v1", kind: "Namespace" }).length, 4);
      const next = second.create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "b", namespace: "default" },
      });
      assertEquals(next.metadata!.resourceVersion, String(rv + 1));
      const w = await WatchReader.open(
        `${second.url}/api/v1/pods?watch=1&resourceVersion=${rv - 1}`,
      );
      const [e] = await w.take(1);
      assertEquals([e!.type, e!.object.code], ["ERROR", 410]);
      await w.cancel();
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadState: no file is undefined; a file that is not state is an error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertEquals(await loadState(`${dir}/none`), undefined);
    await Deno.writeTextFile(`${dir}/bad`, "hello\n");
    await assertRejects(() => loadState(`${dir}/bad`), Error, `${dir}/bad`);
    await saveState(`${dir}/ok`, { rv: 7, crds: [], objects: [] });
    assertEquals(await loadState(`${dir}/ok`), { rv: 7, crds: [], objects: [] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pod terminating when the state was saved is confirmed by the fake kubelet after the restart", async () => {
  const first = await startFakeApiServer({ podTerminationMs: 60_000 });
  const ref = { apiVersion: "v1", kind: "Pod", name: "a" };
  let snap;
  try {
    first.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "a", namespace: "default" },
      spec: { nodeName: "n1" },
    });
    first.delete(ref);
    assert(first.get(ref)?.metadata?.deletionTimestamp !== undefined, "terminating");
    snap = first.snapshot();
  } finally {
    await first.close();
  }
  const second = await startFakeApiServer({ restore: snap });
  try {
    assertEquals(second.get(ref), undefined);
  } finally {
    await second.close();
  }
});

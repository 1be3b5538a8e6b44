import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import type { ClusterStatus, StatusResponse } from "../src/api.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { fakeContext, fakeDaemon } from "./_testing.ts";
import { cmdStatus } from "./cmd_status.ts";
import type { NetworkEnv } from "./env.ts";

const env: NetworkEnv = { command: "STATUS" };
const status: StatusResponse = {
  ready: true,
  version: "0.1.0",
  node: "node1",
  pools: [{ cidr: "10.244.1.0/24", capacity: 254, used: 254, free: 0 }],
  free: 0,
  endpoints: 254,
  uptimeMs: 5,
};

Deno.test("cmdStatus() succeeds when the daemon answers and has free addresses", async () => {
  const daemon = fakeDaemon();
  await cmdStatus(fakeContext(env, { daemon }));
  assertEquals(daemon.calls, [["status"]]);
});

Deno.test("cmdStatus() fails with code 50 naming the socket when the daemon does not answer", async () => {
  const daemon = fakeDaemon({
    status: () => Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "ENOENT")),
  });
  const err = await assertRejects(() => cmdStatus(fakeContext(env, { daemon })), CniError);
  assertEquals(err.code, 50);
  assertEquals(
    err.message,
    "Daemon not available: Cannot reach ternd at /run/tern/ternd.sock: ENOENT",
  );
});

Deno.test("cmdStatus() fails with code 50 when the daemon is not ready or answers an error", async () => {
  const notReady = fakeDaemon({
    status: () => Promise.resolve({ ...status, ready: false, free: 9 }),
  });
  const err = await assertRejects(
    () => cmdStatus(fakeContext(env, { daemon: notReady })),
    CniError,
  );
  assertEquals(err.code, 50);
  assertStringIncludes(err.message, "/run/tern/ternd.sock is not ready");
  const failing = fakeDaemon({
    status: () => Promise.reject(new DaemonApiError(503, "unavailable", "Starting")),
  });
  assertEquals(
    (await assertRejects(() => cmdStatus(fakeContext(env, { daemon: failing })), CniError)).code,
    50,
  );
});

Deno.test("cmdStatus() says why a starting daemon is not ready: the API server's refusal first", async () => {
  const starting = { ...status, ready: false, free: 0, starting: "waiting for the first lists" };
  const refused = "Cannot list Pod from https://10.0.0.1:6443: 403 Forbidden: pods is forbidden";
  const cases: [StatusResponse, string][] = [
    [starting, "is not ready: waiting for the first lists"],
    [{ ...starting, cluster: clusterRefused(refused) }, `is not ready: ${refused}`],
  ];
  for (const [answer, expected] of cases) {
    const daemon = fakeDaemon({ status: () => Promise.resolve(answer) });
    const err = await assertRejects(() => cmdStatus(fakeContext(env, { daemon })), CniError);
    assertEquals(err.code, 50);
    assertStringIncludes(err.message, expected);
  }
});

function clusterRefused(refused: string): ClusterStatus {
  return {
    source: "kubernetes:https://10.0.0.1:6443",
    nodes: 0,
    pods: 0,
    errors: [],
    publishEndpoints: true,
    synced: false,
    refused,
  };
}

Deno.test("cmdStatus() fails with code 51 when no address is free", async () => {
  const daemon = fakeDaemon({ status: () => Promise.resolve(status) });
  const err = await assertRejects(() => cmdStatus(fakeContext(env, { daemon })), CniError);
  assertEquals(err.code, 51);
  assertEquals(err.message, "No pod addresses available on node node1: 10.244.1.0/24 254/254 used");
});

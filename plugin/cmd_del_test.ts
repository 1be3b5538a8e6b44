import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { hostVethName } from "../src/names.ts";
import { NetlinkError } from "../src/rtnetlink.ts";
import { fakeContext, fakeDaemon, fakePodLinks, sampleConf } from "./_testing.ts";
import { cmdDel } from "./cmd_del.ts";
import type { DelEnv } from "./env.ts";

const env: DelEnv = {
  command: "DEL",
  containerId: "ctr1",
  ifname: "eth0",
  netns: "/var/run/netns/pod1",
  args: { ignoreUnknown: false },
};
const hostVeth = await hostVethName("ctr1", "eth0");
const gone = () => false;
const refused = () => new NetlinkError(`Cannot delete host veth ${hostVeth}`, 1);

Deno.test("cmdDel() asks the daemon to release the attachment, which deletes the veth: the plugin touches no link", async () => {
  const events: string[] = [];
  const links = fakePodLinks((call) => void events.push(call.join(" ")));
  const daemon = fakeDaemon({
    release: (
      req,
    ) => (events.push(`release ${JSON.stringify(req)}`),
      Promise.resolve({ released: true, ip: "10.244.1.7" })),
  });
  await cmdDel(fakeContext(env, { links, daemon }));
  assertEquals(events, [`release {"containerID":"ctr1","ifname":"eth0","network":"tern"}`]);
});

Deno.test("cmdDel() deletes the veth itself when the daemon had nothing to release", async () => {
  for (
    const release of [
      () => Promise.resolve({ released: false }),
      () => Promise.reject(new DaemonApiError(404, "not_found", "No such endpoint")),
    ]
  ) {
    const links = fakePodLinks();
    await cmdDel(fakeContext(env, { links, daemon: fakeDaemon({ release }) }));
    assertEquals(links.calls, [["deleteHostVeth", hostVeth]]);
  }
});

Deno.test("cmdDel() succeeds when the veth is gone and the daemon has nothing to release", async () => {
  const daemon = fakeDaemon({ release: () => Promise.resolve({ released: false }) });
  await cmdDel(fakeContext(env, { links: fakePodLinks(gone), daemon }));
});

Deno.test("cmdDel() succeeds for an unknown container without a netns", async () => {
  const { netns: _, ...noNetns } = env;
  const daemon = fakeDaemon({
    release: () => Promise.reject(new DaemonApiError(404, "not_found", "No such endpoint")),
  });
  await cmdDel(fakeContext<DelEnv>(noNetns, { links: fakePodLinks(gone), daemon }));
});

Deno.test("cmdDel() with the daemon unreachable deletes the veth, then queues the release and succeeds", async () => {
  const events: string[] = [];
  const links = fakePodLinks((call) => void events.push(call.join(" ")));
  const daemon = fakeDaemon({
    release: () =>
      Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "Connection refused")),
  });
  const conf = sampleConf({ releaseQueueDir: "/var/lib/tern/release-queue" });
  await cmdDel(fakeContext(env, { links, daemon, conf }), {
    now: () => 1234,
    queueRelease: (dir, record) => {
      events.push(`queue ${dir} ${JSON.stringify(record)}`);
      return Promise.resolve();
    },
  });
  assertEquals(events, [
    `deleteHostVeth ${hostVeth}`,
    `queue /var/lib/tern/release-queue {"containerID":"ctr1","ifname":"eth0","network":"tern","queuedAt":1234}`,
  ]);
});

Deno.test("cmdDel() queues the release of a daemon that answers it is starting or stopping", async () => {
  const queued: unknown[] = [];
  const daemon = fakeDaemon({
    release: () => Promise.reject(new DaemonApiError(503, "unavailable", "Daemon is not ready")),
  });
  await cmdDel(fakeContext(env, { daemon }), {
    queueRelease: (_dir, record) => Promise.resolve(void queued.push(record)),
  });
  assertEquals(queued.length, 1);
});

Deno.test("cmdDel() fails with code 11 when the daemon is unreachable and the queue cannot be written", async () => {
  const links = fakePodLinks();
  const daemon = fakeDaemon({
    release: () =>
      Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "Connection refused")),
  });
  const err = await assertRejects(
    () =>
      cmdDel(fakeContext(env, { links, daemon }), {
        queueRelease: () => Promise.reject(new Error("No space left on device")),
      }),
    CniError,
  );
  assertEquals(err.code, 11);
  assertStringIncludes(err.message, "/run/tern/ternd.sock");
  assertStringIncludes(err.details ?? "", "No space left on device");
  assertEquals(links.calls, [["deleteHostVeth", hostVeth]]);
});

Deno.test("cmdDel() never queues a release while the veth may still exist: it fails with code 11", async () => {
  const links = fakePodLinks(refused);
  const daemon = fakeDaemon({
    release: () => Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "timeout")),
  });
  const queued: unknown[] = [];
  const err = await assertRejects(
    () =>
      cmdDel(fakeContext(env, { links, daemon }), {
        queueRelease: (_dir, record) => Promise.resolve(void queued.push(record)),
      }),
    CniError,
  );
  assertEquals(err.code, 11);
  assertEquals(queued, []);
});

Deno.test("cmdDel() does not queue when the daemon fails internally: the runtime retries", async () => {
  const daemon = fakeDaemon({
    release: () => Promise.reject(new DaemonApiError(500, "internal", "KV commit failed")),
  });
  const queued: unknown[] = [];
  const err = await assertRejects(
    () =>
      cmdDel(fakeContext(env, { daemon }), {
        queueRelease: (_dir, record) => Promise.resolve(void queued.push(record)),
      }),
    CniError,
  );
  assertEquals(err.code, 11);
  assertEquals(queued, []);
});

Deno.test("cmdDel() fails with code 5 when the daemon had no record and the veth cannot be deleted", async () => {
  const links = fakePodLinks(refused);
  const daemon = fakeDaemon({ release: () => Promise.resolve({ released: false }) });
  const err = await assertRejects(() => cmdDel(fakeContext(env, { links, daemon })), CniError);
  assertEquals(err.code, 5);
  assertStringIncludes(err.message, `Cannot delete host veth ${hostVeth}`);
  assertEquals(daemon.calls.map(([m]) => m), ["release"]);
});

Deno.test("cmdDel() deletes the veth itself when the daemon fails, and reports the daemon's error", async () => {
  const links = fakePodLinks();
  const daemon = fakeDaemon({
    release: () => Promise.reject(new DaemonApiError(500, "internal", "KV commit failed")),
  });
  const err = await assertRejects(() => cmdDel(fakeContext(env, { links, daemon })), CniError);
  assertEquals(err.code, 11);
  assertEquals(links.calls, [["deleteHostVeth", hostVeth]]);
});

Deno.test("cmdDel() reports a daemon outage with code 11 and the veth failure in the details", async () => {
  const links = fakePodLinks(refused);
  const daemon = fakeDaemon({
    release: () => Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "timeout")),
  });
  const err = await assertRejects(() => cmdDel(fakeContext(env, { links, daemon })), CniError);
  assertEquals(err.code, 11);
  assertStringIncludes(err.details ?? "", "Cannot delete host veth");
});

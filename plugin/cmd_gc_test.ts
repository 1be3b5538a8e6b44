import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonUnavailableError } from "../src/daemon_client.ts";
import { fakeContext, fakeDaemon, memoryLogger, sampleConf } from "./_testing.ts";
import { cmdGc } from "./cmd_gc.ts";
import type { NetworkEnv } from "./env.ts";

const env: NetworkEnv = { command: "GC" };
const valid = [{ containerID: "ctr1", ifname: "eth0" }];

Deno.test("cmdGc() sends the valid attachments and logs every release", async () => {
  const daemon = fakeDaemon({
    gc: () =>
      Promise.resolve({ released: [{ containerID: "old", ifname: "eth0", ip: "10.244.1.9" }] }),
  });
  const log = memoryLogger();
  const conf = sampleConf({ validAttachments: valid });
  const out = await cmdGc(fakeContext(env, { daemon, conf, log }));
  assertEquals(daemon.calls, [["gc", { network: "tern", valid }]]);
  assertEquals(out.released.length, 1);
  assertStringIncludes(log.lines.join("\n"), `GC released a stale attachment`);
  assertStringIncludes(log.lines.join("\n"), `"containerID":"old"`);
});

Deno.test("cmdGc() fails with code 11 when the daemon is unreachable", async () => {
  const daemon = fakeDaemon({
    gc: () => Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "refused")),
  });
  const conf = sampleConf({ validAttachments: valid });
  const err = await assertRejects(() => cmdGc(fakeContext(env, { daemon, conf })), CniError);
  assertEquals(err.code, 11);
});

/**
 * ADD through a daemon that makes the veth pair (`attach`): one request, then the pod side; each
 * failure leaves nothing of this ADD, and a daemon that cannot make the pair gets the earlier
 * sequence.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import type { AddResponse, AttachRequest } from "../src/api.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { hostVethName } from "../src/names.ts";
import { NetlinkError } from "../src/rtnetlink.ts";
import { fakeContext, fakeDaemon, fakePodLinks, sampleAddEnv, sampleEndpoint } from "./_testing.ts";
import { cmdAdd } from "./cmd_add.ts";

const env = sampleAddEnv();
const podMac = "0a:58:0a:f4:01:07";
const hostVeth = await hostVethName("ctr1", "eth0");

function attached(req: AttachRequest, created = true): Promise<AddResponse> {
  const { mtu: _, ...rest } = req;
  return Promise.resolve({ ...sampleEndpoint(rest), policy: "ready", created });
}

Deno.test("cmdAdd() asks the daemon to attach (veth pair and all) in one request, then configures the pod", async () => {
  const links = fakePodLinks();
  const daemon = fakeDaemon({ attach: (req) => attached(req) });
  const result = await cmdAdd(fakeContext(env, { links, daemon }), { podMac });
  assertEquals(daemon.calls, [["attach", {
    network: "tern",
    containerID: "ctr1",
    ifname: "eth0",
    netns: env.netns,
    hostVeth,
    podMac,
    podNamespace: "default",
    podName: "web-0",
    mtu: 1500,
  }]]);
  assertEquals(links.calls.map(([op]) => op), ["configurePod"]);
  assertEquals(result.ips, [{ address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 }]);
});

Deno.test("cmdAdd() makes the veth pair itself when the daemon cannot (older, or not seeing the netns)", async () => {
  for (
    const refusal of [
      new DaemonApiError(404, "not_found", "No such API path: /v1/endpoints/attach"),
      new DaemonApiError(422, "unsupported", "Cannot make the veth pair from the daemon"),
    ]
  ) {
    const links = fakePodLinks();
    const daemon = fakeDaemon({ attach: () => Promise.reject(refusal) });
    await cmdAdd(fakeContext(env, { links, daemon }), { podMac });
    assertEquals(daemon.calls.map(([m]) => m), ["attach", "add"]);
    assertEquals(links.calls.map(([op]) => op), ["addVeth", "configurePod"]);
  }
});

Deno.test("cmdAdd() with the daemon down fails with code 11 and touches no link", async () => {
  const links = fakePodLinks();
  const daemon = fakeDaemon({
    attach: () =>
      Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "Connection refused")),
  });
  const err = await assertRejects(
    () => cmdAdd(fakeContext(env, { links, daemon }), { podMac }),
    CniError,
  );
  assertEquals(err.code, 11);
  assertStringIncludes(err.message, "/run/tern/ternd.sock");
  assertEquals(links.calls, []);
});

Deno.test("cmdAdd() reports a taken interface that the daemon found with code 4", async () => {
  const links = fakePodLinks();
  const message =
    `Attachment already exists: host veth ${hostVeth} for CNI_CONTAINERID and CNI_IFNAME eth0 is present`;
  const daemon = fakeDaemon({
    attach: () => Promise.reject(new DaemonApiError(409, "exists", message)),
  });
  const err = await assertRejects(
    () => cmdAdd(fakeContext(env, { links, daemon }), { podMac }),
    CniError,
  );
  assertEquals([err.code, err.message, err.details], [
    4,
    message,
    "DEL the attachment before adding it again",
  ]);
  assertEquals(links.calls, []);
});

Deno.test("cmdAdd() releases a new claim (the daemon deletes the veth) when the pod side fails", async () => {
  const links = fakePodLinks(([op]) =>
    op === "configurePod" ? new NetlinkError("Cannot add 10.244.1.7/32", 1) : undefined
  );
  const daemon = fakeDaemon({ attach: (req) => attached(req) });
  const err = await assertRejects(
    () => cmdAdd(fakeContext(env, { links, daemon }), { podMac }),
    CniError,
  );
  assertEquals(err.code, 5);
  assertEquals(daemon.calls.map(([m]) => m), ["attach", "release"]);
  assertEquals(links.calls.map(([op]) => op), ["configurePod"]);
});

Deno.test("cmdAdd() keeps an address the attachment held before and deletes only the veth when the pod side fails", async () => {
  const links = fakePodLinks(([op]) =>
    op === "configurePod" ? new NetlinkError("Cannot add 10.244.1.7/32", 1) : undefined
  );
  const daemon = fakeDaemon({ attach: (req) => attached(req, false) });
  await assertRejects(() => cmdAdd(fakeContext(env, { links, daemon }), { podMac }), CniError);
  assertEquals(daemon.calls.map(([m]) => m), ["attach"]);
  assertEquals(links.calls.map(([op, arg]) => `${op} ${typeof arg === "string" ? arg : ""}`), [
    "configurePod ",
    `deleteHostVeth ${hostVeth}`,
  ]);
});

Deno.test("cmdAdd() opens the pod's socket while the daemon works on the attach request", async () => {
  const events: string[] = [];
  const links = {
    ...fakePodLinks(([op]) => void events.push(op)),
    preparePod: (netns: string) => void events.push(`preparePod ${netns}`),
  };
  const daemon = fakeDaemon({
    attach: (req, options) => {
      events.push("attach sent");
      options?.whileWaiting?.();
      events.push("attach answered");
      return attached(req);
    },
  });
  await cmdAdd(fakeContext(env, { links, daemon }), { podMac });
  assertEquals(events, [
    "attach sent",
    `preparePod ${env.netns}`,
    "attach answered",
    "configurePod",
  ]);
});

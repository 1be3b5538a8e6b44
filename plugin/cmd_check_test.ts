import { assertEquals, assertRejects, assertStringIncludes } from "../test/assert.ts";
import type { Endpoint } from "../src/api.ts";
import { CniError } from "../src/cni_error.ts";
import { DaemonUnavailableError } from "../src/daemon_client.ts";
import { hostVethMac, hostVethName } from "../src/names.ts";
import {
  fakeContext,
  fakeDaemon,
  fakeRunner,
  type RunCall,
  sampleConf,
  sampleEndpoint,
} from "./_testing.ts";
import { cmdCheck, comparePrevResult } from "./cmd_check.ts";
import type { AddCheckEnv } from "./env.ts";
import type { CniResult } from "./result.ts";

const env: AddCheckEnv = {
  command: "CHECK",
  containerId: "ctr1",
  ifname: "eth0",
  netns: "/var/run/netns/pod1",
  args: { ignoreUnknown: false },
};
const hostVeth = await hostVethName("ctr1", "eth0");
const hostMac = hostVethMac(hostVeth);
const podMac = "0a:58:0a:f4:01:07";
const endpoint = sampleEndpoint({ hostVeth, podMac });
const prevResult: CniResult = {
  interfaces: [
    { name: hostVeth, mac: hostMac },
    { name: "eth0", mac: podMac, sandbox: "/var/run/netns/pod1" },
  ],
  ips: [{ address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 }],
  routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
  dns: {},
};

/** What the kernel shows, as `ip -json` prints it; each test breaks one piece. */
function healthy() {
  return {
    hostLink: [{
      ifindex: 9,
      ifname: hostVeth,
      flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
      mtu: 1500,
      address: hostMac,
    }] as unknown[] | undefined,
    hostRoutes: [{
      dst: "10.244.1.7",
      dev: hostVeth,
      protocol: "116",
      scope: "link",
      flags: [],
    }] as unknown[],
    podLink: [{
      ifindex: 2,
      ifname: "eth0",
      flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
      mtu: 1500,
      address: podMac,
      addr_info: [
        { family: "inet", local: "10.244.1.7", prefixlen: 32 },
        { family: "inet6", local: "fe80::858:aff:fef4:107", prefixlen: 64 },
      ],
    }] as unknown[] | undefined,
    podRoutes: [
      { dst: "default", gateway: "169.254.1.1", flags: [] },
      { dst: "169.254.1.1", scope: "link", flags: [] },
    ] as unknown[],
    neigh: [{ dst: "169.254.1.1", lladdr: hostMac, state: ["PERMANENT"] }] as unknown[],
  };
}
type Kernel = ReturnType<typeof healthy>;

function kernelRunner(k: Kernel) {
  const answer = (rows: unknown[] | undefined, dev: string) =>
    rows === undefined
      ? { code: 1, stderr: `Device "${dev}" does not exist.` }
      : { stdout: JSON.stringify(rows) };
  return fakeRunner((call: RunCall) => {
    const cmd = call.argv.join(" ");
    if (cmd === `ip -json link show dev ${hostVeth}`) return answer(k.hostLink, hostVeth);
    if (cmd === "ip -json route show 10.244.1.7/32") return answer(k.hostRoutes, "");
    const pod = "ip -n pod1 -json ";
    if (cmd === `${pod}addr show dev eth0`) return answer(k.podLink, "eth0");
    if (cmd === `${pod}route show dev eth0`) return answer(k.podRoutes, "eth0");
    if (cmd === `${pod}neigh show 169.254.1.1 dev eth0`) return answer(k.neigh, "eth0");
    throw new Error(`Unexpected command: ${cmd}`);
  });
}

async function check(
  k: Kernel,
  options: { ep?: Endpoint | undefined; prev?: CniResult; netnsExists?: boolean } = {},
) {
  const ep = "ep" in options ? options.ep : endpoint;
  const daemon = fakeDaemon({ endpoint: () => Promise.resolve(ep) });
  const conf = sampleConf({ prevResult: options.prev ?? prevResult });
  const ctx = fakeContext(env, { runner: kernelRunner(k), daemon, conf });
  await cmdCheck(ctx, { netnsExists: () => options.netnsExists ?? true });
  return daemon;
}

async function differs(k: Kernel, part: string, options: Parameters<typeof check>[1] = {}) {
  const err = await assertRejects(() => check(k, options), CniError);
  assertEquals(err.code, 7);
  assertStringIncludes(err.message, "Attachment ctr1/eth0 is not as expected: ");
  assertStringIncludes(err.message, part);
  return err;
}

Deno.test("cmdCheck() passes when both sides and prevResult match", async () => {
  const daemon = await check(healthy());
  assertEquals(daemon.calls, [["endpoint", { containerID: "ctr1", ifname: "eth0" }]]);
});

Deno.test("cmdCheck() fails with code 3 when the daemon does not know the attachment", async () => {
  const err = await assertRejects(() => check(healthy(), { ep: undefined }), CniError);
  assertEquals(err.code, 3);
  assertEquals(err.message, "Attachment unknown to the daemon: ctr1/eth0");
});

Deno.test("cmdCheck() fails with code 3 when the netns is gone", async () => {
  const err = await assertRejects(() => check(healthy(), { netnsExists: false }), CniError);
  assertEquals(err.code, 3);
  assertEquals(err.message, "Network namespace does not exist: /var/run/netns/pod1");
});

Deno.test("cmdCheck() fails with code 11 when the daemon is unreachable", async () => {
  const daemon = fakeDaemon({
    endpoint: () => Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "refused")),
  });
  const ctx = fakeContext(env, { daemon, conf: sampleConf({ prevResult }) });
  assertEquals((await assertRejects(() => cmdCheck(ctx), CniError)).code, 11);
});

Deno.test("cmdCheck() reports an attachment the daemon has not programmed", async () => {
  await differs(healthy(), `the daemon has not programmed it (state "allocated")`, {
    ep: { ...endpoint, state: "allocated", hostVeth: "" },
  });
});

Deno.test("cmdCheck() reports a missing host veth", async () => {
  const k = healthy();
  k.hostLink = undefined;
  await differs(k, `host veth ${hostVeth} is missing`);
});

Deno.test("cmdCheck() reports a host veth that is down or has another mtu", async () => {
  const k = healthy();
  k.hostLink = [{
    ifindex: 9,
    ifname: hostVeth,
    flags: ["BROADCAST"],
    mtu: 9000,
    address: hostMac,
  }];
  const err = await differs(k, `host veth ${hostVeth} is down`);
  assertStringIncludes(err.message, `host veth ${hostVeth} has mtu 9000, expected 1500`);
});

Deno.test("cmdCheck() reports a missing or misdirected host route", async () => {
  const k = healthy();
  k.hostRoutes = [];
  await differs(k, `host route 10.244.1.7/32 dev ${hostVeth} is missing`);
  k.hostRoutes = [{ dst: "10.244.1.7", dev: "tern00000000000", scope: "link" }];
  await differs(k, `host route 10.244.1.7/32 goes to dev tern00000000000, expected ${hostVeth}`);
  k.hostRoutes = [{ dst: "10.244.1.7", dev: hostVeth, scope: "global" }];
  await differs(k, "host route 10.244.1.7/32 has scope global, expected link");
});

Deno.test("cmdCheck() reports a missing pod interface without querying its routes", async () => {
  const k = healthy();
  k.podLink = undefined;
  k.podRoutes = [];
  k.neigh = [];
  const err = await differs(k, "eth0 is missing in /var/run/netns/pod1");
  assertEquals(/in the pod/.test(err.message), false);
});

Deno.test("cmdCheck() reports a pod interface without its /32 or with another MAC", async () => {
  const k = healthy();
  k.podLink = [{
    ifindex: 2,
    ifname: "eth0",
    flags: ["UP"],
    mtu: 1500,
    address: "0a:00:00:00:00:99",
    addr_info: [{ family: "inet", local: "10.244.1.8", prefixlen: 24 }],
  }];
  const err = await differs(k, "eth0 lacks 10.244.1.7/32 (has 10.244.1.8/24)");
  assertStringIncludes(err.message, `eth0 has MAC 0a:00:00:00:00:99, expected ${podMac}`);
});

Deno.test("cmdCheck() reports missing gateway and default routes in the pod", async () => {
  const k = healthy();
  k.podRoutes = [{ dst: "default", gateway: "10.0.0.1" }];
  const err = await differs(k, "route 169.254.1.1 dev eth0 scope link is missing in the pod");
  assertStringIncludes(err.message, "default route via 169.254.1.1 dev eth0 is missing in the pod");
});

Deno.test("cmdCheck() reports a gateway neighbour entry that is missing, not permanent or wrong", async () => {
  const k = healthy();
  k.neigh = [];
  await differs(k, "neighbour entry 169.254.1.1 dev eth0 is missing in the pod");
  k.neigh = [{ dst: "169.254.1.1", lladdr: hostMac, state: ["REACHABLE"] }];
  await differs(k, "neighbour entry 169.254.1.1 is not permanent (state REACHABLE)");
  k.neigh = [{ dst: "169.254.1.1", lladdr: "0e:ff:ff:ff:ff:ff", state: ["PERMANENT"] }];
  await differs(
    k,
    `neighbour entry 169.254.1.1 points to 0e:ff:ff:ff:ff:ff, expected host veth MAC ${hostMac}`,
  );
});

Deno.test("cmdCheck() reports prevResult IPs that do not match the daemon's record", async () => {
  const prev = { ...prevResult, ips: [{ address: "10.244.1.9/32", interface: 1 }] };
  const err = await differs(
    healthy(),
    "prevResult lacks 10.244.1.7/32 (lists 10.244.1.9/32 for eth0)",
    {
      prev,
    },
  );
  assertStringIncludes(
    err.message,
    "prevResult lists 10.244.1.9/32 for eth0, which tern did not assign",
  );
});

Deno.test("comparePrevResult() ignores addresses of other interfaces", () => {
  const prev: CniResult = {
    ...prevResult,
    interfaces: [...prevResult.interfaces, { name: "net1", sandbox: "/var/run/netns/pod1" }],
    ips: [...prevResult.ips, { address: "192.168.0.5/24", interface: 2 }],
  };
  assertEquals(comparePrevResult(prev, endpoint, "eth0"), []);
  assertEquals(comparePrevResult({ ...prev, ips: [] }, endpoint, "eth0"), [
    "prevResult lacks 10.244.1.7/32 (lists no address for eth0)",
  ]);
});

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../test/assert.ts";
import type { ClusterStatus, Endpoint, RoutingStatus } from "../../src/api.ts";
import { hostVethName } from "../../src/names.ts";
import { TERN_VERSION } from "../../src/version.ts";
import { type HostDataplane, VethMissingError } from "../routing/dataplane.ts";
import { createHandler, type Handler, MAX_BODY_BYTES } from "./handler.ts";
import { Ipam } from "../ipam/ipam.ts";
import { Mutex } from "../../src/lib/mutex.ts";

class FakeDataplane implements HostDataplane {
  calls: string[] = [];
  failProgram = false;
  /** Veths that do not exist: programming them fails as the real dataplane's does. */
  missing = new Set<string>();
  programEndpoint(ep: Endpoint): Promise<void> {
    this.calls.push(`program ${ep.ip} ${ep.hostVeth}`);
    if (this.missing.has(ep.hostVeth)) {
      return Promise.reject(new VethMissingError(ep.ip, ep.hostVeth));
    }
    return this.failProgram
      ? Promise.reject(new Error('Command failed: ip -batch -: exit 1: Cannot find device "x"'))
      : Promise.resolve();
  }
  removeEndpoint(ep: Endpoint, options: { keepVeth?: boolean } = {}): Promise<void> {
    this.calls.push(`remove ${ep.ip}${options.keepVeth ? " keeping the veth" : ""}`);
    return Promise.resolve();
  }
}

interface Fixture {
  handler: Handler;
  ipam: Ipam;
  dataplane: FakeDataplane;
  setReady(ready: boolean): void;
}

async function withHandler(
  podCIDRs: string[],
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const ipam = await Ipam.open(kv, { podCIDRs });
    const dataplane = new FakeDataplane();
    let ready = true;
    const handler = createHandler({
      ipam,
      dataplane,
      lock: new Mutex(),
      node: "node-1",
      startedAt: 1_000,
      now: () => 6_000,
      isReady: () => ready,
    });
    await fn({ handler, ipam, dataplane, setReady: (r) => (ready = r) });
  } finally {
    kv.close();
  }
}

function post(path: string, body: unknown): Request {
  return new Request(`http://ternd${path}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
}

const get = (path: string) => new Request(`http://ternd${path}`);

function allocation(containerID: string, ifname = "eth0") {
  return { containerID, ifname, network: "tern", netns: `/var/run/netns/${containerID}` };
}

async function programBody(containerID: string, ip: string, ifname = "eth0") {
  return {
    ...allocation(containerID, ifname),
    hostVeth: await hostVethName(containerID, ifname),
    podMac: "0a:58:0a:f4:01:07",
    ip,
  };
}

async function expectError(res: Response, status: number, reason: string): Promise<string> {
  assertEquals(res.status, status);
  assertEquals(res.headers.get("content-type"), "application/json");
  const body = await res.json();
  assertEquals(body.reason, reason);
  assertEquals(typeof body.error, "string");
  return body.error;
}

Deno.test("GET /v1/status reports pools, free, endpoints, version and uptime", () =>
  withHandler(["10.244.1.0/24", "10.244.2.0/30"], async ({ handler }) => {
    await handler(post("/v1/ipam/allocate", allocation("c1")));
    const res = await handler(get("/v1/status"));
    assertEquals(res.status, 200);
    assertEquals(await res.json(), {
      ready: true,
      version: TERN_VERSION,
      node: "node-1",
      pools: [
        { cidr: "10.244.1.0/24", capacity: 254, used: 1, free: 253 },
        { cidr: "10.244.2.0/30", capacity: 2, used: 0, free: 2 },
      ],
      free: 255,
      endpoints: 1,
      uptimeMs: 5_000,
      policy: { enabled: false },
    });
  }));

Deno.test("GET /v1/status carries the routing and cluster status when the daemon gives them", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const routing: RoutingStatus = {
      mode: "native",
      podCIDRsFrom: "node",
      peers: [{ node: "node-2", address: "192.168.50.2", podCIDRs: ["10.244.2.0/24"], routed: [] }],
      problems: [{ kind: "no_address", message: "Node has no IPv4 address" }],
      reconcile: {
        passes: 3,
        intervalMs: 10_000,
        monitor: "running",
        ownedRoutes: 4,
        ownedRules: 2,
        failing: [],
      },
    };
    const cluster: ClusterStatus = {
      source: "files:/etc/tern/cluster",
      nodes: 2,
      pods: 5,
      errors: [],
      publishEndpoints: true,
    };
    const handler = createHandler({
      ipam: await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] }),
      dataplane: new FakeDataplane(),
      lock: new Mutex(),
      node: "node-1",
      startedAt: 0,
      routingStatus: () => routing,
      clusterStatus: () => cluster,
    });
    const body = await (await handler(get("/v1/status"))).json();
    assertEquals(body.routing, routing);
    assertEquals(body.cluster, cluster);
  } finally {
    kv.close();
  }
});

Deno.test("POST /v1/ipam/allocate returns the same address for a repeated ADD", () =>
  withHandler(["10.244.1.0/24"], async ({ handler }) => {
    const first = await (await handler(post("/v1/ipam/allocate", allocation("c1")))).json();
    const again = await (await handler(post("/v1/ipam/allocate", allocation("c1")))).json();
    assertEquals(first, {
      ip: "10.244.1.1",
      podCIDR: "10.244.1.0/24",
      gateway: "169.254.1.1",
      created: true,
    });
    assertEquals(again, { ...first, created: false });
  }));

Deno.test("POST /v1/ipam/allocate answers 503 exhausted when the pools are full", () =>
  withHandler(["10.0.0.0/30"], async ({ handler }) => {
    await handler(post("/v1/ipam/allocate", allocation("a")));
    await handler(post("/v1/ipam/allocate", allocation("b")));
    const message = await expectError(
      await handler(post("/v1/ipam/allocate", allocation("c"))),
      503,
      "exhausted",
    );
    assertStringIncludes(message, "10.0.0.0/30 has 2 of 2 in use");
  }));

Deno.test("POST /v1/ipam/allocate answers 400 invalid naming the field", () =>
  withHandler(["10.0.0.0/24"], async ({ handler }) => {
    const missing = await expectError(
      await handler(post("/v1/ipam/allocate", { ifname: "eth0", network: "tern", netns: "/x" })),
      400,
      "invalid",
    );
    assertEquals(missing, "Invalid request: containerID: is required");
    const badIf = await expectError(
      await handler(post("/v1/ipam/allocate", { ...allocation("c1"), ifname: "a/b" })),
      400,
      "invalid",
    );
    assertStringIncludes(badIf, "ifname: must be a Linux interface name");
    assertStringIncludes(badIf, 'got "a/b"');
    // The pod's namespace is a DNS label and its name a DNS subdomain, as Kubernetes has them.
    for (const pod of [{ podNamespace: "../x" }, { podNamespace: "a.b" }, { podName: "Web" }]) {
      const text = await expectError(
        await handler(post("/v1/ipam/allocate", { ...allocation("c1"), ...pod })),
        400,
        "invalid",
      );
      assertStringIncludes(text, "is not a valid name");
    }
    for (const ifname of ["éééééééé", "eth\u00850", "a234567890123456"]) {
      await expectError(
        await handler(post("/v1/ipam/allocate", { ...allocation("c1"), ifname })),
        400,
        "invalid",
      );
    }
    const notJson = await expectError(
      await handler(post("/v1/ipam/allocate", "{nope")),
      400,
      "invalid",
    );
    assertStringIncludes(notJson, "Invalid request: body is not JSON");
    await expectError(await handler(post("/v1/ipam/allocate", "")), 400, "invalid");
  }));

Deno.test("bodies over 64 KiB are refused with 413 by Content-Length and by bytes read", () =>
  withHandler(["10.0.0.0/24"], async ({ handler }) => {
    const big = JSON.stringify({ ...allocation("c1"), pad: "x".repeat(MAX_BODY_BYTES) });
    const declared = await expectError(
      await handler(
        new Request("http://ternd/v1/ipam/allocate", {
          method: "POST",
          body: big,
          headers: { "content-length": String(new TextEncoder().encode(big).length) },
        }),
      ),
      413,
      "too_large",
    );
    assertStringIncludes(declared, "Content-Length");
    // A streamed body carries no Content-Length: the reader counts.
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
        controller.close();
      },
    });
    const req = new Request("http://ternd/v1/ipam/allocate", { method: "POST", body: stream });
    assertEquals(req.headers.get("content-length"), null);
    const counted = await expectError(await handler(req), 413, "too_large");
    assertStringIncludes(counted, `more than ${MAX_BODY_BYTES} bytes`);
    // A lying Content-Length under the cap does not help either.
    const lying = new Request("http://ternd/v1/ipam/allocate", {
      method: "POST",
      body: big,
      headers: { "content-length": "10" },
    });
    await expectError(await handler(lying), 413, "too_large");
  }));

Deno.test("unknown paths answer 404 and wrong methods 405, both as JSON", () =>
  withHandler(["10.0.0.0/24"], async ({ handler }) => {
    await expectError(await handler(get("/v1/nope")), 404, "not_found");
    await expectError(await handler(get("/")), 404, "not_found");
    const res = await handler(get("/v1/ipam/allocate"));
    assertEquals(res.headers.get("allow"), "POST");
    await expectError(res, 405, "invalid");
    await expectError(await handler(post("/v1/status", {})), 405, "invalid");
    await expectError(
      await handler(new Request("http://ternd/v1/endpoints", { method: "DELETE" })),
      405,
      "invalid",
    );
  }));

Deno.test("POST /v1/endpoints programs the host route and records the endpoint", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    const { ip } = await (await handler(post("/v1/ipam/allocate", allocation("c1")))).json();
    const body = await programBody("c1", ip);
    const res = await handler(post("/v1/endpoints", body));
    assertEquals(res.status, 200);
    const ep = await res.json();
    assertEquals(ep.state, "programmed");
    assertEquals(ep.hostVeth, body.hostVeth);
    assertEquals(ep.podMac, body.podMac);
    assertEquals(dataplane.calls, [`program ${ip} ${body.hostVeth}`]);
    assertEquals((await ipam.get(body))?.state, "programmed");
  }));

Deno.test("POST /v1/endpoints refuses an address the identity does not own (409) and unknown identities (404)", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane }) => {
    await handler(post("/v1/ipam/allocate", allocation("c1")));
    await handler(post("/v1/ipam/allocate", allocation("c2")));
    const stolen = await expectError(
      await handler(post("/v1/endpoints", await programBody("c1", "10.244.1.2"))),
      409,
      "conflict",
    );
    assertStringIncludes(stolen, "Attachment does not own 10.244.1.2");
    await expectError(
      await handler(post("/v1/endpoints", await programBody("ghost", "10.244.1.9"))),
      404,
      "not_found",
    );
    assertEquals(dataplane.calls, []);
  }));

Deno.test("POST /v1/endpoints refuses a host veth name that is not the identity's", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane }) => {
    const { ip } = await (await handler(post("/v1/ipam/allocate", allocation("c1")))).json();
    const message = await expectError(
      await handler(post("/v1/endpoints", { ...(await programBody("c1", ip)), hostVeth: "eth0" })),
      400,
      "invalid",
    );
    assertMatch(message, /^Invalid request: hostVeth: must be tern[0-9a-f]{11} for containerID c1/);
    assertEquals(dataplane.calls, []);
  }));

Deno.test("POST /v1/endpoints answers 500 with ip's message and leaves the endpoint allocated", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    const { ip } = await (await handler(post("/v1/ipam/allocate", allocation("c1")))).json();
    dataplane.failProgram = true;
    const message = await expectError(
      await handler(post("/v1/endpoints", await programBody("c1", ip))),
      500,
      "internal",
    );
    assertStringIncludes(message, "Cannot find device");
    assertEquals((await ipam.get({ containerID: "c1", ifname: "eth0" }))?.state, "allocated");
  }));

async function addBody(containerID: string, ifname = "eth0") {
  const { ip: _, ...body } = await programBody(containerID, "", ifname);
  return body;
}

Deno.test("POST /v1/endpoints/add claims an address, programs the host side and records it programmed", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    const body = await addBody("c1");
    const res = await handler(post("/v1/endpoints/add", body));
    assertEquals(res.status, 200);
    const ep = await res.json();
    assertEquals(
      [ep.ip, ep.created, ep.state, ep.policy, ep.hostVeth, ep.podMac],
      ["10.244.1.1", true, "programmed", "off", body.hostVeth, body.podMac],
    );
    assertEquals(dataplane.calls, [`program 10.244.1.1 ${body.hostVeth}`]);
    const record = await ipam.get(body);
    assertEquals([record?.state, record?.hostVeth], ["programmed", body.hostVeth]);
  }));

Deno.test("POST /v1/endpoints/add for an identity that holds an address programs it again, created false", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane }) => {
    const body = await addBody("c1");
    await handler(post("/v1/endpoints/add", body));
    const res = await handler(post("/v1/endpoints/add", body));
    assertEquals(res.status, 200);
    const ep = await res.json();
    assertEquals([ep.ip, ep.created, ep.state], ["10.244.1.1", false, "programmed"]);
    assertEquals(dataplane.calls, [
      `program 10.244.1.1 ${body.hostVeth}`,
      `program 10.244.1.1 ${body.hostVeth}`,
    ]);
  }));

Deno.test("POST /v1/endpoints/add undoes the host side, keeps the veth and leaves no claim when programming fails", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    dataplane.failProgram = true;
    const message = await expectError(
      await handler(post("/v1/endpoints/add", await addBody("c1"))),
      500,
      "internal",
    );
    assertStringIncludes(message, "Cannot find device");
    assertEquals(dataplane.calls, [
      "program 10.244.1.1 " + (await hostVethName("c1", "eth0")),
      "remove 10.244.1.1 keeping the veth",
    ]);
    assertEquals(await ipam.get({ containerID: "c1", ifname: "eth0" }), undefined);
    assertEquals(ipam.usedCount, 0);
  }));

Deno.test("POST /v1/endpoints/add of a veth that does not exist answers 404 and leaves no claim", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    const body = await addBody("c1");
    dataplane.missing.add(body.hostVeth);
    const message = await expectError(
      await handler(post("/v1/endpoints/add", body)),
      404,
      "not_found",
    );
    assertStringIncludes(message, `no host veth ${body.hostVeth} on this node`);
    assertEquals(await ipam.get(body), undefined);
    assertEquals(ipam.usedCount, 0);
  }));

Deno.test("POST /v1/endpoints/add refuses a foreign host veth name (400) and answers 503 exhausted", () =>
  withHandler(["10.244.1.0/30"], async ({ handler, dataplane }) => {
    const message = await expectError(
      await handler(post("/v1/endpoints/add", { ...(await addBody("c1")), hostVeth: "eth0" })),
      400,
      "invalid",
    );
    assertMatch(message, /^Invalid request: hostVeth: must be tern[0-9a-f]{11} for containerID c1/);
    for (const id of ["c1", "c2"]) {
      assertEquals((await handler(post("/v1/endpoints/add", await addBody(id)))).status, 200);
    }
    await expectError(
      await handler(post("/v1/endpoints/add", await addBody("c3"))),
      503,
      "exhausted",
    );
    assertEquals(dataplane.calls.length, 2);
  }));

Deno.test("GET /v1/endpoints lists and GET /v1/endpoints/{id}/{ifname} finds or 404s", () =>
  withHandler(["10.244.1.0/24"], async ({ handler }) => {
    await handler(post("/v1/ipam/allocate", allocation("c1")));
    await handler(post("/v1/ipam/allocate", allocation("c2", "net1")));
    const list = await (await handler(get("/v1/endpoints"))).json();
    assertEquals(list.endpoints.map((e: Endpoint) => `${e.containerID}/${e.ifname}`), [
      "c1/eth0",
      "c2/net1",
    ]);
    const one = await handler(get("/v1/endpoints/c2/net1"));
    assertEquals(one.status, 200);
    assertEquals((await one.json()).ip, "10.244.1.2");
    await expectError(await handler(get("/v1/endpoints/c2/eth0")), 404, "not_found");
    await expectError(await handler(get("/v1/endpoints/%E0%A4%A/eth0")), 400, "invalid");
  }));

Deno.test("POST /v1/endpoints/release tears down the host side, frees the address and is idempotent", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    const { ip } = await (await handler(post("/v1/ipam/allocate", allocation("c1")))).json();
    const id = { containerID: "c1", ifname: "eth0" };
    const first = await handler(post("/v1/endpoints/release", { ...id, network: "tern" }));
    assertEquals(await first.json(), { released: true, ip });
    assertEquals(dataplane.calls, [`remove ${ip}`]);
    const again = await handler(post("/v1/endpoints/release", id));
    assertEquals(await again.json(), { released: false });
    assertEquals(dataplane.calls.length, 1);
    assertEquals(ipam.usedCount, 0);
  }));

Deno.test("POST /v1/endpoints/release leaves an attachment of another network alone", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane }) => {
    await handler(post("/v1/ipam/allocate", allocation("c1")));
    const res = await handler(
      post("/v1/endpoints/release", { containerID: "c1", ifname: "eth0", network: "other" }),
    );
    assertEquals(await res.json(), { released: false });
    assertEquals(dataplane.calls, []);
  }));

Deno.test("POST /v1/gc releases every attachment of the network that is not valid", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, dataplane, ipam }) => {
    for (const c of ["keep", "drop1", "drop2"]) {
      await handler(post("/v1/ipam/allocate", allocation(c)));
    }
    await handler(post("/v1/ipam/allocate", { ...allocation("othernet"), network: "other" }));
    const res = await handler(post("/v1/gc", {
      network: "tern",
      valid: [{ containerID: "keep", ifname: "eth0" }, { containerID: "unknown", ifname: "eth0" }],
    }));
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.released.map((r: { containerID: string }) => r.containerID).sort(), [
      "drop1",
      "drop2",
    ]);
    assert(body.released.every((r: { ip: string }) => /^10\.244\.1\.\d+$/.test(r.ip)));
    assertEquals(dataplane.calls.length, 2);
    assertEquals(
      (await ipam.list()).map((e) => e.containerID),
      ["keep", "othernet"],
    );
    await expectError(await handler(post("/v1/gc", { network: "tern" })), 400, "invalid");
  }));

Deno.test("changes are refused with 503 unavailable while not ready; status still answers", () =>
  withHandler(["10.244.1.0/24"], async ({ handler, setReady }) => {
    setReady(false);
    await expectError(
      await handler(post("/v1/ipam/allocate", allocation("c1"))),
      503,
      "unavailable",
    );
    const status = await (await handler(get("/v1/status"))).json();
    assertEquals(status.ready, false);
  }));

Deno.test("POST bodies that are not UTF-8 are refused with 400 and change nothing", () =>
  withHandler(["10.0.0.0/24"], async ({ handler, ipam }) => {
    const text = JSON.stringify(allocation("c1"));
    const at = text.indexOf("eth0");
    const body = new Uint8Array([
      ...new TextEncoder().encode(text.slice(0, at)),
      0xff,
      ...new TextEncoder().encode(text.slice(at)),
    ]);
    const message = await expectError(
      await handler(new Request("http://ternd/v1/ipam/allocate", { method: "POST", body })),
      400,
      "invalid",
    );
    assertEquals(message, "Invalid request: body is not UTF-8");
    assertEquals(await ipam.list(), []);
  }));

Deno.test("GET /v1/ipam/check answers the check's report; POST /v1/ipam/repair its repairs, when ready", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const report = {
      node: "node-1",
      mode: "node-cidr" as const,
      checkedAt: 1,
      counts: { allocations: 0, addressRecords: 0, veths: 0, routes: 0, young: 0 },
      problems: [],
    };
    let ready = true;
    let repairs = 0;
    const handler = createHandler({
      ipam,
      dataplane: new FakeDataplane(),
      lock: new Mutex(),
      node: "node-1",
      startedAt: 0,
      isReady: () => ready,
      ipamCheck: {
        check: () => Promise.resolve(report),
        repair: () => (repairs++, Promise.resolve({ before: report, repairs: [], after: report })),
      },
    });
    const checked = await handler(get("/v1/ipam/check"));
    assertEquals([checked.status, await checked.json()], [200, report]);
    const repaired = await handler(new Request("http://ternd/v1/ipam/repair", { method: "POST" }));
    assertEquals(repaired.status, 200);
    assertEquals((await repaired.json()).after, report);
    ready = false;
    const refused = await handler(new Request("http://ternd/v1/ipam/repair", { method: "POST" }));
    assertEquals([refused.status, repairs], [503, 1]);
    assertEquals((await handler(get("/v1/ipam/check"))).status, 200, "a check changes nothing");

    const without = createHandler({
      ipam,
      dataplane: new FakeDataplane(),
      lock: new Mutex(),
      node: "node-1",
      startedAt: 0,
    });
    const missing = await without(get("/v1/ipam/check"));
    assertEquals([missing.status, (await missing.json()).reason], [503, "unavailable"]);
  } finally {
    kv.close();
  }
});

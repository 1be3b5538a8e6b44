/**
 * The policy side of the API handler: program waits for the endpoint's policy, the policy paths
 * answer from the injected service, and without one (policy disabled) they say so.
 */
import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";
import type {
  Endpoint,
  ExplainRequest,
  PolicyCountersResponse,
  PolicyStatusResponse,
} from "../../src/api.ts";
import { hostVethName } from "../../src/names.ts";
import { ExplainError } from "../../src/policy/explain.ts";
import { explainFlow } from "../../src/policy/explain.ts";
import { stateFrom } from "../../test/cluster_fixtures.ts";
import type { HostDataplane } from "../routing/dataplane.ts";
import { createHandler, type Handler } from "./handler.ts";
import { Ipam } from "../ipam/ipam.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import type { ProgrammedState } from "../policy/policy_manager.ts";
import type { PolicyService } from "../policy/policy_service.ts";

const dataplane: HostDataplane = {
  programEndpoint: (_ep: Endpoint) => Promise.resolve(),
  removeEndpoint: (_ep: Endpoint) => Promise.resolve(),
};

class FakePolicy implements PolicyService {
  readonly events: string[] = [];
  /** Resolves the pending `programmed` call. */
  release: ((state: ProgrammedState) => void) | undefined;
  fail: string | undefined;
  explained: ExplainRequest[] = [];

  programmed(hostVeth: string): Promise<ProgrammedState> {
    this.events.push(`wait ${hostVeth}`);
    if (this.fail !== undefined) return Promise.reject(new Error(this.fail));
    return new Promise((resolve) => {
      this.release = (state) => {
        this.events.push(`programmed ${hostVeth} ${state.state}`);
        resolve(state);
      };
    });
  }
  status(): Promise<PolicyStatusResponse> {
    return Promise.resolve({
      enforcement: {
        enabled: true,
        table: "inet tern",
        logRate: 5,
        pods: 1,
        pending: [],
        problems: 0,
        applies: 3,
        wholeApplies: 1,
        upToDate: true,
        checks: 2,
        restores: 0,
      },
      policies: [{
        kind: "NetworkPolicy",
        namespace: "x",
        name: "deny-all",
        state: "enforced",
        pods: ["x/a"],
        enforced: ["selects all pods in x", "ingress: deny all"],
        problems: [],
      }],
    });
  }
  summary() {
    return { enabled: true, policies: 1, pods: 1, pending: 0, problems: 0, upToDate: true };
  }
  counters(): Promise<PolicyCountersResponse> {
    return Promise.resolve({
      rules: [],
      perPod: [],
      defaultDeny: [],
      notReady: { packets: 4, bytes: 336 },
      unmatched: 0,
      at: 42,
    });
  }
  explain(request: ExplainRequest) {
    this.explained.push(request);
    if (request.src === "x/ghost") {
      throw new ExplainError("Unknown pod: x/ghost is not in the cluster state");
    }
    return explainFlow(clusterWithNothing, {
      src: { ip: "10.0.0.1" },
      dst: { ip: "10.0.0.2" },
      protocol: request.proto,
      port: request.port ?? 1,
    });
  }
}

const clusterWithNothing = stateFrom();

async function withHandler(
  policy: PolicyService | undefined,
  fn: (handler: Handler, ipam: Ipam) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const handler = createHandler({
      ipam,
      dataplane,
      lock: new Mutex(),
      node: "node-1",
      startedAt: 0,
      ...(policy ? { policy } : {}),
    });
    await fn(handler, ipam);
  } finally {
    kv.close();
  }
}

const post = (path: string, body: unknown) =>
  new Request(`http://ternd${path}`, { method: "POST", body: JSON.stringify(body) });
const get = (path: string) => new Request(`http://ternd${path}`);

async function allocateAndProgramBody(handler: Handler, containerID: string) {
  const id = { containerID, ifname: "eth0", network: "tern", netns: "/var/run/netns/p" };
  const { ip } = await (await handler(post("/v1/ipam/allocate", id))).json();
  return {
    ...id,
    hostVeth: await hostVethName(containerID, "eth0"),
    podMac: "0a:58:0a:f4:01:07",
    ip,
  };
}

Deno.test("POST /v1/endpoints answers only after the endpoint's policy is programmed", async () => {
  const policy = new FakePolicy();
  await withHandler(policy, async (handler) => {
    const body = await allocateAndProgramBody(handler, "c1");
    let answered = false;
    const response = handler(post("/v1/endpoints", body)).then((r) => {
      answered = true;
      return r;
    });
    // The handler reaches the wait after a few steps of its own: poll for it, not a fixed time.
    const deadline = Date.now() + 2_000;
    while (policy.release === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(policy.events, [`wait ${body.hostVeth}`]);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(answered, false, "no answer before the policy is in the kernel");
    policy.release!({ state: "ready" });
    const res = await response;
    assertEquals(res.status, 200);
    assertEquals((await res.json()).policy, "ready");
  });
});

Deno.test("POST /v1/endpoints waits for the policy while the record's commit runs, and answers after both", async () => {
  const policy = new FakePolicy();
  await withHandler(policy, async (handler, ipam) => {
    const body = await allocateAndProgramBody(handler, "c1");
    // The commit finishes only once the policy wait has begun: a handler that committed first
    // and waited after would never answer.
    const commit = ipam.markProgrammed.bind(ipam);
    ipam.markProgrammed = async (id, fields) => {
      const deadline = Date.now() + 2_000;
      while (policy.release === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 2));
      }
      assertEquals(policy.events, [`wait ${body.hostVeth}`], "the policy wait began first");
      return await commit(id, fields);
    };
    const response = handler(post("/v1/endpoints", body));
    const deadline = Date.now() + 3_000;
    while (policy.release === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    policy.release?.({ state: "ready" });
    const res = await response;
    assertEquals(res.status, 200);
    assertEquals((await res.json()).state, "programmed");
  });
});

Deno.test("POST /v1/endpoints says pending for a pod held closed, and fails when nft does", async () => {
  const held = new FakePolicy();
  await withHandler(held, async (handler) => {
    const body = await allocateAndProgramBody(handler, "c1");
    const response = handler(post("/v1/endpoints", body));
    while (held.release === undefined) await new Promise((r) => setTimeout(r, 2));
    held.release({ state: "pending", reason: "Pod x/a is not in the cluster state" });
    assertEquals((await (await response).json()).policy, "pending");
  });
  const failing = new FakePolicy();
  failing.fail = "Cannot program policy: Error: Could not process rule";
  await withHandler(failing, async (handler) => {
    const res = await handler(post("/v1/endpoints", await allocateAndProgramBody(handler, "c2")));
    assertEquals(res.status, 500);
    assertStringIncludes((await res.json()).error, "Cannot program policy");
  });
});

Deno.test("POST /v1/endpoints/add answers only after the policy is in, its record committed beside it", async () => {
  const policy = new FakePolicy();
  await withHandler(policy, async (handler, ipam) => {
    const hostVeth = await hostVethName("c1", "eth0");
    const id = { containerID: "c1", ifname: "eth0" };
    const body = {
      ...id,
      network: "tern",
      netns: "/var/run/netns/p",
      hostVeth,
      podMac: "0a:58:0a:f4:01:07",
    };
    let answered = false;
    const response = handler(post("/v1/endpoints/add", body)).then((r) => {
      answered = true;
      return r;
    });
    const deadline = Date.now() + 2_000;
    while (policy.release === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    assertEquals(policy.events, [`wait ${hostVeth}`]);
    // The claim commits while the policy is awaited: it is in KV before the answer.
    while ((await ipam.get(id)) === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    assertEquals((await ipam.get(id))?.state, "programmed");
    assertEquals(answered, false, "no answer before the policy is in the kernel");
    policy.release!({ state: "ready" });
    const res = await response;
    assertEquals(res.status, 200);
    assertEquals((await res.json()).policy, "ready");
  });
});

Deno.test("POST /v1/endpoints/add fails when nft does, and leaves no claim", async () => {
  const failing = new FakePolicy();
  failing.fail = "Cannot program policy: Error: Could not process rule";
  await withHandler(failing, async (handler, ipam) => {
    const hostVeth = await hostVethName("c1", "eth0");
    const id = { containerID: "c1", ifname: "eth0" };
    const body = {
      ...id,
      network: "tern",
      netns: "/var/run/netns/p",
      hostVeth,
      podMac: "0a:58:0a:f4:01:07",
    };
    const res = await handler(post("/v1/endpoints/add", body));
    assertEquals(res.status, 500);
    assertStringIncludes((await res.json()).error, "Cannot program policy");
    assertEquals(await ipam.get(id), undefined);
  });
});

Deno.test("POST /v1/endpoints does not wait when policy is disabled", async () => {
  await withHandler(undefined, async (handler) => {
    const res = await handler(post("/v1/endpoints", await allocateAndProgramBody(handler, "c1")));
    assertEquals(res.status, 200);
    assertEquals((await res.json()).policy, "off");
  });
});

Deno.test("GET /v1/policy/status and /v1/policy/counters answer from the policy service", async () => {
  const policy = new FakePolicy();
  await withHandler(policy, async (handler) => {
    const status = await (await handler(get("/v1/policy/status"))).json();
    assertEquals(status, await policy.status());
    const counters = await (await handler(get("/v1/policy/counters"))).json();
    assertEquals(counters.notReady, { packets: 4, bytes: 336 });
    assertEquals(counters.at, 42);
    const summary = (await (await handler(get("/v1/status"))).json()).policy;
    assertEquals(summary, policy.summary());
  });
});

Deno.test("POST /v1/policy/explain validates the flow and answers the explanation", async () => {
  const policy = new FakePolicy();
  await withHandler(policy, async (handler) => {
    const ok = await handler(
      post("/v1/policy/explain", { src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp", port: 80 }),
    );
    assertEquals(ok.status, 200);
    const body = await ok.json();
    assertEquals(body.verdict, "allow");
    assertEquals(policy.explained, [{ src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp", port: 80 }]);

    const noPort = await handler(
      post("/v1/policy/explain", { src: "x/a", dst: "x/b", proto: "udp" }),
    );
    assertEquals(noPort.status, 400);
    assertStringIncludes((await noPort.json()).error, "port: is required for udp");

    const unknown = await handler(
      post("/v1/policy/explain", { src: "x/ghost", dst: "x/b", proto: "tcp", port: 80 }),
    );
    assertEquals(unknown.status, 400);
    assertEquals(
      (await unknown.json()).error,
      "Unknown pod: x/ghost is not in the cluster state",
    );
  });
});

Deno.test("the policy paths say policy is disabled when it is", async () => {
  await withHandler(undefined, async (handler) => {
    const status = await (await handler(get("/v1/policy/status"))).json();
    assertEquals(status, { enforcement: { enabled: false }, policies: [] });
    const counters = await handler(get("/v1/policy/counters"));
    assertEquals(counters.status, 503);
    const body = await counters.json();
    assertEquals(body.reason, "unavailable");
    assert(body.error.startsWith("Policy is disabled: policy.enabled is false"));
    const explain = await handler(
      post("/v1/policy/explain", { src: "a", dst: "b", proto: "icmp" }),
    );
    assertEquals(explain.status, 503);
  });
});

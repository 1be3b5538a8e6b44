import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../test/assert.ts";
import { FakeClock } from "../clock.ts";
import { KubeClient } from "../kube/client.ts";
import {
  json,
  podObject,
  type SeenRequest,
  startTestServer,
  status,
  type TestServer,
  type TestStream,
  until,
} from "../kube/_test_server.ts";
import {
  connectKubernetesSource,
  KubernetesAccessError,
  KubernetesSource,
  POD_IPS_ANNOTATION,
} from "./kubernetes_source.ts";
import type { ClusterEvent, Pod } from "./types.ts";
import { parsePolicyResource } from "../policy/resources.ts";

/**
 * A tiny API server over in-memory collections keyed by path (`/api/v1/pods`): list at the
 * current version, watch streams the test writes to. Kinds not in `collections` answer 404, as
 * an API server does for a CRD that is not installed.
 */
class MiniApi {
  version = 100;
  readonly collections = new Map<string, Map<string, Record<string, unknown>>>();
  readonly watchers = new Map<string, TestStream[]>();
  /** Paths answered with this response instead (a 403, a 410). */
  readonly override = new Map<string, () => Response>();
  server!: TestServer;

  constructor(paths: string[]) {
    for (const p of paths) this.collections.set(p, new Map());
  }

  handle = (req: SeenRequest, server: TestServer): Response => {
    if (req.method === "PATCH") return json(JSON.parse(req.body));
    const special = this.override.get(req.path);
    if (special !== undefined) return special();
    const items = this.collections.get(req.path);
    if (items === undefined) {
      return status(404, "NotFound", "the server could not find the requested resource");
    }
    if (req.query.get("watch") !== "1") {
      return json({
        metadata: { resourceVersion: String(this.version) },
        items: [...items.values()],
      });
    }
    const s = server.stream();
    this.watchers.set(req.path, [...(this.watchers.get(req.path) ?? []), s]);
    return s.response;
  };

  /** Stores `object` at a new version and tells the open watches of its path. */
  put(path: string, object: Record<string, unknown>, type = "MODIFIED"): void {
    const meta = object.metadata as Record<string, unknown>;
    meta.resourceVersion = String(++this.version);
    const key = `${meta.namespace ?? ""}/${meta.name}`;
    const items = this.collections.get(path)!;
    const kind = items.has(key) ? type : "ADDED";
    items.set(key, object);
    for (const s of this.watchers.get(path) ?? []) s.event(kind, object);
  }

  remove(path: string, namespace: string | undefined, name: string): void {
    const items = this.collections.get(path)!;
    const object = items.get(`${namespace ?? ""}/${name}`)!;
    items.delete(`${namespace ?? ""}/${name}`);
    (object.metadata as Record<string, unknown>).resourceVersion = String(++this.version);
    for (const s of this.watchers.get(path) ?? []) s.event("DELETED", object);
  }
}

const PODS = "/api/v1/pods";
const NODES = "/api/v1/nodes";
const NAMESPACES = "/api/v1/namespaces";
const SERVICEACCOUNTS = "/api/v1/serviceaccounts";
const NETPOLS = "/apis/networking.k8s.io/v1/networkpolicies";
const SGS = "/apis/tern.dev/v1alpha1/securitygroups";
const SGPS = "/apis/vpcresources.k8s.aws/v1beta1/securitygrouppolicies";

function node(name: string, cidr: string, ip: string) {
  return {
    metadata: { name, uid: `uid-${name}`, managedFields: [{ manager: "kubelet" }] },
    spec: { podCIDR: cidr, podCIDRs: [cidr], providerID: "x" },
    status: { addresses: [{ type: "InternalIP", address: ip }], images: [{ names: ["big"] }] },
  };
}

function netpol(name: string, spec: unknown) {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: "default" },
    spec,
  };
}

interface Harness {
  api: MiniApi;
  server: TestServer;
  clock: FakeClock;
  source: KubernetesSource;
}

async function withSource(
  fn: (h: Harness) => Promise<void>,
  setup: (api: MiniApi) => void = () => {},
  paths = [PODS, NODES, NAMESPACES, SERVICEACCOUNTS, NETPOLS, SGS],
  options: { nodeRanges?: (node: string) => readonly string[] } = {},
): Promise<void> {
  const api = new MiniApi(paths);
  setup(api);
  const server = startTestServer(api.handle);
  api.server = server;
  const clock = new FakeClock();
  const source = new KubernetesSource(new KubeClient(server.connection, { clock }), {
    clock,
    random: () => 0.5,
    ...options,
  });
  try {
    await fn({ api, server, clock, source });
  } finally {
    await source.close();
    await server.close();
  }
}

/** Reads a watch event by event with a real-time deadline. */
function reader(source: KubernetesSource) {
  const it = source.watch()[Symbol.asyncIterator]();
  const seen: ClusterEvent[] = [];
  let pending: Promise<void> | undefined;
  const pump = () => {
    pending ??= it.next().then((r) => {
      pending = undefined;
      if (!r.done) {
        seen.push(r.value);
        pump();
      }
    });
  };
  pump();
  return {
    seen,
    /** Closes the source, which ends the watch. */
    async stop() {
      await source.close();
      await pending;
    },
  };
}

const describe = (e: ClusterEvent) =>
  e.type === "error"
    ? `error ${e.message}`
    : e.type === "reset"
    ? "reset"
    : `${e.type} ${e.resource.kind}${"name" in e.resource ? ` ${e.resource.name}` : ""}`;

Deno.test("KubernetesSource lists every kind once synced; a missing CRD counts as empty and is reported", async () => {
  await withSource(async ({ source, server }) => {
    assertEquals(source.isSynced, false);
    const snap = await source.list();
    assertEquals(source.isSynced, true);
    assertEquals(snap.nodes.map((n) => [n.name, n.podCIDRs, n.addresses[0]?.address]), [
      ["node-1", ["10.244.1.0/24"], "192.168.0.1"],
    ]);
    assertEquals(snap.namespaces.map((n) => n.labels), [{
      "kubernetes.io/metadata.name": "default",
    }]);
    assertEquals(snap.pods.map((p) => [p.name, p.podIPs]), [["web", ["10.244.1.5"]]]);
    assertEquals(snap.others.map((o) => [o.resourceKind, o.name]), [["NetworkPolicy", "deny-all"]]);
    // Trimmed before it is kept: no managedFields, no status, no kubectl copy.
    const raw = snap.others[0]!.raw as { metadata: Record<string, unknown>; status?: unknown };
    assertEquals(Object.keys(raw.metadata).sort(), ["annotations", "name", "namespace"]);
    assertEquals(raw.metadata.annotations, { team: "a" });
    assertEquals(raw.status, undefined);
    assertEquals(snap.errors.length, 1);
    assertStringIncludes(snap.errors[0]!.message, "kubernetes:NetworkPolicy default/broken");
    const sgp = source.status().find((s) => s.kind === "SecurityGroupPolicy")!;
    assertEquals([sgp.synced, sgp.missing, sgp.objects], [true, true, 0]);
    assertEquals(server.requests.filter((r) => r.path === SGPS).length, 1, "retried only later");
    const np = source.status().find((s) => s.kind === "NetworkPolicy")!;
    assertEquals([np.apiVersion, np.objects, np.invalid], ["networking.k8s.io/v1", 2, 1]);
    assertEquals(
      server.requests.filter((r) => r.query.get("watch") !== "1").every((r) =>
        r.query.get("limit") === "500"
      ),
      true,
    );
  }, (api) => {
    api.put(NODES, node("node-1", "10.244.1.0/24", "192.168.0.1"));
    api.put(NAMESPACES, { metadata: { name: "default" } });
    api.put(PODS, podObject("web", "0", { ip: "10.244.1.5" }));
    api.put(NETPOLS, {
      ...netpol("deny-all", { podSelector: {}, policyTypes: ["Ingress"] }),
      metadata: {
        name: "deny-all",
        namespace: "default",
        managedFields: [{ manager: "kubectl" }],
        annotations: { team: "a", "kubectl.kubernetes.io/last-applied-configuration": "{…}" },
      },
      status: { conditions: [] },
    });
    api.put(NETPOLS, netpol("broken", { podSelector: {}, bogus: 1 }));
  });
});

Deno.test("KubernetesSource keeps a policy's repeated parts once, frozen, and the policy still reads", async () => {
  await withSource(async ({ source }) => {
    const snap = await source.list();
    const [a, b] = snap.others.map((o) => o.raw as { spec: Record<string, unknown[]> });
    assert(a !== undefined && b !== undefined);
    assert(a.spec.ingress === b.spec.ingress, "the same ingress rules, kept once");
    assert(a.spec.egress !== b.spec.egress);
    assert(Object.isFrozen(a.spec.ingress));
    assertEquals(a.spec.egress, [{ to: [{ ipBlock: { cidr: "10.1.0.0/16" } }] }]);
    for (const other of snap.others) {
      const parsed = parsePolicyResource(other);
      assertEquals([parsed?.ok, parsed?.problems], [true, []]);
    }
  }, (api) => {
    for (const [name, cidr] of [["a", "10.1.0.0/16"], ["b", "10.2.0.0/16"]]) {
      api.put(
        NETPOLS,
        netpol(name!, {
          podSelector: { matchLabels: { app: "web" } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: "front" } } }] }],
          egress: [{ to: [{ ipBlock: { cidr } }] }],
          policyTypes: ["Ingress", "Egress"],
        }),
      );
    }
  });
});

Deno.test("KubernetesSource watch yields changes in order and nothing for changes tern does not keep", async () => {
  await withSource(async ({ api, source }) => {
    await source.list();
    const r = reader(source);
    await until(() => (api.watchers.get(PODS)?.length ?? 0) === 1, "the pod watch");
    // A status condition changes: not kept, so no event.
    const web = podObject("web", "0", { ip: "10.244.1.5" });
    api.put(PODS, {
      ...web,
      status: { ...(web.status as object), conditions: [{ type: "Ready" }] },
    });
    api.put(PODS, podObject("db", "0", { ip: "10.244.1.6" }));
    api.put(PODS, podObject("web", "0", { ip: "10.244.1.5", labels: { app: "web" } }));
    api.remove(PODS, "default", "db");
    await until(() => r.seen.length === 3, "three events");
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(r.seen.map(describe), ["added Pod db", "modified Pod web", "deleted Pod db"]);
    const versions = r.seen.map((e) => Number((e as { resourceVersion: string }).resourceVersion));
    assertEquals(versions.every((v, i) => i === 0 || v > versions[i - 1]!), true);
    await r.stop();
  }, (api) => {
    api.put(PODS, podObject("web", "0", { ip: "10.244.1.5" }));
  });
});

Deno.test("KubernetesSource keeps only the pod annotations tern reads: a change of another is no event", async () => {
  const withAnnotations = (annotations: Record<string, string>) => {
    const pod = podObject("web", "0", { ip: "10.244.1.5" });
    (pod.metadata as Record<string, unknown>).annotations = annotations;
    return pod;
  };
  await withSource(async ({ api, source }) => {
    const snap = await source.list();
    assertEquals(snap.pods[0]!.annotations, { "tern.dev/egress-table": "gw" });
    const r = reader(source);
    await until(() => (api.watchers.get(PODS)?.length ?? 0) === 1, "the pod watch");
    // A rollout stamp and a sidecar's status change: dropped, so no event.
    api.put(
      PODS,
      withAnnotations({ "tern.dev/egress-table": "gw", restartedAt: "2", sidecar: "b" }),
    );
    api.put(PODS, withAnnotations({ "tern.dev/egress-table": "gw2", restartedAt: "2" }));
    await until(() => r.seen.length === 1, "one event");
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(r.seen.map(describe), ["modified Pod web"]);
    const pod = (r.seen[0] as { resource: { annotations: Record<string, string> } }).resource;
    assertEquals(pod.annotations, { "tern.dev/egress-table": "gw2" });
    await r.stop();
  }, (api) => {
    api.put(
      PODS,
      withAnnotations({ "tern.dev/egress-table": "gw", restartedAt: "1", sidecar: "a" }),
    );
  });
});

Deno.test("KubernetesSource after a 410 yields only what changed during the gap", async () => {
  await withSource(async ({ api, clock, source }) => {
    await source.list();
    const r = reader(source);
    await until(() => (api.watchers.get(PODS)?.length ?? 0) === 1, "the pod watch");
    // The watch expires while changes happen that it never sends.
    const expired = api.watchers.get(PODS)!;
    api.watchers.set(PODS, []);
    api.put(PODS, podObject("b", "0", { ip: "10.244.1.12" }));
    api.remove(PODS, "default", "c");
    api.put(PODS, podObject("d", "0", { ip: "10.244.1.14" }));
    for (const s of expired) {
      s.event("ERROR", {
        kind: "Status",
        code: 410,
        reason: "Expired",
        message: "too old resource version",
      });
      s.end();
    }
    await until(
      () => source.status().find((s) => s.kind === "Pod")!.lastError !== undefined,
      "the 410",
    );
    await clock.tick(1_000);
    await until(() => r.seen.length === 3, "the difference");
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(r.seen.map(describe), ["modified Pod b", "added Pod d", "deleted Pod c"]);
    assertEquals(source.status().find((s) => s.kind === "Pod")!.relists, 1);
    await r.stop();
  }, (api) => {
    for (const [n, ip] of [["a", "10.244.1.10"], ["b", "10.244.1.11"], ["c", "10.244.1.13"]]) {
      api.put(PODS, podObject(n!, "0", { ip: ip! }));
    }
  });
});

Deno.test("KubernetesSource takes a new pod's addresses from tern.dev/pod-ips until kubelet writes status", async () => {
  await withSource(async ({ api, source }) => {
    const snap = await source.list();
    const byName = new Map(snap.pods.map((p) => [p.name, p]));
    assertEquals(byName.get("new")!.podIPs, ["10.244.1.7"]);
    assertEquals(byName.get("host")!.podIPs, [], "a host-network pod never takes it");
    assertEquals(byName.get("typo")!.podIPs, []);
    assertEquals(snap.errors.map((e) => e.key), [`metadata.annotations.${POD_IPS_ANNOTATION}`]);
    assertStringIncludes(snap.errors[0]!.message, '"10.244.1.x" is not an IP address');
    const r = reader(source);
    await until(() => (api.watchers.get(PODS)?.length ?? 0) === 1, "the pod watch");
    // kubelet writes status: status wins over the annotation.
    api.put(PODS, annotated("new", "10.244.1.7", "10.244.1.8"));
    await until(() => r.seen.length === 1, "the status update");
    assertEquals((r.seen[0] as { resource: Pod }).resource.podIPs, ["10.244.1.8"]);
    await r.stop();
  }, (api) => {
    api.put(NODES, node("node-1", "10.244.1.0/24", "192.168.1.1"));
    api.put(PODS, annotated("new", "10.244.1.7"));
    api.put(PODS, {
      ...annotated("host", "10.244.1.9"),
      spec: { hostNetwork: true, containers: [] },
    });
    api.put(PODS, annotated("typo", "10.244.1.x"));
  });
});

Deno.test("KubernetesSource keeps the last valid version of an object edited into one tern cannot use", async () => {
  await withSource(async ({ api, source }) => {
    await source.list();
    const r = reader(source);
    await until(() => (api.watchers.get(NETPOLS)?.length ?? 0) === 1, "the policy watch");
    api.put(NETPOLS, netpol("p", { podSelector: {}, bogus: 1 }));
    api.put(NETPOLS, netpol("p", { podSelector: {}, bogus: 2 })); // the same problem again
    api.remove(NETPOLS, "default", "p");
    await until(() => r.seen.length === 2, "two events");
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(r.seen.map((e) => e.type), ["error", "deleted"]);
    assertStringIncludes(describe(r.seen[0]!), "Invalid NetworkPolicy");
    const deleted = r.seen[1] as unknown as { resource: { raw: { spec: unknown } } };
    assertEquals(deleted.resource.raw.spec, { podSelector: {}, policyTypes: ["Ingress"] });
    await r.stop();
  }, (api) => {
    api.put(NETPOLS, netpol("p", { podSelector: {}, policyTypes: ["Ingress"] }));
  });
});

Deno.test("KubernetesSource takes tern.dev/pod-ips only inside the pod CIDRs of the pod's node", async () => {
  // Whoever may create or patch a pod may write the annotation; a pod that never runs keeps it
  // for ever. An address outside its node's ranges would put any host (an external address,
  // a node, another node's pod) into the selections the pod's labels match, on every node.
  await withSource(async ({ source }) => {
    const snap = await source.list();
    const ips = Object.fromEntries(snap.pods.map((p) => [p.name, p.podIPs]));
    assertEquals(ips, {
      "outside": [],
      "other-node": [],
      "ok": ["10.244.1.7"],
      "unscheduled": [],
      "unknown-node": [],
    });
    const told = snap.errors.map((e) => e.message).sort();
    assertEquals(told.length, 3);
    assertStringIncludes(told[0]!, "default/other-node");
    assertStringIncludes(told[0]!, '"10.244.2.5" is not in the pod CIDRs of Node node-1');
    assertStringIncludes(told[1]!, '"203.0.113.9" is not in the pod CIDRs of Node node-1');
    assertStringIncludes(told[2]!, "default/unscheduled");
    assertStringIncludes(told[2]!, "not scheduled on a node");
  }, (api) => {
    api.put(NODES, node("node-1", "10.244.1.0/24", "192.168.1.1"));
    api.put(NODES, node("node-2", "10.244.2.0/24", "192.168.1.2"));
    api.put(PODS, annotated("ok", "10.244.1.7"));
    api.put(PODS, annotated("outside", "10.244.1.8,203.0.113.9"));
    api.put(PODS, annotated("other-node", "10.244.2.5"));
    const unscheduled = annotated("unscheduled", "10.244.1.9");
    delete (unscheduled.spec as Record<string, unknown>).nodeName;
    api.put(PODS, unscheduled);
    const elsewhere = annotated("unknown-node", "10.244.1.10");
    (elsewhere.spec as Record<string, unknown>).nodeName = "node-9";
    api.put(PODS, elsewhere);
  });
});

Deno.test("KubernetesSource takes tern.dev/pod-ips inside the node's IPAM blocks (blocks mode)", async () => {
  // In blocks mode Nodes carry no pod CIDRs: the node's blocks are where its daemon allocates.
  const blocks: Record<string, string[]> = { "node-1": ["10.244.200.64/26"] };
  await withSource(
    async ({ source }) => {
      const snap = await source.list();
      const ips = Object.fromEntries(snap.pods.map((p) => [p.name, p.podIPs]));
      assertEquals(ips, { "in-block": ["10.244.200.70"], "other-block": [] });
      assertEquals(snap.errors.length, 1);
      assertStringIncludes(snap.errors[0]!.message, '"10.244.200.130" is not in the pod CIDRs');
    },
    (api) => {
      const blockless = node("node-1", "10.244.1.0/24", "192.168.1.1");
      (blockless.spec as Record<string, unknown>) = {};
      api.put(NODES, blockless);
      api.put(PODS, annotated("in-block", "10.244.200.70"));
      api.put(PODS, annotated("other-block", "10.244.200.130"));
    },
    undefined,
    { nodeRanges: (n) => blocks[n] ?? [] },
  );
});

function annotated(name: string, annotation: string, statusIp?: string) {
  const pod = podObject(name, "0", statusIp !== undefined ? { ip: statusIp } : {});
  (pod.metadata as Record<string, unknown>).annotations = { [POD_IPS_ANNOTATION]: annotation };
  return pod;
}

Deno.test("KubernetesSource.annotatePod() publishes addresses with a merge patch", async () => {
  await withSource(async ({ server, source }) => {
    await source.annotatePod("default", "web", ["10.244.1.5"]);
    await source.annotatePod("default", "web", []);
    const patches = server.requests.filter((r) => r.method === "PATCH");
    assertEquals(patches.map((r) => [r.path, r.headers.get("content-type"), JSON.parse(r.body)]), [
      [
        "/api/v1/namespaces/default/pods/web",
        "application/merge-patch+json",
        { metadata: { annotations: { [POD_IPS_ANNOTATION]: "10.244.1.5" } } },
      ],
      [
        "/api/v1/namespaces/default/pods/web",
        "application/merge-patch+json",
        { metadata: { annotations: { [POD_IPS_ANNOTATION]: null } } },
      ],
    ]);
  });
});

Deno.test("KubernetesSource.list() says which permission is missing when the server refuses a kind", async () => {
  await withSource(async ({ source }) => {
    await assertRejects(
      () => source.list(),
      KubernetesAccessError,
      "Cannot list ServiceAccount from http://127.0.0.1:",
    );
    const err = await assertRejects(() => source.list(), KubernetesAccessError, "403 Forbidden");
    assertStringIncludes(err.message, "grant tern's ClusterRole list and watch on ServiceAccount");
    assertEquals([err.kind, err.apiError.reason], ["ServiceAccount", "Forbidden"]);
  }, (api) => {
    api.override.set(
      SERVICEACCOUNTS,
      () =>
        status(
          403,
          "Forbidden",
          'serviceaccounts is forbidden: User "system:serviceaccount:kube-system:tern" cannot list',
        ),
    );
  });
});

Deno.test("KubernetesSource keeps its state while the server is away and shows how stale it is", async () => {
  await withSource(async ({ api, clock, source }) => {
    const snap = await source.list();
    assertEquals(snap.pods.length, 1);
    await until(() => source.status().every((s) => s.missing || s.watching), "every watch open");
    await clock.tick(5_000);
    const pods = source.status().find((s) => s.kind === "Pod")!;
    assertEquals([pods.staleSeconds, pods.watching], [0, true]);
    // The server goes away: every watch breaks and every reconnect fails.
    api.override.set(PODS, () => status(503, "ServiceUnavailable", "apiserver is shutting down"));
    for (const s of api.watchers.get(PODS) ?? []) s.fail();
    await until(
      () => source.status().find((s) => s.kind === "Pod")!.watching === false,
      "the break",
    );
    await clock.tick(60_000);
    const podStatus = () => source.status().find((s) => s.kind === "Pod")!;
    await until(() => podStatus().lastError?.message.includes("503") === true, "the failed retry");
    const after = podStatus();
    assertEquals(after.staleSeconds, 65, "since the last data, 5 s before the break");
    assertStringIncludes(
      after.lastError!.message,
      "503 ServiceUnavailable: apiserver is shutting down",
    );
    assert(after.reconnects >= 2, `reconnects ${after.reconnects}`);
    const again = await source.list();
    assertEquals(again.pods.map((p) => p.name), ["web"], "nothing is flushed");
  }, (api) => {
    api.put(PODS, podObject("web", "0", { ip: "10.244.1.5" }));
  });
});

Deno.test("connectKubernetesSource() builds a source from a kubeconfig", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-kube-source-" });
  try {
    await Deno.writeTextFile(
      `${dir}/config`,
      "current-context: c\nclusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443'}}]\n" +
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n",
    );
    const source = await connectKubernetesSource({ kubeconfig: `${dir}/config` });
    assertEquals(source.name, "kubernetes:https://10.0.0.1:6443");
    await source.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubernetesSource.list() waits out a 401 when told to, rereading the token file as it retries", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-kube-refused-" });
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, "expired\n");
  const api = new MiniApi([PODS, NODES, NAMESPACES, SERVICEACCOUNTS, NETPOLS, SGS]);
  api.put(PODS, podObject("web", "0", { ip: "10.244.1.5" }));
  const accepted = "fresh";
  const server = startTestServer((req, s) =>
    req.headers.get("authorization") === `Bearer ${accepted}`
      ? api.handle(req, s)
      : status(401, "Unauthorized", "Unauthorized")
  );
  const clock = new FakeClock();
  const client = new KubeClient({ ...server.connection, tokenFile }, { clock });
  const source = new KubernetesSource(client, {
    clock,
    random: () => 0.5,
    rejectWhenRefused: false,
  });
  try {
    let listed = false;
    const listing = source.list().then((snap) => {
      listed = true;
      return snap;
    });
    listing.catch(() => {}); // seen below; a failed assertion must not hide behind it
    await until(() => source.refusal() !== undefined, "the refusal");
    const refused = source.refusal()!;
    assert(refused instanceof KubernetesAccessError);
    assertStringIncludes(refused.message, "401 Unauthorized");
    assertStringIncludes(
      refused.message,
      "check the kubeconfig's user or the service-account token",
    );
    // Retried with backoff, never given up: still not listed after many attempts.
    while (server.requests.length < 20) {
      clock.tick(30_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(listed, false);
    // The kubelet writes a fresh token: the next 401 rereads the file and the list goes through.
    await Deno.writeTextFile(tokenFile, "fresh\n");
    while (!listed) {
      clock.tick(30_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals((await listing).pods.map((p) => p.name), ["web"]);
    assertEquals(source.refusal(), undefined);
  } finally {
    await source.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

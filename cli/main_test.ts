import { assert, assertEquals, assertStringIncludes } from "../test/assert.ts";
import {
  DEFAULT_SOCKET,
  type Endpoint,
  type ExplainRequest,
  type PolicyCountersResponse,
  type PolicyStatusResponse,
  type StatusResponse,
} from "../src/api.ts";
import { DaemonApiError, DaemonUnavailableError } from "../src/daemon_client.ts";
import { SUPPORTED_CNI_VERSIONS, TERN_VERSION } from "../src/version.ts";
import { type CliDaemon, type CliDeps, defaultCliDeps, renderVersion, runCli } from "./main.ts";
import { ipamBlockObject, ipPoolObject } from "../test/cluster_fixtures.ts";
import type { IpamCheckReport, IpamProblem, IpamRepairResponse } from "../src/ipam/ipam_check.ts";

const status: StatusResponse = {
  ready: true,
  version: TERN_VERSION,
  node: "node-7",
  pools: [{ cidr: "10.244.7.0/24", capacity: 254, used: 1, free: 253 }],
  free: 253,
  endpoints: 1,
  uptimeMs: 61_000,
};

const endpoints: Endpoint[] = [{
  containerID: "c0ffee0000000000000000000000000000",
  ifname: "eth0",
  network: "tern",
  netns: "/var/run/netns/p",
  ip: "10.244.7.2",
  podCIDR: "10.244.7.0/24",
  hostVeth: "tern00000000000",
  podMac: "0e:00:00:00:00:00",
  podNamespace: "web",
  podName: "nginx-1",
  state: "programmed",
  createdAt: 1,
  updatedAt: 2,
}];

/** A CLI with captured output and a daemon that answers with `daemon` (or throws it). */
function harness(daemon: Partial<CliDaemon> | Error = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const sockets: string[] = [];
  const deps: CliDeps = {
    daemon(socket) {
      sockets.push(socket);
      if (daemon instanceof Error) {
        const fail = () => Promise.reject(daemon);
        return {
          status: fail,
          endpoints: fail,
          policyStatus: fail,
          policyCounters: fail,
          explain: fail,
          metrics: fail,
          ipamCheck: fail,
          ipamRepair: fail,
        };
      }
      const unused = () => Promise.reject(new Error("not part of this test"));
      return {
        status: daemon.status ?? (() => Promise.resolve(status)),
        endpoints: daemon.endpoints ?? (() => Promise.resolve(endpoints)),
        policyStatus: daemon.policyStatus ?? unused,
        policyCounters: daemon.policyCounters ?? unused,
        explain: daemon.explain ?? unused,
        metrics: daemon.metrics ?? unused,
        ipamCheck: daemon.ipamCheck ?? unused,
        ipamRepair: daemon.ipamRepair ?? unused,
      };
    },
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    buildInfo: () => Promise.resolve({ mode: "bundle", denoVersion: "2.9.6", builtAt: "T" }),
    clusterIpam: () => Promise.reject(new Error("not part of this test")),
    purge: () => Promise.reject(new Error("not part of this test")),
  };
  return {
    deps,
    sockets,
    get out() {
      return out.join("");
    },
    get err() {
      return err.join("");
    },
  };
}

Deno.test("tern version prints the version, the CNI versions and the build mode", async () => {
  const h = harness();
  assertEquals(await runCli(["version"], h.deps), 0);
  assertEquals(
    h.out,
    `tern ${TERN_VERSION}\nCNI spec versions: ${SUPPORTED_CNI_VERSIONS.join(", ")}\n` +
      "build: bundle (deno 2.9.6, built T)\n",
  );
});

Deno.test("tern version --json is machine-readable and says when there is no build", async () => {
  const h = harness();
  h.deps.buildInfo = () => Promise.resolve(undefined);
  assertEquals(await runCli(["--json", "version"], h.deps), 0);
  const parsed = JSON.parse(h.out);
  assertEquals(parsed.version, TERN_VERSION);
  assertEquals(parsed.cniVersions, SUPPORTED_CNI_VERSIONS);
  assertEquals(parsed.build, null);
  assertStringIncludes(renderVersion(undefined), "build: none (running from source");
});

Deno.test("tern status asks the default socket and prints node, pools and uptime", async () => {
  const h = harness();
  assertEquals(await runCli(["status"], h.deps), 0);
  assertEquals(h.sockets, [DEFAULT_SOCKET]);
  assertStringIncludes(h.out, "node:      node-7\n");
  assertStringIncludes(h.out, "uptime:    1m 1s\n");
  assertStringIncludes(h.out, "10.244.7.0/24  254       1     253");
});

Deno.test("tern status --socket and --json go anywhere on the line", async () => {
  const h = harness();
  assertEquals(await runCli(["status", "--socket", "/tmp/x.sock", "--json"], h.deps), 0);
  assertEquals(h.sockets, ["/tmp/x.sock"]);
  assertEquals(JSON.parse(h.out), status);
});

Deno.test("tern status exits 1 when the daemon answers that it is not ready", async () => {
  const h = harness({ status: () => Promise.resolve({ ...status, ready: false }) });
  assertEquals(await runCli(["status"], h.deps), 1);
  assertStringIncludes(h.out, "ready:     no");
  assertStringIncludes(h.err, "not ready");
});

Deno.test("tern status exits 1 with a clear message when the daemon does not answer", async () => {
  const h = harness(
    new DaemonUnavailableError("/run/tern/ternd.sock", "No such file or directory"),
  );
  assertEquals(await runCli(["status"], h.deps), 1);
  assertEquals(h.out, "");
  assertStringIncludes(h.err, "Cannot reach ternd at /run/tern/ternd.sock");
  assertStringIncludes(h.err, "is ternd running?");
});

Deno.test("tern ipam ls exits 1 and shows the daemon's message when it refuses", async () => {
  const h = harness(new DaemonApiError(503, "unavailable", "Daemon is starting"));
  assertEquals(await runCli(["ipam", "ls"], h.deps), 1);
  assertStringIncludes(h.err, "Daemon is starting (unavailable)");
});

Deno.test("tern ipam ls prints the endpoint table, or JSON with --json", async () => {
  const h = harness();
  assertEquals(await runCli(["ipam", "ls"], h.deps), 0);
  assertStringIncludes(h.out, "CONTAINER     IFNAME  IP          STATE");
  assertStringIncludes(
    h.out,
    "c0ffee000000  eth0    10.244.7.2  programmed  tern00000000000  web/nginx-1",
  );
  const j = harness();
  assertEquals(await runCli(["ipam", "ls", "--json"], j.deps), 0);
  assertEquals(JSON.parse(j.out), endpoints);
});

Deno.test("tern help, no command and -h print the usage and exit 0", async () => {
  for (const args of [["help"], [], ["-h"], ["status", "--help"]]) {
    const h = harness();
    assertEquals(await runCli(args, h.deps), 0, args.join(" "));
    assertStringIncludes(h.out, "usage: tern");
  }
});

Deno.test("tern exits 2 on an unknown command, option or ipam verb, naming it", async () => {
  const cases: [string[], string][] = [
    [["frobnicate"], "Unknown command: frobnicate"],
    [["--bogus", "status"], "bogus"],
    [["ipam"], "Unknown ipam command: (none)"],
    [["ipam", "rm"], "Unknown ipam command: rm"],
    [["version", "extra"], "Unexpected argument: extra"],
  ];
  for (const [args, message] of cases) {
    const h = harness();
    assertEquals(await runCli(args, h.deps), 2, args.join(" "));
    assertStringIncludes(h.err, message);
    assertStringIncludes(h.err, "usage: tern");
    assertEquals(h.sockets, []);
  }
});

Deno.test("the real daemon client reports a missing socket as the daemon not answering", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const err: string[] = [];
    const deps: CliDeps = { ...defaultCliDeps, out: () => {}, err: (t) => void err.push(t) };
    assertEquals(await runCli(["status", "--socket", `${dir}/none.sock`], deps), 1);
    assert(err.join("").includes(`Cannot reach ternd at ${dir}/none.sock`), err.join(""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tern policy explain sends the parsed flow and prints the explanation", async () => {
  const { explainFlow } = await import("../src/policy/explain.ts");
  const { ClusterState } = await import("../src/cluster/state.ts");
  const requests: ExplainRequest[] = [];
  const h = harness({
    explain: (request) => {
      requests.push(request);
      return Promise.resolve(
        explainFlow(new ClusterState(), {
          src: { ip: request.src },
          dst: { ip: request.dst },
          protocol: request.proto,
          port: request.port!,
        }),
      );
    },
  });
  assertEquals(await runCli(["policy", "explain", "10.0.0.1", "10.0.0.2", "tcp/80"], h.deps), 0);
  assertEquals(requests, [{ src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp", port: 80 }]);
  assertEquals(
    h.out.split("\n")[0],
    "tcp/80 from 10.0.0.1 to 10.0.0.2: ALLOW",
  );
  const unknown = harness({
    explain: () =>
      Promise.reject(
        new DaemonApiError(400, "invalid", "Unknown pod: x/a is not in the cluster state"),
      ),
  });
  assertEquals(await runCli(["policy", "explain", "x/a", "y/b", "icmp/3/1"], unknown.deps), 1);
  assertStringIncludes(
    unknown.err,
    "tern: The daemon refused the request: Unknown pod: x/a is not in the cluster state (invalid)",
  );
});

Deno.test("tern policy explain refuses a bad flow before asking the daemon", async () => {
  const h = harness();
  assertEquals(await runCli(["policy", "explain", "x/a", "y/b", "tcp"], h.deps), 2);
  assertStringIncludes(h.err, 'tern: Invalid flow "tcp": expected tcp/<port>');
  assertEquals(h.sockets, []);
  const few = harness();
  assertEquals(await runCli(["policy", "explain", "x/a"], few.deps), 2);
  assertStringIncludes(few.err, "policy explain needs SRC DST PROTO/PORT");
});

Deno.test("tern policy status and counters print the daemon's answers, or JSON", async () => {
  const policyStatus: PolicyStatusResponse = { enforcement: { enabled: false }, policies: [] };
  const h = harness({ policyStatus: () => Promise.resolve(policyStatus) });
  assertEquals(await runCli(["policy", "status"], h.deps), 0);
  assertStringIncludes(h.out, "policy:    disabled");
  const j = harness({ policyStatus: () => Promise.resolve(policyStatus) });
  assertEquals(await runCli(["--json", "policy", "status"], j.deps), 0);
  assertEquals(JSON.parse(j.out), policyStatus);

  const counters: PolicyCountersResponse = {
    rules: [],
    perPod: [],
    defaultDeny: [],
    notReady: { packets: 3, bytes: 180 },
    unmatched: 0,
    at: 1,
  };
  const c = harness({ policyCounters: () => Promise.resolve(counters) });
  assertEquals(await runCli(["policy", "counters"], c.deps), 0);
  assertStringIncludes(c.out, "not ready (veths without programmed policy): 3 packets, 180 bytes");
});

Deno.test("tern policy without a known subcommand is a usage error", async () => {
  const h = harness();
  assertEquals(await runCli(["policy", "list"], h.deps), 2);
  assertStringIncludes(h.err, "Unknown policy command: list: try policy status");
});

Deno.test("tern ipam ls --cluster reads pools and blocks from the API server of --kubeconfig", async () => {
  const { startFakeApiServer } = await import("../test/fake_apiserver/server.ts");
  const { fakeKubeconfig } = await import("../test/fake_apiserver/kubeconfig.ts");
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const dir = await Deno.makeTempDir();
  try {
    fake.create(ipPoolObject("default", "10.244.0.0/16") as never);
    fake.create(
      ipamBlockObject("10.244.0.64/26", { pool: "default", node: "node-a", allocated: 5 }) as never,
    );
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(kubeconfig, fakeKubeconfig({ server: fake.url }));
    const h = harness();
    h.deps.clusterIpam = defaultCliDeps.clusterIpam;
    assertEquals(await runCli(["ipam", "ls", "--cluster", "--kubeconfig", kubeconfig], h.deps), 0);
    assertStringIncludes(h.out, "default  10.244.0.0/16  /26    1 of 1024");
    assertStringIncludes(h.out, "node-a  10.244.0.64/26  default  5 of 64");
    assertEquals(h.sockets, [], "the daemon is not asked");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fake.close();
  }
});

const SCRAPE = `# HELP tern_cni_add_rollbacks_total ADDs rolled back.
# TYPE tern_cni_add_rollbacks_total counter
tern_cni_add_rollbacks_total 0
# HELP tern_ipam_pool_allocated_addresses Addresses allocated.
# TYPE tern_ipam_pool_allocated_addresses gauge
tern_ipam_pool_allocated_addresses{pool="10.244.7.0/24"} 1
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 17
`;

Deno.test("tern metrics prints the daemon's scrape, or the families of the prefixes given", async () => {
  const all = harness({ metrics: () => Promise.resolve(SCRAPE) });
  assertEquals(await runCli(["metrics"], all.deps), 0);
  assertEquals(all.out, SCRAPE);

  const some = harness({ metrics: () => Promise.resolve(SCRAPE) });
  assertEquals(await runCli(["metrics", "tern_ipam", "process_"], some.deps), 0);
  assertEquals(some.out.split("\n").filter((l) => !l.startsWith("#")), [
    'tern_ipam_pool_allocated_addresses{pool="10.244.7.0/24"} 1',
    "process_open_fds 17",
    "",
  ]);

  const json = harness({ metrics: () => Promise.resolve(SCRAPE) });
  assertEquals(await runCli(["metrics", "--json", "tern_cni"], json.deps), 0);
  assertEquals(JSON.parse(json.out), [{
    name: "tern_cni_add_rollbacks_total",
    help: "ADDs rolled back.",
    type: "counter",
    samples: [{ name: "tern_cni_add_rollbacks_total", labels: {}, value: 0 }],
  }]);
});

const leaked: IpamProblem = {
  kind: "leaked",
  ip: "10.244.7.9",
  containerID: "deadbeef00000000000000",
  ifname: "eth0",
  veth: "tern0123456789a",
  pod: "web/old-1",
  message: "10.244.7.9 is allocated to containerID deadbeef, ifname eth0 (programmed) but …",
  repair: "release",
  advice: "safe: nothing on the node uses the address (no veth, no route)",
};

function report(problems: IpamProblem[]): IpamCheckReport {
  return {
    node: "node-7",
    mode: "node-cidr",
    checkedAt: 1,
    counts: { allocations: 2, addressRecords: 2, veths: 1, routes: 1, young: 0 },
    problems,
  };
}

Deno.test("tern ipam check prints each problem with its repair and exits 3 when there are problems", async () => {
  const h = harness({ ipamCheck: () => Promise.resolve(report([leaked])) });
  assertEquals(await runCli(["ipam", "check"], h.deps), 3);
  assertStringIncludes(h.out, "problems: 1, 1 repaired by --repair");
  assertStringIncludes(
    h.out,
    "leaked 10.244.7.9 (containerID deadbeef0000, ifname eth0, pod web/old-1",
  );
  assertStringIncludes(h.out, "--repair: release: safe: nothing on the node uses the address");
  assertStringIncludes(h.out, "pods:     not judged");

  const clean = harness({ ipamCheck: () => Promise.resolve(report([])) });
  assertEquals(await runCli(["ipam", "check"], clean.deps), 0);
  assertStringIncludes(clean.out, "problems: none");
});

Deno.test("tern ipam check --json prints the daemon's report", async () => {
  const h = harness({ ipamCheck: () => Promise.resolve(report([leaked])) });
  assertEquals(await runCli(["ipam", "check", "--json"], h.deps), 3);
  assertEquals(JSON.parse(h.out), report([leaked]));
});

Deno.test("tern ipam check --repair shows what each repair did and exits by what remains", async () => {
  const unrepairable: IpamProblem = {
    kind: "unallocated_route",
    ip: "10.244.7.50",
    veth: "tern5555555555a",
    message: "10.244.7.50 is routed to tern5555555555a but no allocation holds it",
    repair: "none",
    advice: "not repaired: a pod may still use 10.244.7.50",
  };
  const response: IpamRepairResponse = {
    before: report([leaked, unrepairable]),
    repairs: [{ problem: leaked, result: "repaired" }],
    after: report([unrepairable]),
  };
  let repaired = 0;
  const h = harness({ ipamRepair: () => (repaired++, Promise.resolve(response)) });
  assertEquals(await runCli(["ipam", "check", "--repair"], h.deps), 3);
  assertEquals(repaired, 1);
  assertStringIncludes(h.out, "repaired release 10.244.7.9 (leaked)");
  assertStringIncludes(h.out, "after the repairs:");
  assertStringIncludes(h.out, "not repaired: a pod may still use 10.244.7.50");

  const fixed = harness({
    ipamRepair: () => Promise.resolve({ ...response, after: report([]) }),
  });
  assertEquals(await runCli(["ipam", "check", "--repair"], fixed.deps), 0);
});

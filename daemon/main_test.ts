import { assert, assertEquals, assertStringIncludes } from "../test/assert.ts";
import type { StatusResponse } from "../src/api.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import { hostVethName } from "../src/names.ts";
import type { Runner } from "../src/runner.ts";
import { READY_GROUP } from "../src/policy/render.ts";
import type { Spawner } from "../src/lib/process_monitor.ts";
import { runDaemon } from "./main.ts";
import { ipamBlockObject, ipPoolObject } from "../test/cluster_fixtures.ts";

/**
 * A fake `ip` with no routes and no links, and a fake `nft` that takes every transaction and
 * has no table to list or delete: the daemon never touches the kernel here.
 */
const calls: string[] = [];
const fakeIp: Runner = (argv, options) => {
  // `nft -f FILE`: recorded as `nft -f -` with the file's text, as if it came on stdin.
  const file = argv[0] === "nft" && argv[1] === "-f" && argv[2] !== "-" ? argv[2] : undefined;
  const input = file !== undefined ? Deno.readTextFileSync(file) : options?.stdin;
  const shown = file !== undefined ? ["nft", "-f", "-"] : argv;
  calls.push([shown.join(" "), ...(input !== undefined ? [input] : [])].join("\n"));
  if (argv[0] === "nft" && !argv.includes("-f")) {
    return Promise.resolve({ code: 1, stdout: "", stderr: "Error: No such file or directory" });
  }
  const json = argv.includes("-json");
  return Promise.resolve({ code: 0, stdout: json ? "[]" : "", stderr: "" });
};

/** No nftables commit ever: resolves false when `signal` aborts. */
function abortable(signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(false);
    signal.addEventListener("abort", () => resolve(false), { once: true });
  });
}

/** A fake `ip monitor` that prints nothing until it is killed. */
const monitors: string[] = [];
const fakeSpawn: Spawner = (argv) => {
  monitors.push(argv.join(" "));
  const ended = Promise.withResolvers<number>();
  return {
    lines: {
      [Symbol.asyncIterator]: () => ({
        next: () => ended.promise.then((): IteratorResult<string> => ({ done: true, value: "" })),
      }),
    },
    status: ended.promise,
    stderr: () => Promise.resolve(""),
    kill: () => ended.resolve(143),
  };
};

interface Env {
  dir: string;
  socket: string;
  stateFile: string;
  ipForward: string;
  /** Stands in for /proc/sys/net/ipv4/conf: `<veth>/rp_filter` files. */
  conf: string;
  writeConfig(podCIDRs: string[], extra?: string): Promise<string>;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ternd-main-" });
  try {
    const ipForward = `${dir}/ip_forward`;
    await Deno.writeTextFile(ipForward, "0\n");
    await Deno.mkdir(`${dir}/conf`);
    const env: Env = {
      dir,
      conf: `${dir}/conf`,
      socket: `${dir}/run/ternd.sock`,
      stateFile: `${dir}/lib/state.kv`,
      ipForward,
      async writeConfig(podCIDRs, extra = "") {
        const path = `${dir}/ternd.yaml`;
        await Deno.writeTextFile(
          path,
          [
            "nodeName: test-node",
            `podCIDRs: [${podCIDRs.join(", ")}]`,
            `socket: ${env.socket}`,
            `stateFile: ${env.stateFile}`,
            "log: {level: error}",
            extra,
          ].join("\n"),
        );
        return path;
      },
    };
    await fn(env);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts the daemon, runs `fn` against it, stops it; returns the exit code. */
async function session(
  env: Env,
  args: string[],
  fn: (client: DaemonClient) => Promise<void>,
): Promise<number> {
  const stop = new AbortController();
  const ready = Promise.withResolvers<void>();
  const exit = runDaemon(args, {
    runner: fakeIp,
    spawn: fakeSpawn,
    nftGeneration: { read: () => 1, commit: (signal) => abortable(signal) },
    ipForwardPath: env.ipForward,
    rpFilterDir: env.conf,
    stop: stop.signal,
    onReady: () => ready.resolve(),
  });
  const started = await Promise.race([ready.promise.then(() => true), exit.then(() => false)]);
  if (started) {
    try {
      await fn(new DaemonClient(env.socket));
    } finally {
      stop.abort();
    }
  }
  return await exit;
}

Deno.test("runDaemon() serves the API on the socket and stops cleanly, removing it", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    let allocated = "";
    const code = await session(env, ["--config", config], async (client) => {
      const info = await Deno.lstat(env.socket);
      assertEquals(info.mode! & 0o777, 0o600);
      const status = await client.status();
      assertEquals(status.ready, true);
      assertEquals(status.node, "test-node");
      assertEquals(status.pools, [{ cidr: "10.244.1.0/24", capacity: 254, used: 0, free: 254 }]);
      const res = await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/c1",
      });
      allocated = res.ip;
      assertEquals(res.created, true);
    });
    assertEquals(code, 0);
    assertEquals(await Deno.lstat(env.socket).then(() => true, () => false), false);
    assertEquals(await Deno.readTextFile(env.ipForward), "1\n");
    assert(
      calls.includes("ip -json -4 -N route show proto 116 table all"),
      "the first reconcile pass listed tern's routes",
    );
    assert(calls.includes("ip -json -4 -N rule show"), "and the rules");
    assert(monitors.includes("ip -4 -N monitor route rule link"), "ip monitor was started");

    // State survives a restart: the same identity gets the same address back.
    const again = await session(env, ["--config", config], async (client) => {
      const res = await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/c1",
      });
      assertEquals(res, {
        ip: allocated,
        podCIDR: "10.244.1.0/24",
        gateway: "169.254.1.1",
        created: false,
      });
      assertEquals((await client.status()).endpoints, 1);
    });
    assertEquals(again, 0);
  }));

Deno.test("runDaemon() refuses allocations outside podCIDRs unless --release-outside-pools", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    await session(env, ["--config", config], async (client) => {
      await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/ns/c1",
      });
    });
    await env.writeConfig(["10.244.2.0/24"]);
    const refused = await session(env, ["--config", config], () => {
      throw new Error("The daemon started with an allocation outside its pools");
    });
    assertEquals(refused, 1);
    const released = await session(
      env,
      ["--config", config, "--release-outside-pools"],
      async (client) => {
        assertEquals(await client.endpoints(), []);
      },
    );
    assertEquals(released, 0);
  }));

Deno.test("runDaemon() refuses to start beside a live daemon on the same socket", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    const code = await session(env, ["--config", config], async (client) => {
      const second = await runDaemon(["--config", config], {
        runner: fakeIp,
        ipForwardPath: env.ipForward,
      });
      assertEquals(second, 1);
      assertEquals((await client.status()).ready, true);
    });
    assertEquals(code, 0);
  }));

Deno.test("runDaemon() exits 1 on a bad config, 2 on bad flags and 0 on --help", async () => {
  assertEquals(await runDaemon(["--config", "/nonexistent/ternd.yaml"]), 1);
  assertEquals(await runDaemon(["--bogus"]), 2);
  assertEquals(await runDaemon(["--help"]), 0);
});

Deno.test("USAGE documents every flag", async () => {
  const { USAGE } = await import("./daemon_args.ts");
  for (const flag of ["--config", "--release-outside-pools", "--help"]) {
    assertStringIncludes(USAGE, flag);
  }
});

const nodeManifest = (name: string, cidr: string, ip: string) =>
  `apiVersion: v1\nkind: Node\nmetadata: {name: ${name}}\nspec: {podCIDRs: [${cidr}]}\n` +
  `status: {addresses: [{type: InternalIP, address: ${ip}}]}\n`;

Deno.test("runDaemon() with a files cluster source learns its pod CIDR, routes to peers, publishes its endpoints and reports both in status", () =>
  withEnv(async (env) => {
    const cluster = `${env.dir}/cluster`;
    await Deno.mkdir(cluster);
    await Deno.writeTextFile(
      `${cluster}/nodes.yaml`,
      nodeManifest("test-node", "10.244.5.0/24", "192.168.50.5") + "---\n" +
        nodeManifest("peer", "10.244.6.0/24", "192.168.50.6"),
    );
    const config = await env.writeConfig(
      [],
      `cluster: {source: files, dir: ${cluster}}\nreconcile: {interval: 1s}`,
    );
    calls.length = 0;
    const code = await session(env, ["--config", config], async (client) => {
      const status = await client.status();
      assertEquals(status.pools.map((p) => p.cidr), ["10.244.5.0/24"]);
      assertEquals(status.routing?.mode, "routes");
      assertEquals(status.routing?.podCIDRsFrom, "node");
      assertEquals(status.routing?.peers, [{
        node: "peer",
        address: "192.168.50.6",
        podCIDRs: ["10.244.6.0/24"],
        routed: ["10.244.6.0/24"],
      }]);
      assertEquals(status.routing?.reconcile.monitor, "running");
      assertEquals(status.routing?.reconcile.lastPass?.trigger, "start");
      assertEquals(status.cluster?.source, `files:${cluster}`);
      assertEquals([status.cluster?.nodes, status.cluster?.publishEndpoints], [2, true]);
      const batch = calls.find((c) => c.startsWith("ip -force -batch -")) ?? "";
      assertStringIncludes(
        batch,
        "route replace 10.244.6.0/24 via 192.168.50.6 table 254 proto 116",
      );
      assertStringIncludes(batch, "route replace unreachable 10.244.5.0/24 table 254 proto 116");

      // An endpoint programmed through the API is published within a moment.
      const alloc = await addWebPod(client, env);
      const file = `${cluster}/endpoints-test-node.yaml`;
      const deadline = Date.now() + 2_000;
      let text = "";
      while (!text.includes(alloc.ip) && Date.now() < deadline) {
        text = await Deno.readTextFile(file).catch(() => "");
        await new Promise((r) => setTimeout(r, 20));
      }
      assertStringIncludes(text, `ip: ${alloc.ip}`);
      assertStringIncludes(text, "podName: web");
      assertEquals((await client.status()).cluster?.published?.endpoints, 1);

      // The file is the daemon's: removed by someone else, it comes back.
      await Deno.remove(file);
      const back = Date.now() + 3_000;
      while (!(await Deno.readTextFile(file).catch(() => "")).includes(alloc.ip)) {
        assert(Date.now() < back, "the publication came back");
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    assertEquals(code, 0);
    // A clean stop keeps the publication: a restart must not make the node's pods vanish.
    assertStringIncludes(await Deno.readTextFile(`${cluster}/endpoints-test-node.yaml`), "c1");
  }));

Deno.test("runDaemon() stops with an error naming both when podCIDRs and the Node disagree, or the Node never gets one", () =>
  withEnv(async (env) => {
    const cluster = `${env.dir}/cluster`;
    await Deno.mkdir(cluster);
    await Deno.writeTextFile(
      `${cluster}/nodes.yaml`,
      nodeManifest("test-node", "10.244.5.0/24", "192.168.50.5"),
    );
    const log = `${env.dir}/ternd.log`;
    const clusterConfig = `cluster: {source: files, dir: ${cluster}, podCIDRWait: 200ms}`;
    let config = await env.writeConfig(["10.244.1.0/24"], clusterConfig);
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace(
        "log: {level: error}",
        `log: {level: error, file: ${log}}`,
      ),
    );
    assertEquals(await session(env, ["--config", config], () => Promise.resolve()), 1);
    assertStringIncludes(
      await Deno.readTextFile(log),
      `Pod CIDRs disagree: podCIDRs in ${config} is 10.244.1.0/24 but Node test-node in files:${cluster} has 10.244.5.0/24`,
    );

    await Deno.writeTextFile(
      `${cluster}/nodes.yaml`,
      nodeManifest("other", "10.244.5.0/24", "192.168.50.5"),
    );
    config = await env.writeConfig([], clusterConfig);
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace(
        "log: {level: error}",
        `log: {level: error, file: ${log}}`,
      ),
    );
    const started = Date.now();
    assertEquals(await session(env, ["--config", config], () => Promise.resolve()), 1);
    assert(Date.now() - started < 5_000);
    assertStringIncludes(
      await Deno.readTextFile(log),
      `No pod CIDR for this node after 200 ms: no Node named test-node in files:${cluster}`,
    );
    assertEquals(await Deno.lstat(env.socket).then(() => true, () => false), false);
  }));

Deno.test("runDaemon() stopped while it waits for its Node's pod CIDR exits 0 at once", () =>
  withEnv(async (env) => {
    const cluster = `${env.dir}/cluster`;
    await Deno.mkdir(cluster);
    const config = await env.writeConfig([], `cluster: {source: files, dir: ${cluster}}`);
    const stop = new AbortController();
    const started = Date.now();
    const exit = runDaemon(["--config", config], {
      runner: fakeIp,
      spawn: fakeSpawn,
      nftGeneration: { read: () => 1, commit: (signal) => abortable(signal) },
      ipForwardPath: env.ipForward,
      stop: stop.signal,
    });
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    assertEquals(await exit, 0);
    assert(Date.now() - started < 2_000, "did not wait for the 60 s bound");
  }));

Deno.test("runDaemon() applies the whole policy table before serving and answers program after the pod's update", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    calls.length = 0;
    const code = await session(env, ["--config", config], async (client) => {
      const nft = () => calls.filter((c) => c.startsWith("nft -f -"));
      assertEquals(nft().length, 1, "one whole table at start");
      assertStringIncludes(nft()[0]!, "delete table inet tern");
      const status = await client.status();
      assertEquals(status.policy?.enabled, true);
      assertEquals([status.policy?.pods, status.policy?.pending], [0, 0]);

      const veth = await hostVethName("c1", "eth0");
      await Deno.mkdir(`${env.conf}/${veth}`);
      const alloc = await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/c1",
        podNamespace: "default",
        podName: "web",
      });
      const programmed = await client.program({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/c1",
        hostVeth: veth,
        podMac: "0a:58:0a:f4:05:02",
        ip: alloc.ip,
      });
      // The answer came after the run that marked the veth ready; no policy selects the pod, so
      // the table itself did not change.
      assertEquals(nft().length, 1);
      assert(
        calls.some((c) =>
          c.startsWith("ip -force -batch -") &&
          c.includes(`link set dev ${veth} group ${READY_GROUP}`)
        ),
        calls.join("\n"),
      );
      assertEquals((programmed as { policy?: string }).policy, "ready");
      assertEquals(await Deno.readTextFile(`${env.conf}/${veth}/rp_filter`), "1\n");
      assertEquals((await client.status()).policy?.pods, 1);
    });
    assertEquals(code, 0);
  }));

Deno.test("runDaemon() lists the kernel for no ADD or DEL that the dataplane settles itself", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    calls.length = 0;
    const code = await session(env, ["--config", config], async (client) => {
      const listings = () => calls.filter((c) => c.includes("route show proto 116")).length;
      const passes = async () => (await client.status()).routing?.reconcile.passes;
      assertEquals([listings(), await passes()], [1, 1], "the first pass at start");
      for (const id of ["c1", "c2"]) {
        const veth = await hostVethName(id, "eth0");
        await Deno.mkdir(`${env.conf}/${veth}`);
        await client.add({
          containerID: id,
          ifname: "eth0",
          network: "tern",
          netns: `/var/run/netns/${id}`,
          hostVeth: veth,
          podMac: "0a:58:0a:f4:05:02",
        });
        assert(calls.some((c) => c.includes(`dev ${veth} scope link table 254 proto 116`)));
        await Deno.remove(`${env.conf}/${veth}`, { recursive: true });
      }
      await client.release({ containerID: "c1", ifname: "eth0", network: "tern" });
      // An endpoint pass would have run 50 ms after each change.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assertEquals([listings(), await passes()], [1, 1], "no pass for two ADDs and a DEL");
    });
    assertEquals(code, 0);
  }));

Deno.test("runDaemon() with policy disabled deletes its table and programs no policy", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"], "policy: {enabled: false}");
    calls.length = 0;
    const code = await session(env, ["--config", config], async (client) => {
      assertEquals(calls.filter((c) => c.startsWith("nft")), ["nft delete table inet tern"]);
      assertEquals((await client.status()).policy, { enabled: false });
    });
    assertEquals(code, 0);
  }));

Deno.test("runDaemon() on the kubernetes source answers 'starting' until the first lists are in, then serves and annotates the pod", () =>
  withEnv(async (env) => {
    const { startFakeApiServer } = await import("../test/fake_apiserver/server.ts");
    const { fakeKubeconfig } = await import("../test/fake_apiserver/kubeconfig.ts");
    const api = await startFakeApiServer({ hostname: "127.0.0.1", port: 0, tokens: ["t0k3n"] });
    try {
      await api.create({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "test-node" },
        spec: { podCIDR: "10.244.3.0/24", podCIDRs: ["10.244.3.0/24"] },
        status: { addresses: [{ type: "InternalIP", address: "10.98.0.3" }] },
      });
      await api.create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "web", namespace: "default" },
        spec: { nodeName: "test-node", containers: [{ name: "main", image: "web" }] },
      });
      // The API server is down while the daemon starts.
      await api.stop();
      const kubeconfig = `${env.dir}/kubeconfig`;
      await Deno.writeTextFile(kubeconfig, fakeKubeconfig({ server: api.url, token: "t0k3n" }));
      const path = `${env.dir}/ternd.yaml`;
      await Deno.writeTextFile(
        path,
        [
          "nodeName: test-node",
          `socket: ${env.socket}`,
          `stateFile: ${env.stateFile}`,
          "log: {level: error}",
          `cluster: {source: kubernetes, kubeconfig: ${kubeconfig}, syncWait: 300ms}`,
        ].join("\n"),
      );
      const stop = new AbortController();
      const exit = runDaemon(["--config", path], {
        runner: fakeIp,
        spawn: fakeSpawn,
        ipForwardPath: env.ipForward,
        rpFilterDir: env.conf,
        stop: stop.signal,
      });
      try {
        const client = new DaemonClient(env.socket, { timeoutMs: 5_000 });
        const starting = await pollStatus(client, (s) => s.starting !== undefined);
        assertEquals(starting.ready, false);
        assertStringIncludes(starting.starting!, "first lists from the Kubernetes API server");
        assertEquals(starting.cluster?.synced, false);
        // An ADD while the lists are not in waits syncWait, then fails as unavailable.
        const refused = await client.allocate({
          containerID: "c1",
          ifname: "eth0",
          network: "tern",
          netns: "/var/run/netns/c1",
          podNamespace: "default",
          podName: "web",
        }).then(() => undefined, (err: unknown) => err);
        assertEquals((refused as { reason?: string } | undefined)?.reason, "unavailable");
        assertStringIncludes(String(refused), "Daemon is not ready: starting");

        await api.start();
        const ready = await pollStatus(client, (s) => s.ready, 20_000);
        assertEquals(ready.pools, [{ cidr: "10.244.3.0/24", capacity: 254, used: 0, free: 254 }]);
        assertEquals(ready.cluster?.synced, true);
        assertEquals(ready.cluster?.kinds?.find((k) => k.kind === "Pod")?.objects, 1);
        const res = await addWebPod(client, env);
        // The pod is told its address at once, long before kubelet would write status.podIPs.
        const deadline = Date.now() + 10_000;
        let annotation: string | undefined;
        while (Date.now() < deadline) {
          const pod = await api.get({
            apiVersion: "v1",
            kind: "Pod",
            namespace: "default",
            name: "web",
          });
          annotation = (pod?.metadata as { annotations?: Record<string, string> })?.annotations
            ?.["tern.dev/pod-ips"];
          if (annotation !== undefined) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        assertEquals(annotation, res.ip);
      } finally {
        stop.abort();
      }
      assertEquals(await exit, 0);
    } finally {
      await api.close();
    }
  }));

/** Polls the daemon's status until `done` holds (the daemon may not answer yet at first). */
async function pollStatus(
  client: DaemonClient,
  done: (s: StatusResponse) => boolean,
  timeoutMs = 10_000,
): Promise<StatusResponse> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const status = await client.status();
      if (done(status)) return status;
      last = status;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Status did not come within ${timeoutMs} ms: last ${JSON.stringify(last)}`);
}

Deno.test("runDaemon() in ipam.mode blocks claims a block before serving, hands out from it and routes the peers' blocks", () =>
  withEnv(async (env) => {
    const { startFakeApiServer } = await import("../test/fake_apiserver/server.ts");
    const { fakeKubeconfig } = await import("../test/fake_apiserver/kubeconfig.ts");
    const api = await startFakeApiServer({
      crds: ["ippools.tern.dev", "ipamblocks.tern.dev"],
    });
    try {
      for (const [name, address] of [["test-node", "10.98.0.3"], ["peer", "10.98.0.4"]] as const) {
        api.create({
          apiVersion: "v1",
          kind: "Node",
          metadata: { name },
          spec: {},
          status: { addresses: [{ type: "InternalIP", address }] },
        });
      }
      api.create(ipPoolObject("default", "10.50.0.0/16") as never);
      api.create(ipamBlockObject("10.50.9.0/26", { pool: "default", node: "peer" }) as never);
      const kubeconfig = `${env.dir}/kubeconfig`;
      await Deno.writeTextFile(kubeconfig, fakeKubeconfig({ server: api.url }));
      const path = `${env.dir}/ternd.yaml`;
      await Deno.writeTextFile(
        path,
        [
          "nodeName: test-node",
          `socket: ${env.socket}`,
          `stateFile: ${env.stateFile}`,
          "log: {level: error}",
          `cluster: {source: kubernetes, kubeconfig: ${kubeconfig}}`,
          "ipam: {mode: blocks, blocks: {warmIPTarget: 4}}",
          "reconcile: {interval: 1s}",
        ].join("\n"),
      );
      calls.length = 0;
      const code = await session(env, ["--config", path], async (client) => {
        const blocks = () =>
          api.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" }).map((o) =>
            (o as unknown as { spec: { cidr: string; node: string } }).spec
          );
        const mine = blocks().filter((b) => b.node === "test-node");
        assertEquals(mine.length, 1, "the warm pool was filled before ADD was served");
        const status = await client.status();
        assertEquals(status.pools, [{ cidr: mine[0]!.cidr, capacity: 64, used: 0, free: 64 }]);
        assertEquals(status.free, 32 * 64, "free counts the blocks a claim could still add");
        assertEquals(status.routing?.podCIDRsFrom, "blocks");
        assertEquals(status.routing?.peers.find((p) => p.node === "peer")?.routed, [
          "10.50.9.0/26",
        ]);
        const batch = calls.filter((c) => c.startsWith("ip -force -batch -")).join("\n");
        assertStringIncludes(batch, "route replace 10.50.9.0/26 via 10.98.0.4 table 254 proto 116");
        assertStringIncludes(
          batch,
          `route replace unreachable ${mine[0]!.cidr} table 254 proto 116`,
        );
        const res = await client.allocate({
          containerID: "c1",
          ifname: "eth0",
          network: "tern",
          netns: "/var/run/netns/c1",
        });
        assertEquals(res.podCIDR, mine[0]!.cidr);
        // A block the peer claims later is routed by the next pass.
        api.create({
          apiVersion: "tern.dev/v1alpha1",
          kind: "IPAMBlock",
          metadata: { name: "10-50-10-0-26" },
          spec: { cidr: "10.50.10.0/26", pool: "default", node: "peer" },
        } as never);
        const deadline = Date.now() + 5_000;
        while (!calls.some((c) => c.includes("route replace 10.50.10.0/26 via 10.98.0.4"))) {
          assert(Date.now() < deadline, "the peer's new block is routed");
          await new Promise((r) => setTimeout(r, 50));
        }
      });
      assertEquals(code, 0);
    } finally {
      await api.close();
    }
  }));

/** What the plugin asks of the daemon for pod default/web (c1, eth0): allocate, then program. */
async function addWebPod(client: DaemonClient, env: Env): Promise<{ ip: string }> {
  const id = { containerID: "c1", ifname: "eth0", network: "tern", netns: "/var/run/netns/c1" };
  const alloc = await client.allocate({ ...id, podNamespace: "default", podName: "web" });
  const hostVeth = await hostVethName("c1", "eth0");
  await Deno.mkdir(`${env.conf}/${hostVeth}`);
  await client.program({ ...id, hostVeth, podMac: "0a:58:0a:f4:05:02", ip: alloc.ip });
  return alloc;
}

Deno.test("runDaemon() with log.format json writes each line as one JSON object", () =>
  withEnv(async (env) => {
    const log = `${env.dir}/ternd.log`;
    const config = await env.writeConfig(["10.244.1.0/24"]);
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace(
        "log: {level: error}",
        `log: {level: info, format: json, file: ${log}}`,
      ),
    );
    assertEquals(await session(env, ["--config", config], () => Promise.resolve()), 0);
    const lines = (await Deno.readTextFile(log)).trimEnd().split("\n");
    const objects = lines.map((line) => JSON.parse(line));
    const started = objects.find((o) => o.msg === "ternd started");
    assert(started, lines.join("\n"));
    assertEquals([started.level, started.component, started.node], ["info", "ternd", "test-node"]);
    assertEquals(started.pools, "10.244.1.0/24");
    assert(!Number.isNaN(Date.parse(started.time)), started.time);
    assert(objects.some((o) => o.msg === "ternd stopped"));
  }));

import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";
import type { ClusterStatus } from "../../src/api.ts";
import { startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import { fakeKubeconfig } from "../../test/fake_apiserver/kubeconfig.ts";
import { silentLogger } from "../../src/log.ts";
import { parseConfig } from "../config.ts";
import { LocalEndpoints } from "../../src/local_endpoints.ts";
import type { ClusterSource } from "../../src/cluster/source.ts";
import { ClusterState } from "../../src/cluster/state.ts";
import type { ClusterEvent, Snapshot } from "../../src/cluster/types.ts";
import { clusterSource, startCluster, startFeed } from "./start_cluster.ts";

Deno.test("clusterSource() picks the files source named by cluster.source, over cluster.dir", async () => {
  const config = parseConfig("cluster: {source: files, dir: /etc/tern/cluster/}\n", {
    hostname: "node-a",
  });
  assert(config.cluster !== undefined);
  const { source } = await clusterSource(config.cluster, silentLogger);
  assertEquals(source.name, "files:/etc/tern/cluster");
});

Deno.test("clusterSource() publishes pod addresses at once on kubernetes, coalesced on files", async () => {
  const files = parseConfig("cluster: {source: files, dir: /etc/tern/cluster/}\n", {
    hostname: "node-a",
  });
  const dir = await Deno.makeTempDir({ prefix: "tern-kubeconfig-" });
  try {
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n" +
        "users: [{name: u, user: {token: t}}]\n" +
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    );
    const kube = parseConfig(
      `cluster: {source: kubernetes, kubeconfig: ${dir}/kubeconfig}\n`,
      { hostname: "node-a" },
    );
    const chosenFiles = await clusterSource(files.cluster!, silentLogger);
    const chosenKube = await clusterSource(kube.cluster!, silentLogger);
    try {
      assertEquals([chosenFiles.publishDelayMs, chosenKube.publishDelayMs], [100, 0]);
    } finally {
      await chosenFiles.source.close();
      await chosenKube.source.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startCluster() on a single node follows nothing and takes the pod CIDRs from the config", async () => {
  const config = parseConfig("podCIDRs: [10.244.1.0/24]\n", { hostname: "node-a" });
  const part = await startCluster(config, {
    log: silentLogger,
    configFile: "/etc/tern/ternd.yaml",
    signal: new AbortController().signal,
  });
  assertEquals(part.pools, { podCIDRs: ["10.244.1.0/24"], from: "config" });
  assertEquals([part.source, part.status(), part.poolsOrigin], [
    undefined,
    undefined,
    "/etc/tern/ternd.yaml",
  ]);
  await part.publish(new LocalEndpoints()); // nothing to publish to
  await part.stop();
});

Deno.test("startCluster() lists the directory, learns the pod CIDRs from its Node and publishes the endpoints", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-cluster-" });
  try {
    await Deno.writeTextFile(
      `${dir}/nodes.yaml`,
      "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nspec: {podCIDR: 10.244.7.0/24}\n",
    );
    const config = parseConfig(`cluster: {source: files, dir: ${dir}, publishEndpoints: true}\n`, {
      hostname: "node-a",
    });
    const part = await startCluster(config, {
      log: silentLogger,
      configFile: "/etc/tern/ternd.yaml",
      signal: new AbortController().signal,
    });
    try {
      assertEquals(part.pools, { podCIDRs: ["10.244.7.0/24"], from: "node" });
      assertEquals(part.poolsOrigin, `Node node-a in files:${dir}`);
      await part.publish(new LocalEndpoints());
      const status = part.status();
      assertEquals([status?.source, status?.nodes, status?.publishEndpoints], [
        `files:${dir}`,
        1,
        true,
      ]);
      assertEquals(status?.published?.endpoints, 0);
    } finally {
      await part.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A source whose list waits until it is closed (an API server that does not answer). */
function unansweredSource(): ClusterSource & { closed: boolean } {
  const closed = Promise.withResolvers<never>();
  const source = {
    name: "kubernetes:https://10.0.0.1:6443",
    closed: false,
    list: (): Promise<Snapshot> => closed.promise,
    // deno-lint-ignore require-yield
    async *watch(): AsyncGenerator<ClusterEvent> {
      await closed.promise.catch(() => {});
    },
    close() {
      source.closed = true;
      closed.reject(new Error("Cannot list: the source is closed"));
      return Promise.resolve();
    },
  };
  return source;
}

Deno.test("startFeed() gives up at once when the stop came before it started waiting", async () => {
  // SIGTERM during the earlier steps of start-up (the socket, the kubeconfig) aborts the signal
  // before startFeed listens to it; with the API server down the list must still end.
  const source = unansweredSource();
  const stop = new AbortController();
  stop.abort(new Error("Stopped by a signal during start-up"));
  const outcome = await Promise.race([
    startFeed(source, new ClusterState(), silentLogger, stop.signal).then(
      () => "listed",
      (err: unknown) => err,
    ),
    new Promise((resolve) => setTimeout(() => resolve("still waiting"), 500)),
  ]);
  assertEquals(outcome, stop.signal.reason);
  assert(source.closed, "the source is closed");
});

Deno.test("startCluster() stays up, not ready, while the API server refuses the token, and starts once it is fixed", async () => {
  const fake = await startFakeApiServer({ tokens: ["fresh"] });
  const dir = await Deno.makeTempDir({ prefix: "tern-refused-" });
  try {
    const tokenFile = `${dir}/token`;
    await Deno.writeTextFile(tokenFile, "expired\n");
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      fakeKubeconfig({ server: fake.url, tokenFile }),
    );
    const config = parseConfig(
      `podCIDRs: [10.244.1.0/24]\ncluster: {source: kubernetes, kubeconfig: ${dir}/kubeconfig}\n`,
      { hostname: "node-a" },
    );
    let status: (() => ClusterStatus) | undefined;
    const lines: string[] = [];
    const log = { ...silentLogger, error: (message: string) => lines.push(message) };
    const starting = startCluster(config, {
      log,
      configFile: "/etc/tern/ternd.yaml",
      signal: new AbortController().signal,
      progress: (s) => status = s,
    });
    let outcome: unknown = "waiting";
    starting.then((part) => outcome = part, (err) => outcome = err);
    const deadline = Date.now() + 5_000;
    while (status?.().refused === undefined && Date.now() < deadline) await pause(20);
    const refused = status?.();
    assertEquals(refused?.synced, false);
    assertStringIncludes(refused?.refused ?? "", "401 Unauthorized");
    assertStringIncludes(
      refused?.refused ?? "",
      "check the kubeconfig's user or the service-account token",
    );
    assertEquals(lines[0], "Kubernetes API server refuses tern; not ready, retrying");
    // Retried, not given up: still starting a few backoffs later.
    await pause(1_500);
    assertEquals(outcome, "waiting");
    // The token is renewed: a retry rereads the file (after the 401) and start-up goes on.
    await Deno.writeTextFile(tokenFile, "fresh\n");
    const part = await starting;
    try {
      assertEquals(part.status()?.synced, true);
      assertEquals(part.status()?.refused, undefined);
    } finally {
      await part.stop();
    }
  } finally {
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

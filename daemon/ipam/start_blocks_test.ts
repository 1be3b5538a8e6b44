import { assertEquals } from "../../test/assert.ts";
import { startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import { ClusterState } from "../../src/cluster/state.ts";
import type { Node } from "../../src/cluster/types.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { silentLogger } from "../../src/log.ts";
import { parseConfig } from "../config.ts";
import { startBlocksMode } from "./start_blocks.ts";
import { ipamBlockObject, ipPoolObject } from "../../test/cluster_fixtures.ts";

function node(name: string, labels: Record<string, string> = {}): Node {
  return { kind: "Node", name, labels, addresses: [], podCIDRs: [] };
}

function stateOf(nodes: Node[]): ClusterState {
  const state = new ClusterState();
  state.reset({
    resourceVersion: "1",
    nodes,
    pods: [],
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: [],
  });
  return state;
}

Deno.test("startBlocksMode() claims from the pool that selects this node's labels and serves ADD", async () => {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const client = new KubeClient({
    server: fake.url,
    caCerts: [],
    namespace: "default",
    origin: "t",
  });
  const kv = await Deno.openKv(":memory:");
  try {
    for (
      const [name, cidr, selector] of [
        ["gpu", "10.50.0.0/24", { matchLabels: { pool: "gpu" } }],
        ["general", "10.60.0.0/24", {}],
      ] as const
    ) {
      fake.create({
        apiVersion: "tern.dev/v1alpha1",
        kind: "IPPool",
        metadata: { name },
        spec: { cidr, nodeSelector: selector },
      } as never);
    }
    const config = parseConfig(
      "nodeName: n1\ncluster: { source: kubernetes }\nipam: { mode: blocks, blocks: { warmIPTarget: 4 } }\n",
    );
    const mode = await startBlocksMode(kv, config, {
      state: stateOf([node("n1", { pool: "gpu" })]),
      log: silentLogger,
      client,
    });
    try {
      await mode.pool.runNow();
      assertEquals(mode.ipam.pools.length, 1);
      assertEquals(mode.ipam.pools[0]!.startsWith("10.50.0."), true, mode.ipam.pools[0]);
      const { endpoint } = await mode.ipam.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/x",
      });
      assertEquals(endpoint.ip.startsWith("10.50.0."), true);
    } finally {
      await mode.stop();
    }
  } finally {
    kv.close();
    client.close();
    await fake.close();
  }
});

Deno.test("startBlocksMode() releases a deleted node's blocks only once the Node list holds this node", async () => {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const client = new KubeClient({
    server: fake.url,
    caCerts: [],
    namespace: "default",
    origin: "t",
  });
  const kv = await Deno.openKv(":memory:");
  try {
    fake.create(ipPoolObject("p", "10.70.0.0/24") as never);
    fake.create(ipamBlockObject("10.70.0.192/26", { pool: "p", node: "gone" }) as never);
    const config = parseConfig(
      "nodeName: n1\ncluster: { source: kubernetes }\nipam: { mode: blocks, blocks: { warmIPTarget: 0, nodeGracePeriod: 0 } }\n",
    );
    const state = stateOf([]);
    const mode = await startBlocksMode(kv, config, { state, log: silentLogger, client });
    const count = () => fake.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" }).length;
    try {
      await mode.pool.runNow();
      assertEquals(count(), 1, "no Node known yet: nothing looks deleted");
      state.reset({
        resourceVersion: "2",
        nodes: [node("n1")],
        pods: [],
        namespaces: [],
        nodeEndpoints: [],
        others: [],
        errors: [],
      });
      await mode.pool.runNow();
      assertEquals(count(), 0);
    } finally {
      await mode.stop();
    }
  } finally {
    kv.close();
    client.close();
    await fake.close();
  }
});

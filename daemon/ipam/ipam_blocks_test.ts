import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../test/assert.ts";
import { type FakeApiServer, startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import type { AllocateRequest } from "../../src/api.ts";
import { contains, parseCidr, parseIp } from "../../src/cidr.ts";
import { FakeClock } from "../../src/clock.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { until } from "../../src/kube/_test_server.ts";
import { BlockClaimer } from "../../src/ipam/block_claimer.ts";
import type { WarmTargets } from "../../src/ipam/warm_target.ts";
import { IpamExhaustedError } from "./ipam.ts";
import { blockKey, type BlocksIpam, openBlocksIpam } from "./ipam_blocks.ts";

function req(containerID: string): AllocateRequest {
  return { containerID, ifname: "eth0", network: "tern", netns: `/var/run/netns/${containerID}` };
}

const targets: WarmTargets = {
  warmIPTarget: 4,
  minimumIPTarget: 0,
  maxBlocks: 8,
  releaseCooldownMs: 0,
};

interface Env {
  fake: FakeApiServer;
  client: KubeClient;
  node(name: string, t?: Partial<WarmTargets>): Promise<BlocksIpam & { kv: Deno.Kv }>;
}

async function withCluster(poolSpec: Record<string, unknown>, fn: (env: Env) => Promise<void>) {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  fake.create({
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name: "default" },
    spec: poolSpec,
  } as never);
  const client = new KubeClient(
    { server: fake.url, caCerts: [], namespace: "default", origin: "test" },
    { requestTimeoutMs: 2_000 },
  );
  const kvs: Deno.Kv[] = [];
  const pools: BlocksIpam[] = [];
  try {
    await fn({
      fake,
      client,
      async node(name, t = {}) {
        const kv = await Deno.openKv(":memory:");
        kvs.push(kv);
        const opened = await openBlocksIpam(kv, new BlockClaimer(client, { nodeName: name }), {
          targets: { ...targets, ...t },
          pokeDelayMs: 10_000,
          intervalMs: 600_000,
        });
        pools.push(opened);
        return { ...opened, kv };
      },
    });
  } finally {
    for (const p of pools) await p.pool.stop();
    for (const kv of kvs) kv.close();
    client.close();
    await fake.close();
  }
}

function owners(fake: FakeApiServer): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of fake.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" })) {
    const spec = (o as unknown as { spec: { cidr: string; node: string } }).spec;
    assert(!out.has(spec.cidr), `two objects for ${spec.cidr}`);
    out.set(spec.cidr, spec.node);
  }
  return out;
}

Deno.test("50 nodes allocating at once from one pool: no block has two owners, no address is given twice", async () => {
  await withCluster({ cidr: "10.244.0.0/18", blockSize: 26 }, async ({ fake, node }) => {
    const nodes = await Promise.all(Array.from({ length: 50 }, (_, i) => node(`node-${i}`)));
    await Promise.all(nodes.map((n) => n.pool.start()));
    // 80 pods per node: more than a /26, so every node claims during the burst too.
    const results = await Promise.all(nodes.map((n, i) =>
      Promise.all(
        Array.from({ length: 80 }, (_, p) => n.ipam.allocate(req(`n${i}-pod${p}`))),
      )
    ));
    const given = new Map<string, string>();
    const blockOwners = owners(fake);
    for (const [i, endpoints] of results.entries()) {
      for (const { endpoint } of endpoints) {
        assert(
          !given.has(endpoint.ip),
          `${endpoint.ip} given to node-${i} and ${given.get(endpoint.ip)}`,
        );
        given.set(endpoint.ip, `node-${i}`);
        const addr = parseIp(endpoint.ip);
        const block = [...blockOwners].find(([cidr]) => contains(parseCidr(cidr), addr));
        assertEquals(block?.[1], `node-${i}`, `${endpoint.ip} lies in a block node-${i} owns`);
        assertEquals(endpoint.podCIDR, block?.[0]);
      }
    }
    assertEquals(given.size, 50 * 80);
  });
});

Deno.test("a pool running out: ADD fails as exhausted, with an Event on the Node", async () => {
  await withCluster({ cidr: "10.244.0.0/25", blockSize: 27 }, async ({ fake, node }) => {
    const a = await node("a", { warmIPTarget: 0 });
    const b = await node("b", { warmIPTarget: 0 });
    await a.pool.start();
    await b.pool.start();
    // 4 blocks of 32: 128 addresses for 2 × 75 pods.
    const settled = await Promise.all([a, b].map((n, i) =>
      Promise.allSettled(
        Array.from({ length: 75 }, (_, p) => n.ipam.allocate(req(`n${i}-p${p}`))),
      )
    ));
    const blockOwners = owners(fake);
    assertEquals(blockOwners.size, 4, "the whole pool is claimed");
    for (const [i, name] of ["a", "b"].entries()) {
      const capacity = [...blockOwners.values()].filter((n) => n === name).length * 32;
      const ok = settled[i]!.filter((r) => r.status === "fulfilled").length;
      // A node fails an ADD only once its own blocks are full and none is left to claim.
      assertEquals(ok, Math.min(75, capacity), `node ${name} with ${capacity} addresses`);
    }
    const failed = settled.flat().find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert(failed.reason instanceof IpamExhaustedError);
    assertStringIncludes(failed.reason.message, "No free address in this node's blocks");
    assertStringIncludes(failed.reason.message, "every block of IPPool default is claimed");
    const events = fake.list({ apiVersion: "v1", kind: "Event", namespace: "default" });
    assert(events.length >= 1 && events.length <= 2, `${events.length} events`);
  });
});

Deno.test("the API server down while pods are added: the warm pool serves them", async () => {
  await withCluster({ cidr: "10.244.0.0/16", blockSize: 26 }, async ({ fake, node }) => {
    // A warm target of one whole /26.
    const n = await node("n1", { warmIPTarget: 64 });
    await n.pool.start();
    await n.pool.runNow();
    await fake.stop();
    const started = Date.now();
    const got = await Promise.all(
      Array.from({ length: 64 }, (_, i) => n.ipam.allocate(req(`p${i}`))),
    );
    assertEquals(new Set(got.map((g) => g.endpoint.ip)).size, 64);
    assert(Date.now() - started < 1_000, "no ADD waited for the API server");
    // Beyond the warm pool an ADD needs a claim, which cannot happen now.
    await assertRejects(() => n.ipam.allocate(req("p-extra")), IpamExhaustedError, "Cannot reach");
    await fake.start();
    assertEquals((await n.ipam.allocate(req("p-extra"))).created, true);
  });
});

Deno.test("a restart reconciles KV with the API: adopted and reclaimed blocks keep their pods", async () => {
  await withCluster({ cidr: "10.244.0.0/16", blockSize: 26 }, async ({ fake, node, client }) => {
    const n = await node("n1", { warmIPTarget: 1 });
    await n.pool.start();
    const { endpoint } = await n.ipam.allocate(req("p1"));
    await n.pool.stop();
    // The API loses the block (someone deleted it) and the local record is lost too.
    const [cidr] = [...owners(fake).keys()];
    await client.delete(
      {
        group: "tern.dev",
        version: "v1alpha1",
        plural: "ipamblocks",
        kind: "IPAMBlock",
        namespaced: false,
      },
      cidr!.replaceAll(".", "-").replace("/", "-"),
    );
    await n.kv.delete(blockKey(cidr!));
    const again = await openBlocksIpam(n.kv, new BlockClaimer(client, { nodeName: "n1" }), {
      targets: { ...targets, warmIPTarget: 1 },
    });
    const summary = await again.pool.reconcile();
    assertEquals(summary.reclaimed, [cidr!]);
    assertEquals(owners(fake).get(cidr!), "n1");
    assertEquals((await again.ipam.allocate(req("p1"))).endpoint.ip, endpoint.ip);
    assertEquals(again.ipam.pools, [cidr!]);
  });
});

Deno.test("an empty block is released and its addresses are not handed out after it", async () => {
  await withCluster({ cidr: "10.244.0.0/16", blockSize: 26 }, async ({ fake, node }) => {
    const n = await node("n1", { warmIPTarget: 0 });
    await n.pool.start();
    await n.ipam.allocate(req("p1"));
    assertEquals(owners(fake).size, 1);
    await n.ipam.release({ containerID: "p1", ifname: "eth0" });
    await n.pool.runNow();
    assertEquals(owners(fake).size, 0);
    assertEquals(n.ipam.pools, []);
    assertEquals(await n.blocks.recordedBlocks(), []);
  });
});

Deno.test("ADDs beyond the warm pool against a silent API server fail as exhausted within 10 s, saying why", async () => {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  fake.create({
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name: "default" },
    spec: { cidr: "10.244.0.0/16", blockSize: 26 },
  } as never);
  const clock = new FakeClock();
  // The client's own timeout (60 s) on the fake clock too: the ADD's 10 s must not wait for it.
  const client = new KubeClient(
    { server: fake.url, caCerts: [], namespace: "default", origin: "test" },
    { clock },
  );
  const kv = await Deno.openKv(":memory:");
  const n = await openBlocksIpam(kv, new BlockClaimer(client, { nodeName: "n1" }), {
    targets: { ...targets, warmIPTarget: 0 },
    intervalMs: 600_000,
    clock,
  });
  try {
    await n.pool.start();
    const idle = clock.pending; // the periodic run
    // The claim's first request is held for a second of real time: never, to the fake clock.
    fake.slow({ delayMs: 1_000, count: 1 });
    const from = clock.now();
    const failures: { at: number; error: unknown }[] = [];
    const adds = [1, 2, 3].map((i) =>
      n.ipam.allocate(req(`p${i}`)).then(
        () => failures.push({ at: clock.now(), error: "allocated" }),
        (error) => failures.push({ at: clock.now(), error }),
      )
    );
    // Each ADD's deadline, and the timeout of the claim's request in flight.
    await until(() => clock.pending === idle + 4, "three ADDs waiting for one claim");
    await clock.tick(10_000);
    await Promise.all(adds);
    assertEquals(failures.map((f) => f.at - from), [10_000, 10_000, 10_000]);
    for (const { error } of failures) {
      assert(error instanceof IpamExhaustedError, String(error));
      assertEquals(
        error.message,
        "No free address in this node's blocks: none owned: The Kubernetes API server did not answer node n1's block claim within 10 s: no free address on the node until it does (the claim goes on, and serves a retry of the ADD): check the API server and the node's path to it",
      );
    }
    // The claim went on; once the server answers, a retried ADD gets an address of its block.
    assertEquals((await n.ipam.allocate(req("p1"))).created, true);
    assertEquals(owners(fake).size, 1);
  } finally {
    await n.pool.stop();
    kv.close();
    client.close();
    await fake.close();
  }
});

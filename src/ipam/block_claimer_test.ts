import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { type FakeApiServer, startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import { KubeClient } from "../kube/client.ts";
import { BlockClaimer, PoolExhaustedError } from "./block_claimer.ts";
import type { IpPool } from "./ipam_objects.ts";

async function withApi(
  fn: (fake: FakeApiServer, client: () => KubeClient) => Promise<void>,
): Promise<void> {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const clients: KubeClient[] = [];
  try {
    await fn(fake, () => {
      const client = new KubeClient({
        server: fake.url,
        caCerts: [],
        namespace: "default",
        origin: "test",
      });
      clients.push(client);
      return client;
    });
  } finally {
    for (const c of clients) c.close();
    await fake.close();
  }
}

function addPool(fake: FakeApiServer, name: string, spec: Record<string, unknown>): void {
  fake.create(
    { apiVersion: "tern.dev/v1alpha1", kind: "IPPool", metadata: { name }, spec } as never,
  );
}

function blockOwners(fake: FakeApiServer): Map<string, string> {
  const owners = new Map<string, string>();
  for (const o of fake.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" })) {
    const spec = (o as unknown as { spec: { cidr: string; node: string } }).spec;
    assert(!owners.has(spec.cidr), `two objects for ${spec.cidr}`);
    owners.set(spec.cidr, spec.node);
  }
  return owners;
}

Deno.test("50 claimers claiming from one pool at once: no block has two owners, the pool runs out cleanly", async () => {
  await withApi(async (fake, client) => {
    // A /20 of /26 blocks: 64 blocks for 50 claimers asking for 2 each.
    addPool(fake, "default", { cidr: "10.244.0.0/20", blockSize: 26 });
    const shared = client();
    const claimers = Array.from(
      { length: 50 },
      (_, i) => new BlockClaimer(i % 2 === 0 ? shared : client(), { nodeName: `node-${i}` }),
    );
    const results = await Promise.all(claimers.map(async (claimer) => {
      const pools = await claimer.pools();
      const got = [];
      try {
        for (let n = 0; n < 2; n++) got.push(await claimer.claim(pools, { nodeLabels: {} }));
        return { got };
      } catch (error) {
        return { got, error };
      }
    }));
    const claimed = new Map<string, string>();
    for (const [i, result] of results.entries()) {
      if (result.error !== undefined) {
        assert(result.error instanceof PoolExhaustedError, String(result.error));
      }
      for (const block of result.got) {
        assert(!claimed.has(block.cidr), `${block.cidr} given to two claimers`);
        assertEquals(block.node, `node-${i}`);
        claimed.set(block.cidr, block.node);
      }
    }
    const owners = blockOwners(fake);
    assertEquals(owners.size, 64, "every block of the pool is claimed");
    assertEquals(claimed.size, 64, "each claim is one block, none lost");
    for (const [cidr, node] of claimed) assertEquals(owners.get(cidr), node);
    // Every claimer short of two blocks was told the pool ran out, and stopped asking.
    for (const r of results) assertEquals(r.error !== undefined, r.got.length < 2);
    assertEquals(results.reduce((sum, r) => sum + 2 - r.got.length, 0), 100 - 64);
    await assertRejects(
      async () => await claimers[0]!.claim(await claimers[0]!.pools(), { nodeLabels: {} }),
      PoolExhaustedError,
      "No free block for node node-0: every block of IPPool default is claimed",
    );
  });
});

Deno.test("claim() spreads nodes over the pool: few lost races when there is room", async () => {
  await withApi(async (fake, client) => {
    addPool(fake, "default", { cidr: "10.244.0.0/16" });
    const c = client();
    const claimers = Array.from(
      { length: 50 },
      (_, i) => new BlockClaimer(c, { nodeName: `n${i}` }),
    );
    const pools = await claimers[0]!.pools();
    const before = fake.counts.get("create") ?? 0;
    await Promise.all(claimers.map((cl) => cl.claim(pools, { nodeLabels: {}, taken: [] })));
    const creates = (fake.counts.get("create") ?? 0) - before;
    assertEquals(blockOwners(fake).size, 50);
    assert(creates <= 60, `50 claims took ${creates} creates`);
  });
});

Deno.test("claim() takes only pools whose nodeSelector matches the node, selecting ones first", async () => {
  await withApi(async (fake, client) => {
    addPool(fake, "z-gpu", {
      cidr: "10.10.0.0/24",
      nodeSelector: { matchLabels: { pool: "gpu" } },
    });
    addPool(fake, "a-rest", { cidr: "10.20.0.0/24" });
    const claimer = new BlockClaimer(client(), { nodeName: "n1" });
    const pools = await claimer.pools();
    assertEquals((await claimer.claim(pools, { nodeLabels: {} })).pool, "a-rest");
    assertEquals((await claimer.claim(pools, { nodeLabels: { pool: "gpu" } })).pool, "z-gpu");
    const none = new BlockClaimer(client(), { nodeName: "n2" });
    await assertRejects(
      () => none.claim(pools.filter((p) => p.name === "z-gpu"), { nodeLabels: {} }),
      PoolExhaustedError,
      "No IPPool for node n2",
    );
  });
});

Deno.test("a deleted node's block is released by exactly one of many concurrent releasers", async () => {
  await withApi(async (fake, client) => {
    addPool(fake, "default", { cidr: "10.244.0.0/24" });
    const owner = new BlockClaimer(client(), { nodeName: "gone" });
    const block = await owner.claim(await owner.pools(), { nodeLabels: {} });
    const releasers = Array.from(
      { length: 40 },
      (_, i) => new BlockClaimer(client(), { nodeName: `peer-${i}` }),
    );
    const seen = await releasers[0]!.blocks();
    const results = await Promise.all(
      releasers.map((r) => r.release(seen.find((b) => b.cidr === block.cidr)!)),
    );
    assertEquals(results.filter((r) => r).length, 1);
    assertEquals(blockOwners(fake).size, 0);
  });
});

Deno.test("a stale release never deletes a block claimed again meanwhile", async () => {
  await withApi(async (fake, client) => {
    addPool(fake, "default", { cidr: "10.244.0.0/26", blockSize: 26 });
    const a = new BlockClaimer(client(), { nodeName: "a" });
    const pools = await a.pools();
    const old = await a.claim(pools, { nodeLabels: {} });
    assert(await a.release(old));
    const b = new BlockClaimer(client(), { nodeName: "b" });
    const again = await b.claim(pools, { nodeLabels: {} });
    assertEquals(again.cidr, old.cidr);
    assertEquals(await a.release(old), false);
    assertEquals(blockOwners(fake).get(old.cidr), "b");
  });
});

Deno.test("reportAllocated() writes the use, retries after a conflict, and stops at another owner", async () => {
  await withApi(async (fake, client) => {
    addPool(fake, "default", { cidr: "10.244.0.0/24" });
    const claimer = new BlockClaimer(client(), { nodeName: "n1" });
    const block = await claimer.claim(await claimer.pools(), { nodeLabels: {} });
    const first = await claimer.reportAllocated(block, 3);
    assertEquals(first?.allocated, 3);
    // `block` is stale now: the write conflicts, is read again, and succeeds.
    const second = await claimer.reportAllocated(block, 5);
    assertEquals(second?.allocated, 5);
    await claimer.release(second!);
    await new BlockClaimer(client(), { nodeName: "n2" }).claim(await claimer.pools(), {
      nodeLabels: {},
      taken: [],
    });
    assertEquals(await claimer.reportAllocated(second!, 1), undefined);
  });
});

Deno.test("nodeEvent() records a Warning Event on the Node", async () => {
  await withApi(async (fake, client) => {
    const claimer = new BlockClaimer(client(), { nodeName: "n1" });
    await claimer.nodeEvent("IPAMExhausted", "No free block");
    const [event] = fake.list({
      apiVersion: "v1",
      kind: "Event",
      namespace: "default",
    }) as unknown as {
      involvedObject: { kind: string; name: string };
      reason: string;
      type: string;
    }[];
    assertEquals(
      [event?.involvedObject.kind, event?.involvedObject.name, event?.reason, event?.type],
      ["Node", "n1", "IPAMExhausted", "Warning"],
    );
  });
});

Deno.test("pools() skips an invalid pool and keeps the others", async () => {
  await withApi(async (fake, client) => {
    addPool(fake, "bad", { cidr: "10.0.0.0/24", blockSize: 20 });
    addPool(fake, "good", { cidr: "10.1.0.0/24" });
    const pools: IpPool[] = await new BlockClaimer(client(), { nodeName: "n" }).pools();
    assertEquals(pools.map((p) => p.name), ["good"]);
  });
});

import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { type FakeApiServer, startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import { formatIp, parseCidr } from "../cidr.ts";
import { FakeClock } from "../clock.ts";
import { KubeClient, type KubeClientOptions } from "../kube/client.ts";
import { KubeNetworkError } from "../kube/errors.ts";
import { until } from "../kube/_test_server.ts";
import { recordingLogger } from "../../test/recording_logger.ts";
import {
  BLOCK_REQUEST_TIMEOUT_MS,
  BlockClaimer,
  type BlockClient,
  PoolExhaustedError,
} from "./block_claimer.ts";
import { BlockClaimTimeoutError, BlockPool, type LocalBlocks } from "./block_pool.ts";
import type { WarmTargets } from "./warm_target.ts";

/** The node's allocator as the pool sees it: blocks and the addresses used in each. */
class MemoryBlocks implements LocalBlocks {
  readonly active = new Map<string, Set<string>>();
  readonly recorded = new Set<string>();
  readonly quarantined = new Set<string>();
  usage(cidrs: readonly string[]): Map<string, number> {
    return new Map(cidrs.map((c) => [c, this.active.get(c)?.size ?? 0]));
  }
  usedIps(): Promise<string[]> {
    return Promise.resolve([...this.active.values()].flatMap((s) => [...s]));
  }
  recordedBlocks(): Promise<string[]> {
    return Promise.resolve([...this.recorded]);
  }
  addBlock(cidr: string): Promise<void> {
    this.recorded.add(cidr);
    if (!this.active.has(cidr)) this.active.set(cidr, new Set());
    return Promise.resolve();
  }
  retireBlock(cidr: string): Promise<boolean> {
    if ((this.active.get(cidr)?.size ?? 0) > 0) return Promise.resolve(false);
    this.active.delete(cidr);
    this.recorded.delete(cidr);
    return Promise.resolve(true);
  }
  quarantineBlock(cidr: string): Promise<void> {
    this.quarantined.add(cidr);
    return Promise.resolve();
  }
  /** Takes a free address, as the allocator would; undefined when none is free. */
  take(): string | undefined {
    for (const [cidr, used] of this.active) {
      if (this.quarantined.has(cidr)) continue;
      const block = parseCidr(cidr);
      for (let i = 0; i < 2 ** (32 - block.prefix); i++) {
        const ip = formatIp(block.network + i);
        if (!used.has(ip)) {
          used.add(ip);
          return ip;
        }
      }
    }
    return undefined;
  }
  free(ip: string): void {
    for (const used of this.active.values()) used.delete(ip);
  }
}

const targets: WarmTargets = {
  warmIPTarget: 8,
  minimumIPTarget: 0,
  maxBlocks: 4,
  releaseCooldownMs: 60_000,
};

async function withApi(
  fn: (fake: FakeApiServer, client: KubeClient) => Promise<void>,
  clientOptions: KubeClientOptions = { requestTimeoutMs: 2_000 },
): Promise<void> {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const client = new KubeClient(
    { server: fake.url, caCerts: [], namespace: "default", origin: "test" },
    clientOptions,
  );
  fake.create({
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name: "default" },
    spec: { cidr: "10.244.0.0/24", blockSize: 28 },
  } as never);
  try {
    await fn(fake, client);
  } finally {
    client.close();
    await fake.close();
  }
}

function blocksOf(fake: FakeApiServer): { cidr: string; node: string; allocated?: number }[] {
  return fake.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" }).map((o) => {
    const { spec, status } = o as unknown as {
      spec: { cidr: string; node: string };
      status?: { allocated?: number };
    };
    return { cidr: spec.cidr, node: spec.node, allocated: status?.allocated ?? 0 };
  });
}

/** `client`, writing each list it is asked for into `sent`. */
function listsRecorded(client: KubeClient, sent: string[]): BlockClient {
  return {
    listAll: (type, options) => {
      sent.push(`list ${type.plural}`);
      return client.listAll(type, options);
    },
    get: (type, name, options) => client.get(type, name, options),
    patch: (type, name, patch, options) => client.patch(type, name, patch, options),
    delete: (type, name, options) => client.delete(type, name, options),
    create: (type, object, options) => client.create(type, object, options),
  };
}

Deno.test("BlockPool keeps warmIPTarget free addresses and writes each block's use", async () => {
  await withApi(async (fake, client) => {
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets,
      clock: new FakeClock(),
    });
    await pool.reconcile();
    await pool.runNow();
    assertEquals(pool.blocks().length, 1, "one /28 (16 addresses) covers a target of 8");
    for (let i = 0; i < 10; i++) local.take();
    await pool.runNow();
    assertEquals(pool.blocks().map((b) => b.used), [10, 0]);
    assertEquals(blocksOf(fake).map((b) => b.allocated).sort(), [0, 10]);
  });
});

Deno.test("BlockPool releases an empty block beyond the target only after the cooldown", async () => {
  await withApi(async (fake, client) => {
    const clock = new FakeClock();
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets,
      clock,
    });
    await pool.reconcile();
    await pool.runNow();
    const taken = Array.from({ length: 12 }, () => local.take()!);
    await pool.runNow();
    assertEquals(blocksOf(fake).length, 2);
    for (const ip of taken) local.free(ip);
    await pool.runNow();
    await clock.tick(59_000);
    await pool.runNow();
    assertEquals(blocksOf(fake).length, 2, "still cooling down");
    await clock.tick(1_000);
    await pool.runNow();
    assertEquals(blocksOf(fake).length, 1);
    assertEquals(local.active.size, 1);
  });
});

Deno.test("BlockPool never releases a block whose address was taken as it decided", async () => {
  await withApi(async (fake, client) => {
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets: { ...targets, warmIPTarget: 0, releaseCooldownMs: 0 },
      clock: new FakeClock(),
    });
    await pool.reconcile();
    await pool.claimForAllocation();
    // The allocator takes an address between the decision and the release: retire refuses.
    const retire = local.retireBlock.bind(local);
    local.retireBlock = (cidr) => {
      local.take();
      return retire(cidr);
    };
    await pool.runNow();
    assertEquals(blocksOf(fake).length, 1);
    assertEquals(pool.blocks()[0]?.used, 1);
  });
});

Deno.test("BlockPool's warm pool serves addresses while the API server is down", async () => {
  await withApi(async (fake, client) => {
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets: { ...targets, warmIPTarget: 16 },
      clock: new FakeClock(),
    });
    await pool.reconcile();
    await pool.runNow();
    await fake.stop();
    const got = Array.from({ length: 16 }, () => local.take());
    assert(got.every((ip) => ip !== undefined), "the warm pool held 16 addresses");
    await assertRejects(() => pool.runNow(), KubeNetworkError);
    assert(pool.lastError?.includes("Cannot reach"), pool.lastError);
    await fake.start();
    await pool.runNow();
    assertEquals(pool.lastError, undefined);
    assert(pool.blocks().reduce((s, b) => s + b.capacity - b.used, 0) >= 16);
  });
});

Deno.test("a hung status write holds the pool's line only for the short timeout, warned and retried", async () => {
  // The server takes the PATCH and never answers (packets dropped): the run fails after 10 s, not
  // the client's 60 s, and is logged and retried; the ADD waiting behind it for a claim gives up at
  // the same 10 s, its time in line included, and the next claim is served.
  const clock = new FakeClock();
  await withApi(async (fake, client) => {
    const lines: string[] = [];
    const log = recordingLogger(lines);
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1", log }), local, {
      targets: { ...targets, warmIPTarget: 0 },
      intervalMs: 600_000,
      clock,
      log,
    });
    await pool.start();
    await pool.claimForAllocation();
    while (local.take() !== undefined);
    fake.slow({ delayMs: 4_000, count: 1 });
    pool.poke();
    await clock.tick(200);
    const hungAt = clock.now();
    await until(() => clock.nextAt() === hungAt + BLOCK_REQUEST_TIMEOUT_MS, "the status write");
    let claimed = false;
    const claim = pool.claimForAllocation().finally(() => claimed = true);
    claim.catch(() => {});
    await clock.tick(BLOCK_REQUEST_TIMEOUT_MS - 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert(!claimed, "the claim waits behind the run in progress");
    await clock.tick(1);
    await assertRejects(() => claim, BlockClaimTimeoutError, "within 10 s");
    assertEquals(clock.now() - hungAt, BLOCK_REQUEST_TIMEOUT_MS, "and no longer than the timeout");
    assertEquals(lines.filter((l) => l.startsWith("warn ADD gave up waiting")).length, 1);
    await pool.claimForAllocation();
    assertEquals(pool.blocks().length, 2);
    const warned = lines.filter((l) => l.startsWith("warn Block pool run failed, retrying"));
    assertEquals(warned.length, 1, lines.join("\n"));
    assert(warned[0]!.includes("within 10 s"), warned[0]);
    assert(pool.lastError?.includes("did not answer PATCH"), pool.lastError);
    await clock.tick(5_000);
    await until(() => pool.lastError === undefined, "the retry");
    assertEquals(blocksOf(fake).map((b) => b.allocated).sort(), [0, 16]);
    await pool.stop();
  }, { clock });
});

Deno.test("claimForAllocation() whose create hangs fails at the short timeout, warned; the next adopts it", async () => {
  const clock = new FakeClock();
  await withApi(async (fake, client) => {
    const lines: string[] = [];
    const log = recordingLogger(lines);
    // Only the create hangs: the lists before it answer at once.
    let createSent = false;
    const hangingCreates: BlockClient = {
      listAll: (type, options) => client.listAll(type, options),
      get: (type, name, options) => client.get(type, name, options),
      patch: (type, name, patch, options) => client.patch(type, name, patch, options),
      delete: (type, name, options) => client.delete(type, name, options),
      create: (type, object, options) => {
        fake.slow({ delayMs: 1_500, count: 1 });
        createSent = true;
        return client.create(type, object, options);
      },
    };
    const pool = new BlockPool(
      new BlockClaimer(hangingCreates, { nodeName: "n1", log }),
      new MemoryBlocks(),
      {
        targets: { ...targets, warmIPTarget: 0 },
        clock,
        log,
      },
    );
    await pool.reconcile();
    const claim = pool.claimForAllocation();
    claim.catch(() => {});
    await until(() => createSent, "the create");
    await clock.tick(BLOCK_REQUEST_TIMEOUT_MS);
    // The ADD's wait and the create's timeout end together: the ADD says the claim had no answer,
    // the warning names the request.
    await assertRejects(() => claim, BlockClaimTimeoutError, "block claim within 10 s");
    await until(
      () => lines.some((l) => l.startsWith("warn Cannot claim a block for an ADD")),
      "the claim's failure",
    );
    const warned = lines.filter((l) => l.startsWith("warn Cannot claim a block for an ADD"));
    assertEquals(warned.length, 1, lines.join("\n"));
    assert(warned[0]!.includes("did not answer POST"), warned[0]);
    assert(warned[0]!.includes("within 10 s"), warned[0]);
    // The server stored the create after the client gave up: the next claim adopts that block
    // rather than leave it claimed for nothing until the daemon restarts.
    await until(() => blocksOf(fake).length === 1, "the late create", 10_000);
    await pool.claimForAllocation();
    assertEquals(pool.blocks().map((b) => b.cidr), blocksOf(fake).map((b) => b.cidr));
    assertEquals(lines.filter((l) => l.startsWith("warn Adopted block")).length, 1);
  }, { clock });
});

Deno.test("five ADDs queued for a claim against a silent API server all fail within one timeout; the next is served once it answers", async () => {
  const clock = new FakeClock();
  await withApi(async (fake, client) => {
    const lines: string[] = [];
    const log = recordingLogger(lines);
    const sent: string[] = [];
    const recorded = listsRecorded(client, sent);
    const pool = new BlockPool(
      new BlockClaimer(recorded, { nodeName: "n1", log }),
      new MemoryBlocks(),
      {
        targets: { ...targets, warmIPTarget: 0 },
        clock,
        log,
      },
    );
    await pool.reconcile();
    sent.length = 0;
    // The server holds the claim's first request, the list of pools, for a second of real time:
    // to the fake clock it never answers. That list has the client's timeout (60 s), not 10 s.
    fake.slow({ delayMs: 1_000, count: 1 });
    const from = clock.now();
    const settled: { at: number; error?: unknown }[] = [];
    const claims = Array.from({ length: 5 }, () =>
      pool.claimForAllocation().then(
        () => settled.push({ at: clock.now() }),
        (error) => settled.push({ at: clock.now(), error }),
      ));
    await until(() => sent.length > 0, "the claim's first request");
    await clock.tick(BLOCK_REQUEST_TIMEOUT_MS - 1);
    assertEquals(settled, [], "all five still wait");
    await clock.tick(1);
    assertEquals(settled.map((s) => s.at - from), Array(5).fill(BLOCK_REQUEST_TIMEOUT_MS));
    await Promise.all(claims);
    assertEquals(sent, ["list ippools"], "one claim for the five, stuck on its first request");
    for (const { error } of settled) {
      assert(error instanceof BlockClaimTimeoutError, String(error));
      assertEquals(error.waitedMs, BLOCK_REQUEST_TIMEOUT_MS);
      assert(
        error.message.startsWith(
          "The Kubernetes API server did not answer node n1's block claim within 10 s: ",
        ),
        error.message,
      );
    }
    const gaveUp = lines.filter((l) => l.startsWith("warn ADD gave up waiting for a block claim"));
    assertEquals(gaveUp.length, 1, "one warning for the round, not one per ADD");
    // The server answers again: the claim went on without the five, and its block serves the next
    // ADD, which claims nothing itself.
    await pool.claimForAllocation();
    assertEquals(pool.blocks().map((b) => b.used), [0]);
    assertEquals(blocksOf(fake).length, 1);
    assertEquals(sent, ["list ippools", "list ipamblocks"]);
  }, { clock });
});

Deno.test("ADDs queued behind a claim that fails share its error: one attempt for the burst", async () => {
  await withApi(async (fake, client) => {
    const lines: string[] = [];
    const log = recordingLogger(lines);
    const sent: string[] = [];
    const claimer = new BlockClaimer(listsRecorded(client, sent), { nodeName: "n1", log });
    const pool = new BlockPool(claimer, new MemoryBlocks(), {
      targets: { ...targets, warmIPTarget: 0 },
      clock: new FakeClock(),
      log,
    });
    await pool.reconcile();
    sent.length = 0;
    await fake.stop();
    // The first ADD's claim fails (connection refused); the four queued behind it do not try again.
    const settled = await Promise.allSettled(
      Array.from({ length: 5 }, () => pool.claimForAllocation()),
    );
    for (const result of settled) {
      assert(result.status === "rejected" && result.reason instanceof KubeNetworkError);
      assert(result.reason.message.startsWith("Cannot reach"), result.reason.message);
    }
    assertEquals(sent, ["list ippools"], "one claim");
    assertEquals(
      lines.filter((l) => l.startsWith("warn Cannot claim a block for an ADD")).length,
      1,
    );
    // A claim asked for after the failure tries again, and a server that is back serves it.
    await fake.start();
    await pool.claimForAllocation();
    assertEquals(pool.blocks().length, 1);
  });
});

Deno.test("claimForAllocation() claims one block for a burst and reports a pool running out", async () => {
  await withApi(async (fake, client) => {
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets: { ...targets, warmIPTarget: 0, maxBlocks: 100 },
      clock: new FakeClock(),
    });
    await pool.reconcile();
    await Promise.all(Array.from({ length: 10 }, () => pool.claimForAllocation()));
    assertEquals(blocksOf(fake).length, 1, "a burst on an empty node pays one claim");
    // 16 /28 blocks in the /24: take them all, then ask for more.
    for (let i = 0; i < 16; i++) {
      while (local.take() !== undefined);
      if (i < 15) await pool.claimForAllocation();
    }
    await assertRejects(() => pool.claimForAllocation(), PoolExhaustedError, "No free block");
    const events = fake.list({ apiVersion: "v1", kind: "Event", namespace: "default" });
    assertEquals(events.length, 1);
  });
});

Deno.test("reconcile() adopts, reclaims, forgets and quarantines, each as the plan says", async () => {
  await withApi(async (fake, client) => {
    const other = new BlockClaimer(client, { nodeName: "n2" });
    const pools = await other.pools();
    const mine = new BlockClaimer(client, { nodeName: "n1" });
    const adopted = await mine.claim(pools, { nodeLabels: {} });
    const theirs = await other.claim(pools, { nodeLabels: {} });
    const local = new MemoryBlocks();
    local.recorded.add("10.244.0.240/28"); // unused, nobody's: forgotten
    local.active.set("10.244.0.224/28", new Set(["10.244.0.225"])); // in use, lost: reclaimed
    local.active.set(theirs.cidr, new Set([formatIp(parseCidr(theirs.cidr).network + 1)]));
    const pool = new BlockPool(mine, local, { targets, clock: new FakeClock() });
    const summary = await pool.reconcile();
    assertEquals(summary.adopted, [adopted.cidr]);
    assertEquals(summary.reclaimed, ["10.244.0.224/28"]);
    assertEquals(summary.forgotten, ["10.244.0.240/28"]);
    assertEquals(summary.conflicts, [theirs.cidr]);
    assertEquals([...local.quarantined], [theirs.cidr]);
    const owners = new Map(blocksOf(fake).map((b) => [b.cidr, b.node]));
    assertEquals(owners.get("10.244.0.224/28"), "n1");
    assertEquals(owners.get(theirs.cidr), "n2");
    assert(!local.recorded.has("10.244.0.240/28"));
  });
});

Deno.test("BlockPool releases a deleted node's blocks after the grace period, once", async () => {
  await withApi(async (fake, client) => {
    const clock = new FakeClock();
    const gone = new BlockClaimer(client, { nodeName: "gone" });
    await gone.claim(await gone.pools(), { nodeLabels: {} });
    const peers = Array.from({ length: 5 }, (_, i) => {
      const local = new MemoryBlocks();
      return new BlockPool(new BlockClaimer(client, { nodeName: `p${i}` }), local, {
        targets: { ...targets, warmIPTarget: 0 },
        nodeNames: () => new Set(["p0", "p1", "p2", "p3", "p4"]),
        nodeGracePeriodMs: 120_000,
        clock,
      });
    });
    await Promise.all(peers.map((p) => p.runNow()));
    assertEquals(blocksOf(fake).map((b) => b.node), ["gone"]);
    await clock.tick(120_000);
    const before = fake.counts.get("delete") ?? 0;
    await Promise.all(peers.map((p) => p.runNow()));
    assertEquals(blocksOf(fake), []);
    assert((fake.counts.get("delete") ?? 0) - before <= 5);
  });
});

Deno.test("BlockPool looks again soon when a deleted node's block changed since its view read it", async () => {
  await withApi(async (fake, client) => {
    const clock = new FakeClock();
    const gone = new BlockClaimer(client, { nodeName: "gone" });
    const block = await gone.claim(await gone.pools(), { nodeLabels: {} });
    let view = [block];
    // The dead node's last status write lands after the view read the block: the release's
    // resourceVersion precondition fails (409), and nothing else would wake the pool for 30 s.
    const written = await gone.reportAllocated(block, 3);
    assert(written !== undefined && written.resourceVersion !== block.resourceVersion);
    const peer = new BlockPool(new BlockClaimer(client, { nodeName: "p0" }), new MemoryBlocks(), {
      targets: { ...targets, warmIPTarget: 0 },
      nodeNames: () => new Set(["p0"]),
      clusterBlocks: () => view,
      nodeGracePeriodMs: 1_000,
      intervalMs: 600_000,
      clock,
    });
    const t0 = clock.now();
    const deletes = () => fake.counts.get("delete") ?? 0;
    const versions = () =>
      fake.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" }).map((o) =>
        o.metadata?.resourceVersion
      );
    await peer.start();
    try {
      // The runs talk to a real (fake) API server over HTTP, while the fake clock stands still:
      // wait for what each run leaves behind, never for a fixed time.
      assertEquals(clock.nextAt(), t0 + 1_000, "the grace period ends a second after start");
      const before = deletes();
      await clock.tick(1_000);
      // The release was sent with the view's stale resourceVersion and refused (409): the block is
      // untouched, and the pool asked to look again a second later, not at the periodic run.
      await until(() => clock.nextAt() === t0 + 2_000, "the recheck after the refused release");
      assertEquals(deletes() - before, 1, "one release was tried");
      assertEquals(blocksOf(fake).map((b) => b.node), ["gone"], "the stale release was refused");
      assertEquals(versions(), [written.resourceVersion], "and changed nothing");
      view = [written];
      await clock.tick(1_000);
      await until(() => blocksOf(fake).length === 0, "the release on the recheck");
      assertEquals(deletes() - before, 2);
      assertEquals(
        clock.now(),
        t0 + 2_000,
        "released on the recheck, not at the next periodic run",
      );
    } finally {
      await peer.stop();
    }
  });
});

Deno.test("headroom() counts what claims could add, and nothing once the pools ran out", async () => {
  await withApi(async (_fake, client) => {
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets: { ...targets, warmIPTarget: 0, maxBlocks: 2 },
      clock: new FakeClock(),
    });
    await pool.reconcile();
    assertEquals(pool.headroom(), 2 * 16, "an idle node with no block is not exhausted");
    await pool.claimForAllocation();
    assertEquals(pool.headroom(), 16);
    while (local.take() !== undefined);
    await pool.claimForAllocation();
    while (local.take() !== undefined);
    await assertRejects(
      () => pool.claimForAllocation(),
      PoolExhaustedError,
      "Node n1 owns ipam.blocks.maxBlocks (2) blocks, all full: raise maxBlocks",
    );
    assertEquals(pool.headroom(), 0);
  });
});

Deno.test("claimForAllocation() claims for every ADD waiting in one round", async () => {
  await withApi(async (fake, client) => {
    const local = new MemoryBlocks();
    const pool = new BlockPool(new BlockClaimer(client, { nodeName: "n1" }), local, {
      targets: { ...targets, warmIPTarget: 0 },
      clock: new FakeClock(),
    });
    await pool.reconcile();
    const lists = fake.counts.get("list") ?? 0;
    // 40 ADDs found nothing free at once: three /28 blocks, with one read of the pools and blocks.
    await Promise.all(Array.from({ length: 40 }, () => pool.claimForAllocation()));
    assertEquals(blocksOf(fake).length, 3);
    assertEquals((fake.counts.get("list") ?? 0) - lists, 2);
  });
});

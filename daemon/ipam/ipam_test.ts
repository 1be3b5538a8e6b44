import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../../test/assert.ts";
import type { AllocateRequest, AttachmentId, Endpoint } from "../../src/api.ts";
import { Ipam, IpamConflictError, IpamExhaustedError, IpamNotFoundError, ipKey } from "./ipam.ts";
import { withKv } from "./_ipam_fixture.ts";

function req(containerID: string, ifname = "eth0"): AllocateRequest {
  return { containerID, ifname, network: "tern", netns: `/var/run/netns/${containerID}` };
}

Deno.test("allocate() returns the same address for a repeated containerID and ifname", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const first = await ipam.allocate(req("c1"));
    const again = await ipam.allocate(req("c1"));
    assertEquals(first.created, true);
    assertEquals(again.created, false);
    assertEquals(again.endpoint.ip, first.endpoint.ip);
    assertEquals(first.endpoint.podCIDR, "10.244.1.0/24");
    assertEquals(first.endpoint.state, "allocated");
    assertEquals(ipam.usedCount, 1);
  }));

Deno.test("allocate() gives distinct identities distinct addresses, ifname included", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const a = await ipam.allocate(req("c1", "eth0"));
    const b = await ipam.allocate(req("c1", "net1"));
    const c = await ipam.allocate(req("c2", "eth0"));
    assertEquals(new Set([a.endpoint.ip, b.endpoint.ip, c.endpoint.ip]).size, 3);
  }));

Deno.test("allocate() hands out exactly the two usable addresses of a /30, then throws exhausted", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/30"] });
    const a = await ipam.allocate(req("a"));
    const b = await ipam.allocate(req("b"));
    assertEquals([a.endpoint.ip, b.endpoint.ip].sort(), ["10.0.0.1", "10.0.0.2"]);
    const err = await assertRejects(() => ipam.allocate(req("c")), IpamExhaustedError);
    assertStringIncludes(
      err.message,
      "No free address in pod CIDRs: 10.0.0.0/30 has 2 of 2 in use",
    );
    assertEquals(err.pools, [{ cidr: "10.0.0.0/30", capacity: 2, used: 2, free: 0 }]);
  }));

Deno.test("allocate() never hands out network or broadcast addresses across several pools", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/29", "10.0.1.0/29"] });
    const ips: string[] = [];
    for (let i = 0; i < 12; i++) ips.push((await ipam.allocate(req(`c${i}`))).endpoint.ip);
    for (const bad of ["10.0.0.0", "10.0.0.7", "10.0.1.0", "10.0.1.7"]) {
      assert(!ips.includes(bad), `${bad} was handed out`);
    }
    assertEquals(new Set(ips).size, 12);
    await assertRejects(() => ipam.allocate(req("c12")), IpamExhaustedError, "10.0.1.0/29");
  }));

Deno.test("allocate() refuses an identity that is held for another network", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"] });
    await ipam.allocate(req("c1"));
    await assertRejects(
      () => ipam.allocate({ ...req("c1"), network: "other" }),
      IpamConflictError,
      'is on "tern", not "other"',
    );
  }));

Deno.test("allocate() keeps a released address cooling down while others are free", () =>
  withKv(async (kv) => {
    const now = 1_000_000;
    const ipam = await Ipam.open(kv, {
      podCIDRs: ["10.0.0.0/29"], // .1 to .6
      releaseCooldownMs: 30_000,
      now: () => now,
    });
    const first = (await ipam.allocate(req("a"))).endpoint.ip;
    await ipam.release({ containerID: "a", ifname: "eth0" });
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add((await ipam.allocate(req(`b${i}`))).endpoint.ip);
    assert(!seen.has(first), `${first} was reused during its cooldown`);
    // Only the cooling address is left: it is used rather than failing.
    assertEquals((await ipam.allocate(req("c"))).endpoint.ip, first);
    await assertRejects(() => ipam.allocate(req("d")), IpamExhaustedError);
  }));

Deno.test("allocate() picks the longest-released address when only cooling ones are free", () =>
  withKv(async (kv) => {
    let now = 1_000_000;
    const ipam = await Ipam.open(kv, {
      podCIDRs: ["10.0.0.0/29"],
      releaseCooldownMs: 30_000,
      now: () => now,
    });
    const ids: AttachmentId[] = [];
    for (let i = 0; i < 6; i++) {
      await ipam.allocate(req(`p${i}`));
      ids.push({ containerID: `p${i}`, ifname: "eth0" });
    }
    const released: string[] = [];
    for (const i of [4, 1, 3]) {
      now += 1_000;
      released.push((await ipam.release(ids[i]!))!.ip);
    }
    now += 1_000;
    assertEquals((await ipam.allocate(req("n1"))).endpoint.ip, released[0]);
    assertEquals((await ipam.allocate(req("n2"))).endpoint.ip, released[1]);
    // Once the cooldown is over an address is ordinary again.
    now += 30_000;
    assertEquals((await ipam.allocate(req("n3"))).endpoint.ip, released[2]);
  }));

Deno.test("allocate() reuses an address once its cooldown has passed", () =>
  withKv(async (kv) => {
    let now = 5_000_000;
    const ipam = await Ipam.open(kv, {
      podCIDRs: ["10.0.0.0/30"],
      releaseCooldownMs: 30_000,
      now: () => now,
    });
    const a = (await ipam.allocate(req("a"))).endpoint.ip;
    await ipam.allocate(req("b"));
    await ipam.release({ containerID: "a", ifname: "eth0" });
    now += 30_000;
    assertEquals((await ipam.allocate(req("c"))).endpoint.ip, a);
    assertEquals(await kv.get(["released", a]).then((e) => e.value), null);
  }));

Deno.test("allocate() gives 200 parallel calls 200 distinct addresses on a /24", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ipam.allocate(req(`c${i}`))),
    );
    const ips = results.map((r) => r.endpoint.ip);
    assertEquals(new Set(ips).size, 200);
    assertEquals(ipam.stats(), [{ cidr: "10.244.1.0/24", capacity: 254, used: 200, free: 54 }]);
    let keys = 0;
    for await (const _ of kv.list({ prefix: ["ip"] })) keys++;
    assertEquals(keys, 200);
  }));

Deno.test("a burst of allocate() and release() calls shares KV commits", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => ipam.allocate(req(`c${i}`))),
    );
    assertEquals(new Set(results.map((r) => r.endpoint.ip)).size, 30);
    const claimed = ipam.commitStats();
    assertEquals(claimed.operations, 30);
    assert(claimed.commits <= 5, `30 claims took ${claimed.commits} commits`);
    for (const [i, r] of results.entries()) {
      assertEquals((await kv.get(ipKey(r.endpoint.ip))).value, {
        containerID: `c${i}`,
        ifname: "eth0",
      });
    }
    const released = await Promise.all(
      results.map((r) => ipam.release({ containerID: r.endpoint.containerID, ifname: "eth0" })),
    );
    assertEquals(released.map((ep) => ep?.ip), results.map((r) => r.endpoint.ip));
    const after = ipam.commitStats();
    assertEquals(after.operations, 60);
    assert(
      after.commits - claimed.commits <= 5,
      `30 releases took ${after.commits - claimed.commits}`,
    );
    assertEquals(ipam.usedCount, 0);
    let keys = 0;
    for await (const _ of kv.list({ prefix: ["ip"] })) keys++;
    assertEquals(keys, 0);
  }));

Deno.test("a burst beyond the pool never hands out an address twice: reloads keep claims in flight", async () => {
  // The exhausted calls re-read the index from KV while other calls' claims commit: a claim that
  // committed during the listing must not drop out of the index, or a later call picks its
  // address again, programs it over the holder's route and undoes it when its claim loses.
  for (let round = 0; round < 20; round++) {
    await withKv(async (kv) => {
      let now = 0;
      const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/27"], now: () => (now += 1000) });
      const events: string[] = [];
      const work = {
        programmed: { hostVeth: "tern0123456789a", podMac: "0a:58:0a:f4:01:07" },
        during: (ep: Endpoint) => (events.push(`do ${ep.ip}`), Promise.resolve()),
        undo: (ep: Endpoint) => (events.push(`undo ${ep.ip}`), Promise.resolve()),
      };
      const results = await Promise.allSettled(
        Array.from({ length: 36 }, (_, i) => ipam.allocate(req(`c${i}`), work)),
      );
      const held = results.filter((r) => r.status === "fulfilled").length;
      assertEquals(held, 30, `round ${round}`);
      assertEquals(events.filter((e) => e.startsWith("undo")), [], `round ${round}`);
    });
  }
});

Deno.test("allocate() parallel calls for one identity claim one address", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const results = await Promise.all(Array.from({ length: 20 }, () => ipam.allocate(req("same"))));
    assertEquals(new Set(results.map((r) => r.endpoint.ip)).size, 1);
    assertEquals(results.filter((r) => r.created).length, 1);
    assertEquals(ipam.usedCount, 1);
  }));

Deno.test("two Ipam instances racing on one KV never hand out the same address", () =>
  withKv(async (kv) => {
    const a = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const b = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const results = await Promise.all(
      Array.from({ length: 240 }, (_, i) => (i % 2 ? a : b).allocate(req(`c${i}`))),
    );
    const ips = results.map((r) => r.endpoint.ip);
    assertEquals(new Set(ips).size, 240);
    const holders = new Map<string, unknown>();
    for await (const entry of kv.list({ prefix: ["ip"] })) {
      holders.set(String(entry.key[1]), entry.value);
    }
    assertEquals(holders.size, 240);
    for (const [i, r] of results.entries()) {
      assertEquals(holders.get(r.endpoint.ip), { containerID: `c${i}`, ifname: "eth0" });
    }
  }));

/** Work beside a claim's commit that records what it was asked to do and undo. */
function recordingWork(options: { fail?: string } = {}) {
  const events: string[] = [];
  return {
    events,
    work: {
      programmed: { hostVeth: "tern0123456789a", podMac: "0a:58:0a:f4:01:07" },
      during: (ep: Endpoint) => {
        events.push(`do ${ep.ip}`);
        return options.fail === undefined
          ? Promise.resolve(`done ${ep.ip}`)
          : Promise.reject(new Error(options.fail));
      },
      undo: (ep: Endpoint) => (events.push(`undo ${ep.ip}`), Promise.resolve()),
    },
  };
}

Deno.test("allocate() with work commits the record programmed and returns the work's value", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const { events, work } = recordingWork();
    const claim = await ipam.allocate(req("c1"), work);
    assertEquals([claim.created, claim.done, events], [true, "done 10.244.1.1", ["do 10.244.1.1"]]);
    const record = await ipam.get({ containerID: "c1", ifname: "eth0" });
    assertEquals(
      [record?.state, record?.hostVeth, record?.podMac],
      ["programmed", "tern0123456789a", "0a:58:0a:f4:01:07"],
    );
    const again = await ipam.allocate(req("c1"), work);
    assertEquals([again.created, again.done, events.length], [false, undefined, 1], "no work");
  }));

Deno.test("allocate() with work undoes it and tries the next address when the claim loses a race", () =>
  withKv(async (kv) => {
    const a = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const b = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    await a.allocate(req("a0")); // b's index does not know 10.244.1.1 is taken
    const { events, work } = recordingWork();
    const claim = await b.allocate(req("b0"), work);
    assertEquals(claim.endpoint.ip, "10.244.1.2");
    assertEquals(events, ["do 10.244.1.1", "undo 10.244.1.1", "do 10.244.1.2"]);
    assertEquals((await kv.get(ipKey("10.244.1.1"))).value, { containerID: "a0", ifname: "eth0" });
  }));

Deno.test("allocate() with work that fails undoes it and leaves no claim", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.244.1.0/24"] });
    const { events, work } = recordingWork({ fail: "Cannot program policy: nft said no" });
    await assertRejects(() => ipam.allocate(req("c1"), work), Error, "nft said no");
    assertEquals(events, ["do 10.244.1.1", "undo 10.244.1.1"]);
    assertEquals(await ipam.get({ containerID: "c1", ifname: "eth0" }), undefined);
    assertEquals((await kv.get(ipKey("10.244.1.1"))).value, null);
    assertEquals(ipam.usedCount, 0);
  }));

Deno.test("an index made stale by another writer is re-read after a few lost races", () =>
  withKv(async (kv) => {
    const options = { podCIDRs: ["10.244.1.0/24"], maxAttempts: 16 };
    const a = await Ipam.open(kv, options);
    const b = await Ipam.open(kv, options);
    // a claims 100 addresses b has never seen: finding them one lost race at a time would take
    // 100 attempts, more than b's 16.
    for (let i = 0; i < 100; i++) await a.allocate(req(`a${i}`));
    const { endpoint, created } = await b.allocate(req("b0"));
    assert(created);
    assertEquals((await kv.get(ipKey(endpoint.ip))).value, { containerID: "b0", ifname: "eth0" });
    assertEquals(b.usedCount, 101);
  }));

Deno.test("allocate() finds addresses another instance released after its index was loaded", () =>
  withKv(async (kv) => {
    let now = 1_000_000;
    const options = { podCIDRs: ["10.0.0.0/30"], releaseCooldownMs: 0, now: () => now };
    const a = await Ipam.open(kv, options);
    const b = await Ipam.open(kv, options);
    await a.allocate(req("x"));
    await b.allocate(req("y"));
    await a.release({ containerID: "x", ifname: "eth0" });
    // b never saw the release; its exhaustion check reloads (at most once a second) and finds it.
    await assertRejects(() => b.allocate(req("z")), IpamExhaustedError);
    now += 1_000;
    const z = await b.allocate(req("z"));
    assertEquals(z.created, true);
  }));

Deno.test("release() frees both keys atomically, records the time and is idempotent", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"], now: () => 42 });
    const { endpoint } = await ipam.allocate(req("c1"));
    const id = { containerID: "c1", ifname: "eth0" };
    assertEquals((await ipam.release(id))?.ip, endpoint.ip);
    assertEquals(await ipam.release(id), undefined);
    assertEquals((await kv.get(["owner", "c1", "eth0"])).value, null);
    assertEquals((await kv.get(ipKey(endpoint.ip))).value, null);
    assertEquals((await kv.get(["released", endpoint.ip])).value, 42);
    assertEquals(ipam.usedCount, 0);
  }));

Deno.test("release() with a network leaves an attachment of another network alone", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"] });
    await ipam.allocate(req("c1"));
    const id = { containerID: "c1", ifname: "eth0" };
    assertEquals(await ipam.release(id, { network: "other" }), undefined);
    assert(await ipam.get(id));
    assert(await ipam.release(id, { network: "tern" }));
  }));

Deno.test("markProgrammed() records the host side and refuses a foreign address or identity", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"] });
    const { endpoint } = await ipam.allocate(req("c1"));
    const id = { containerID: "c1", ifname: "eth0" };
    const fields = {
      ip: endpoint.ip,
      network: "tern",
      netns: endpoint.netns,
      hostVeth: "tern0123456789a",
      podMac: "0a:58:0a:00:00:01",
    };
    const programmed = await ipam.markProgrammed(id, fields);
    assertEquals(programmed.state, "programmed");
    assertEquals(programmed.hostVeth, "tern0123456789a");
    assertEquals(await ipam.get(id), programmed);
    await assertRejects(
      () => ipam.markProgrammed(id, { ...fields, ip: "10.0.0.200" }),
      IpamConflictError,
      "Attachment does not own 10.0.0.200",
    );
    await assertRejects(
      () => ipam.markProgrammed({ containerID: "nope", ifname: "eth0" }, fields),
      IpamNotFoundError,
    );
  }));

Deno.test("stats() counts capacity, used and free per pool", () =>
  withKv(async (kv) => {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/30", "10.0.1.0/28"] });
    for (let i = 0; i < 3; i++) await ipam.allocate(req(`c${i}`));
    assertEquals(ipam.stats(), [
      { cidr: "10.0.0.0/30", capacity: 2, used: 2, free: 0 },
      { cidr: "10.0.1.0/28", capacity: 14, used: 1, free: 13 },
    ]);
  }));

Deno.test("outsidePools() lists live allocations outside the configured pod CIDRs", () =>
  withKv(async (kv) => {
    const before = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24", "10.0.9.0/24"] });
    const kept = await before.allocate(req("kept"));
    await before.allocate(req("gone1"));
    await before.allocate(req("gone1", "net1"));
    // Push one allocation into the second pool.
    for (let i = 0; i < 251; i++) await before.allocate(req(`fill${i}`));
    const moved = await before.allocate(req("moved"));
    assertEquals(moved.endpoint.podCIDR, "10.0.9.0/24");

    const after = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"] });
    const outside = await after.outsidePools();
    assertEquals(outside.map((e) => [e.ip, e.containerID, e.ifname]), [
      [moved.endpoint.ip, "moved", "eth0"],
    ]);
    assertNotEquals(kept.endpoint.ip, moved.endpoint.ip);
    assertEquals(await before.outsidePools(), []);
  }));

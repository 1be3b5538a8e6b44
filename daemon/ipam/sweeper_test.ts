import { assert, assertEquals } from "../../test/assert.ts";
import { hostVethName } from "../../src/names.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { recordingLogger } from "../../test/recording_logger.ts";
import { endpointFixture, FakeHostSide, withIpam } from "./_ipam_fixture.ts";
import { fileExists, planSweep, Sweeper } from "./sweeper.ts";

Deno.test("planSweep() releases an attachment only after netns and veth were gone for the grace period", () => {
  const gone = { endpoint: endpointFixture("a"), netns: false, veth: false };
  const first = planSweep([gone], { now: 1_000, gracePeriodMs: 120_000, goneSince: new Map() });
  assertEquals(first.release, []);
  assertEquals([...first.goneSince], [["a\0eth0", 1_000]]);
  const early = planSweep([gone], {
    now: 120_999,
    gracePeriodMs: 120_000,
    goneSince: first.goneSince,
  });
  assertEquals(early.release, []);
  const due = planSweep([gone], {
    now: 121_000,
    gracePeriodMs: 120_000,
    goneSince: early.goneSince,
  });
  assertEquals(due.release, [{ endpoint: gone.endpoint, reason: "netns and host veth gone" }]);
  assertEquals(due.goneSince.size, 0);
});

Deno.test("planSweep() forgets the gone timer of an attachment seen alive again", () => {
  const a = endpointFixture("a");
  const goneSince = new Map([["a\0eth0", 0]]);
  const plan = planSweep([{ endpoint: a, netns: true, veth: false }], {
    now: 500_000,
    gracePeriodMs: 1_000,
    goneSince,
  });
  assertEquals(plan.release, []);
  assertEquals(plan.goneSince.size, 0);
});

Deno.test("planSweep() keeps an attachment whose netns or veth alone is gone", () => {
  const plan = planSweep([
    { endpoint: endpointFixture("a"), netns: false, veth: true },
    { endpoint: endpointFixture("b"), netns: true, veth: false },
  ], { now: 10_000_000, gracePeriodMs: 0, goneSince: new Map() });
  assertEquals(plan.release, []);
});

Deno.test("planSweep() releases an endpoint stuck allocated with no veth once it is older than the grace period", () => {
  const stuck = endpointFixture("s", { state: "allocated", hostVeth: "", updatedAt: 1_000 });
  const young = planSweep([{ endpoint: stuck, netns: true, veth: false }], {
    now: 60_000,
    gracePeriodMs: 120_000,
    goneSince: new Map(),
  });
  assertEquals(young.release, []);
  const old = planSweep([{ endpoint: stuck, netns: true, veth: false }], {
    now: 121_000,
    gracePeriodMs: 120_000,
    goneSince: new Map(),
  });
  assertEquals(old.release.length, 1);
  assert(old.release[0]!.reason.startsWith("stuck allocated"));
  const withVeth = planSweep([{ endpoint: stuck, netns: true, veth: true }], {
    now: 121_000,
    gracePeriodMs: 120_000,
    goneSince: new Map(),
  });
  assertEquals(withVeth.release, []);
});

Deno.test("Sweeper.sweepOnce() releases gone attachments after the grace period and logs each", () =>
  withIpam(async (ipam, time) => {
    const base = { ifname: "eth0", network: "tern" };
    const alive = await ipam.allocate({ ...base, containerID: "alive", netns: "/ns/alive" });
    const dead = await ipam.allocate({ ...base, containerID: "dead", netns: "/ns/dead" });
    const aliveVeth = await hostVethName("alive", "eth0");
    await ipam.markProgrammed({ containerID: "alive", ifname: "eth0" }, {
      ...base,
      ip: alive.endpoint.ip,
      netns: "/ns/alive",
      hostVeth: aliveVeth,
      podMac: "0a:00:00:00:00:01",
    });
    const dataplane = new FakeHostSide();
    dataplane.veths.add(aliveVeth);
    const lines: string[] = [];
    const sweeper = new Sweeper(
      { ipam, dataplane, lock: new Mutex(), log: recordingLogger(lines) },
      {
        gracePeriodMs: 120_000,
        intervalMs: 60_000,
        now: () => time.now,
        netnsExists: (path) => Promise.resolve(path === "/ns/alive"),
      },
    );
    const first = await sweeper.sweepOnce();
    assertEquals(first.endpoints, 2);
    assertEquals(first.released, []);
    assertEquals(dataplane.removed, []);

    time.now += 120_000;
    const second = await sweeper.sweepOnce();
    assertEquals(second.released.map((r) => r.endpoint.containerID), ["dead"]);
    assertEquals(dataplane.removed, [dead.endpoint.ip]);
    assertEquals((await ipam.list()).map((e) => e.containerID), ["alive"]);
    const released = lines.filter((l) => l.startsWith("info Released address"));
    assertEquals(released.length, 1);
    assert(released[0]!.includes(`"ip":"${dead.endpoint.ip}"`));
    assert(released[0]!.includes('"containerID":"dead"'));
    assert(released[0]!.includes('"reason":"netns and host veth gone"'));
  }, 1_000_000));

Deno.test("Sweeper.start() sweeps every interval until stop()", () =>
  withIpam(async (ipam) => {
    const dataplane = new FakeHostSide();
    const sweeper = new Sweeper({ ipam, dataplane, lock: new Mutex() }, {
      gracePeriodMs: 0,
      intervalMs: 10,
    });
    sweeper.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sweeper.stop();
    const count = dataplane.listings;
    assert(count >= 3, `only ${count} sweeps ran`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(dataplane.listings, count);
  }));

Deno.test("fileExists() tells a missing file from a present one", async () => {
  assertEquals(await fileExists("/nonexistent/ternd-netns"), false);
  assertEquals(await fileExists(Deno.execPath()), true);
});

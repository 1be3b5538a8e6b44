import { assertEquals } from "../../test/assert.ts";
import { hostVethName } from "../../src/names.ts";
import { readQueuedReleases, writeQueuedRelease } from "../../src/release_queue.ts";
import { endpointFixture, FakeHostSide, withIpam } from "./_ipam_fixture.ts";
import { drainReleaseQueue, planDrain } from "./release_queue_drain.ts";

const entry = (containerID: string, queuedAt = 200, network = "tern") => ({
  path: `/q/${containerID}@eth0.json`,
  record: { containerID, ifname: "eth0", network, queuedAt },
});

Deno.test("planDrain() releases a queued attachment only while its veth is absent", () => {
  const decisions = planDrain([
    { entry: entry("gone"), endpoint: endpointFixture("gone"), veth: false },
    { entry: entry("back"), endpoint: endpointFixture("back"), veth: true },
  ]);
  assertEquals(decisions.map((d) => [d.entry.record?.containerID, d.action]), [
    ["gone", "release"],
    ["back", "drop"],
  ]);
});

Deno.test("planDrain() leaves alone a later ADD of the same identity, another network and damage", () => {
  const decisions = planDrain([
    { entry: entry("readded", 50), endpoint: endpointFixture("readded"), veth: false },
    { entry: entry("other", 200, "net2"), endpoint: endpointFixture("other"), veth: false },
    { entry: entry("released"), endpoint: undefined, veth: false },
    { entry: { path: "/q/bad.json", record: undefined }, endpoint: undefined, veth: false },
  ]);
  assertEquals(decisions.map((d) => d.action === "drop" ? d.why : d.action), [
    "the attachment was added again after the DEL",
    "the attachment is on network tern",
    "already released",
    "not a queued release",
  ]);
});

Deno.test("drainReleaseQueue() removes the host side, then frees the address, and empties the queue", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withIpam(async (ipam, time) => {
      const base = { ifname: "eth0", network: "tern" };
      const gone = await ipam.allocate({ ...base, containerID: "gone", netns: "/ns/gone" });
      const back = await ipam.allocate({ ...base, containerID: "back", netns: "/ns/back" });
      time.now = 2_000;
      await writeQueuedRelease(dir, { containerID: "gone", ...base, queuedAt: time.now });
      await writeQueuedRelease(dir, { containerID: "back", ...base, queuedAt: time.now });
      await writeQueuedRelease(dir, { containerID: "never", ...base, queuedAt: time.now });
      const dataplane = new FakeHostSide();
      dataplane.veths.add(await hostVethName("back", "eth0"));
      const events: string[] = [];
      dataplane.onRemove = (e) => {
        // The address must still be held when its host side goes.
        events.push(`remove ${e.containerID}, held ${ipam.usedCount}`);
        return Promise.resolve();
      };
      const result = await drainReleaseQueue(dir, { ipam, dataplane });
      assertEquals(result.released.map((e) => e.ip), [gone.endpoint.ip]);
      assertEquals([result.dropped, result.failed], [2, 0]);
      assertEquals(events, ["remove gone, held 2"]);
      assertEquals(await ipam.get({ containerID: "gone", ifname: "eth0" }), undefined);
      assertEquals((await ipam.get({ containerID: "back", ifname: "eth0" }))?.ip, back.endpoint.ip);
      assertEquals(await readQueuedReleases(dir), []);
    }, 1_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drainReleaseQueue() keeps the file of a release that failed, for the next sweep", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withIpam(async (ipam) => {
      await ipam.allocate({ containerID: "a", ifname: "eth0", network: "tern", netns: "/ns/a" });
      await writeQueuedRelease(dir, {
        containerID: "a",
        ifname: "eth0",
        network: "tern",
        queuedAt: 5,
      });
      const dataplane = new FakeHostSide();
      dataplane.onRemove = () =>
        Promise.reject(new Error("RTNETLINK answers: Operation not permitted"));
      const result = await drainReleaseQueue(dir, { ipam, dataplane });
      assertEquals([result.released.length, result.failed], [0, 1]);
      assertEquals((await readQueuedReleases(dir)).length, 1);
      assertEquals(ipam.usedCount, 1);
    }, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

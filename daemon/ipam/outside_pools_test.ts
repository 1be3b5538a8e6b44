import { assertEquals, assertRejects, assertStringIncludes } from "../../test/assert.ts";
import type { Endpoint } from "../../src/api.ts";
import type { HostDataplane } from "../routing/dataplane.ts";
import { Ipam } from "./ipam.ts";
import { checkOutsidePools, OutsidePoolsError } from "./outside_pools.ts";

class FakeDataplane implements HostDataplane {
  removed: string[] = [];
  programEndpoint(): Promise<void> {
    return Promise.resolve();
  }
  removeEndpoint(ep: Endpoint): Promise<void> {
    this.removed.push(ep.ip);
    return Promise.resolve();
  }
}

async function seeded(kv: Deno.Kv): Promise<void> {
  const old = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/30", "10.0.9.0/30"] });
  for (const c of ["a", "b", "c"]) {
    await old.allocate({ containerID: c, ifname: "eth0", network: "tern", netns: `/ns/${c}` });
  }
}

Deno.test("checkOutsidePools() refuses to start, naming each allocation and both ways out", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await seeded(kv);
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/30"] });
    const dataplane = new FakeDataplane();
    const err = await assertRejects(
      () =>
        checkOutsidePools(ipam, {
          dataplane,
          podCIDRs: ["10.0.0.0/30"],
          configFile: "/etc/tern/ternd.yaml",
        }),
      OutsidePoolsError,
    );
    assertStringIncludes(
      err.message,
      "Refusing to start: 1 live allocation is outside podCIDRs 10.0.0.0/30: 10.0.9.1 (containerID c, ifname eth0)",
    );
    assertStringIncludes(err.message, "restore the podCIDRs that held it in /etc/tern/ternd.yaml");
    assertStringIncludes(err.message, "--release-outside-pools");
    assertEquals(dataplane.removed, []);
    assertEquals((await ipam.list()).length, 3);
  } finally {
    kv.close();
  }
});

Deno.test("checkOutsidePools() with release tears down and frees only the outside allocations", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await seeded(kv);
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/30"] });
    const dataplane = new FakeDataplane();
    const released = await checkOutsidePools(ipam, {
      dataplane,
      podCIDRs: ["10.0.0.0/30"],
      configFile: "/x",
      release: true,
    });
    assertEquals(released.map((e) => e.ip), ["10.0.9.1"]);
    assertEquals(dataplane.removed, ["10.0.9.1"]);
    assertEquals((await ipam.list()).map((e) => e.containerID), ["a", "b"]);
    assertEquals(await ipam.outsidePools(), []);
  } finally {
    kv.close();
  }
});

/**
 * `POST /v1/endpoints/attach`: the daemon makes the veth pair while it claims the address, and a
 * failure of either leaves nothing of the request behind (the claim released, the pair deleted);
 * an interface that already exists is 409 `exists` and the attachment that has it is untouched.
 */
import { assertEquals, assertStringIncludes } from "../../test/assert.ts";
import type { AddResponse, Endpoint } from "../../src/api.ts";
import { NetnsUnseenError, type VethPair } from "../../src/host_netlink.ts";
import { hostVethName } from "../../src/names.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { EEXIST, NetlinkError } from "../../src/rtnetlink.ts";
import type { HostDataplane } from "../routing/dataplane.ts";
import { Ipam } from "../ipam/ipam.ts";
import { createHandler, type Handler, type HandlerDeps } from "./handler.ts";

/** Records what the handler asks of the host side and of the kernel, in one ordered list. */
class FakeHost implements HostDataplane {
  events: string[] = [];
  failProgram = false;
  /** Answers addVeth: undefined makes the pair; an error fails (a function: thrown at once). */
  addVethResult: Error | (() => never) | undefined;
  /** Names of links the node has (for the EEXIST message). */
  links = new Set<string>();

  programEndpoint(ep: Endpoint): Promise<void> {
    this.events.push(`program ${ep.ip}`);
    return this.failProgram ? Promise.reject(new Error("Cannot program")) : Promise.resolve();
  }
  removeEndpoint(ep: Endpoint, options: { keepVeth?: boolean } = {}): Promise<void> {
    this.events.push(`remove ${ep.ip}${options.keepVeth ? " keeping the veth" : ""}`);
    return Promise.resolve();
  }
  veths: NonNullable<HandlerDeps["veths"]> = {
    addVeth: (pair: VethPair, netns: string) => {
      const result = this.addVethResult;
      if (typeof result === "function") result();
      this.events.push(`addVeth ${pair.hostVeth}/${pair.ifname} mtu ${pair.mtu} in ${netns}`);
      if (result instanceof Error) return Promise.reject(result);
      this.links.add(pair.hostVeth);
      return Promise.resolve();
    },
    deleteLink: (veth: string) => {
      this.events.push(`deleteLink ${veth}`);
      return Promise.resolve(this.links.delete(veth));
    },
    linkMac: (name: string) => this.links.has(name) ? "0e:00:00:00:00:01" : undefined,
  };
}

async function withHandler(
  fn: (f: { handler: Handler; ipam: Ipam; host: FakeHost }) => Promise<void>,
  options: { podCIDRs?: string[]; veths?: boolean } = {},
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const ipam = await Ipam.open(kv, { podCIDRs: options.podCIDRs ?? ["10.244.1.0/24"] });
    const host = new FakeHost();
    const handler = createHandler({
      ipam,
      dataplane: host,
      lock: new Mutex(),
      node: "node-1",
      startedAt: 1_000,
      ...(options.veths === false ? {} : { veths: host.veths }),
    });
    await fn({ handler, ipam, host });
  } finally {
    kv.close();
  }
}

async function attachBody(containerID: string) {
  return {
    containerID,
    ifname: "eth0",
    network: "tern",
    netns: `/var/run/netns/${containerID}`,
    hostVeth: await hostVethName(containerID, "eth0"),
    podMac: "0a:58:0a:f4:01:07",
    mtu: 1450,
  };
}

function attach(body: unknown): Request {
  return new Request("http://ternd/v1/endpoints/attach", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
}

Deno.test("attach makes the veth pair, claims the address committed as programmed, and programs it", async () => {
  await withHandler(async ({ handler, ipam, host }) => {
    const body = await attachBody("c1");
    const res = await handler(attach(body));
    assertEquals(res.status, 200);
    const out: AddResponse = await res.json();
    assertEquals([out.ip, out.created, out.state, out.hostVeth], [
      "10.244.1.1",
      true,
      "programmed",
      body.hostVeth,
    ]);
    assertEquals(host.events, [
      `addVeth ${body.hostVeth}/eth0 mtu 1450 in /var/run/netns/c1`,
      "program 10.244.1.1",
    ]);
    assertEquals((await ipam.get(body))?.state, "programmed");
  });
});

Deno.test("attach releases the claim when the veth pair cannot be made", async () => {
  await withHandler(async ({ handler, ipam, host }) => {
    host.addVethResult = new NetlinkError("Cannot create veth pair", 1, "Operation not permitted");
    const body = await attachBody("c1");
    const res = await handler(attach(body));
    assertEquals(res.status, 500);
    assertStringIncludes((await res.json()).error, "Cannot create veth pair");
    assertEquals(await ipam.get(body), undefined, "the claim is released");
    assertEquals(ipam.usedCount, 0);
    assertEquals(host.events.includes(`deleteLink ${body.hostVeth}`), false, "no pair to delete");
    // A retry starts clean.
    host.addVethResult = undefined;
    assertEquals((await handler(attach(body))).status, 200);
    assertEquals(ipam.usedCount, 1);
  });
});

Deno.test("attach deletes the veth pair it made when the claim fails", async () => {
  await withHandler(async ({ handler, host }) => {
    const first = await attachBody("c1");
    assertEquals((await handler(attach(first))).status, 200);
    const second = await attachBody("c2");
    const res = await handler(attach(second));
    assertEquals([res.status, (await res.json()).reason], [503, "exhausted"]);
    assertEquals(host.events.slice(-2), [
      `addVeth ${second.hostVeth}/eth0 mtu 1450 in /var/run/netns/c2`,
      `deleteLink ${second.hostVeth}`,
    ]);
    assertEquals(host.links.has(second.hostVeth), false);
  }, { podCIDRs: ["10.244.1.0/32"] });
});

Deno.test("attach undoes the host side, releases the claim and deletes the veth pair when programming fails", async () => {
  await withHandler(async ({ handler, ipam, host }) => {
    host.failProgram = true;
    const body = await attachBody("c1");
    assertEquals((await handler(attach(body))).status, 500);
    assertEquals(await ipam.get(body), undefined);
    assertEquals(host.events.slice(1), [
      "program 10.244.1.1",
      "remove 10.244.1.1 keeping the veth",
      `deleteLink ${body.hostVeth}`,
    ]);
  });
});

Deno.test("attach on a taken interface is 409 exists and leaves the attachment that has it alone", async () => {
  await withHandler(async ({ handler, ipam, host }) => {
    const body = await attachBody("c1");
    assertEquals((await handler(attach(body))).status, 200);
    const before = await ipam.get(body);
    host.events = [];
    host.addVethResult = new NetlinkError("Cannot create veth pair", EEXIST);
    const res = await handler(attach({ ...body, podMac: "0a:58:0a:f4:01:99" }));
    const error = await res.json();
    assertEquals([res.status, error.reason], [409, "exists"]);
    assertEquals(
      error.error,
      `Attachment already exists: host veth ${body.hostVeth} for CNI_CONTAINERID and CNI_IFNAME eth0 is present`,
    );
    assertEquals(await ipam.get(body), before, "the record (and its pod MAC) unchanged");
    assertEquals(host.events, [`addVeth ${body.hostVeth}/eth0 mtu 1450 in /var/run/netns/c1`]);
    assertEquals(host.links.has(body.hostVeth), true);
  });
});

Deno.test("attach names the pod's interface when only it is taken, and frees the new claim", async () => {
  await withHandler(async ({ handler, ipam, host }) => {
    host.addVethResult = new NetlinkError("Cannot create veth pair", EEXIST);
    const body = await attachBody("c1");
    const res = await handler(attach(body));
    assertEquals(
      (await res.json()).error,
      "Interface already exists: CNI_IFNAME eth0 is present in /var/run/netns/c1",
    );
    assertEquals(ipam.usedCount, 0);
  });
});

Deno.test("attach is 422 unsupported without rtnetlink, or for a namespace the daemon cannot see, before any claim", async () => {
  await withHandler(async ({ handler, ipam }) => {
    const res = await handler(attach(await attachBody("c1")));
    assertEquals([res.status, (await res.json()).reason], [422, "unsupported"]);
    assertEquals(ipam.usedCount, 0);
  }, { veths: false });
  await withHandler(async ({ handler, ipam, host }) => {
    host.addVethResult = () => {
      throw new NetnsUnseenError("/proc/7/ns/net", "no such file");
    };
    const res = await handler(attach(await attachBody("c1")));
    const error = await res.json();
    assertEquals([res.status, error.reason], [422, "unsupported"]);
    assertStringIncludes(error.error, "/proc/7/ns/net");
    assertEquals(ipam.usedCount, 0);
  });
});

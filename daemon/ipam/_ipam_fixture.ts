/**
 * Test support for the parts that release addresses (the sweeper, the drain of the DEL queue):
 * an attachment record to plan with, an in-memory IPAM on `10.0.0.0/24` with a clock the test
 * moves, and a host side whose veths the test sets and whose removals it reads. Tests only.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import type { Dataplane } from "../routing/dataplane.ts";
import { Ipam } from "./ipam.ts";

/**
 * A programmed attachment `containerID`/`eth0` on network `tern`, created and last changed at
 * 100 ms; `overrides` replace any field.
 */
export function endpointFixture(containerID: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    containerID,
    ifname: "eth0",
    network: "tern",
    netns: `/var/run/netns/${containerID}`,
    ip: "10.0.0.1",
    podCIDR: "10.0.0.0/24",
    hostVeth: "tern00000000001",
    podMac: "0a:00:00:00:00:01",
    state: "programmed",
    createdAt: 100,
    updatedAt: 100,
    ...overrides,
  };
}

/** Runs `fn` with an in-memory KV and closes it however `fn` ends. */
export async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

/** The time an {@linkcode withIpam} IPAM reads, in ms; tests move it by assigning `now`. */
export interface TestTime {
  now: number;
}

/**
 * Runs `fn` with an IPAM on `10.0.0.0/24` in an in-memory KV whose clock is `time.now`
 * (starting at `start`, default 0), and closes the KV however `fn` ends.
 */
export async function withIpam(
  fn: (ipam: Ipam, time: TestTime) => Promise<void>,
  start = 0,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const time: TestTime = { now: start };
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"], now: () => time.now });
    await fn(ipam, time);
  } finally {
    kv.close();
  }
}

/**
 * The host side of the dataplane as releasing sees it: `veths` are the host veths that exist,
 * `removed` the addresses of the attachments removed, in order; `onRemove` runs at each removal
 * (to look at the state then, or to fail it).
 */
export class FakeHostSide implements Pick<Dataplane, "hostVeths" | "removeEndpoint"> {
  /** The host veths present. */
  veths = new Set<string>();
  /** The addresses of the attachments removed, in order. */
  removed: string[] = [];
  /** How many times the veths were listed (a sweep lists them once). */
  listings = 0;
  /** Runs at each removal, before it is recorded; a rejection fails the removal. */
  onRemove: (endpoint: Endpoint) => Promise<void> = () => Promise.resolve();

  /** A copy of {@linkcode FakeHostSide.veths}. */
  hostVeths(): Promise<Set<string>> {
    this.listings++;
    return Promise.resolve(new Set(this.veths));
  }

  /** Runs {@linkcode FakeHostSide.onRemove}, then records the address. */
  async removeEndpoint(endpoint: Endpoint): Promise<void> {
    await this.onRemove(endpoint);
    this.removed.push(endpoint.ip);
  }
}

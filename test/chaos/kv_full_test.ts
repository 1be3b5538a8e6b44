/**
 * Scenario 8 of the chaos battery, injected (no root): the real plugin path (`runSkel` with the
 * real daemon client) against the real API handler and Ipam over a Unix socket, on a KV whose
 * commits fail as on a full disk, at every commit of ADD (the claim, programmed; the rollback's
 * release after a pod side that failed) and from every commit on. ADD must fail closed with code 11 and leave nothing half
 * made: no veth, no host route, no KV record, except the record a failed rollback could not
 * delete, which DEL clears once the disk has room again. DEL and GC on a full disk fail with
 * code 11 (the runtime retries) and succeed once it has room.
 * @module
 */
import { assertEquals } from "../assert.ts";
import type { Endpoint } from "../../src/api.ts";
import { DaemonClient } from "../../src/daemon_client.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { silentLogger } from "../../src/log.ts";
import { createHandler } from "../../daemon/api/handler.ts";
import { Ipam } from "../../daemon/ipam/ipam.ts";
import { endpointVeth, type HostDataplane } from "../../daemon/routing/dataplane.ts";
import { fakePodLinks, fakeRunner } from "../../plugin/_testing.ts";
import { runSkel } from "../../plugin/skel.ts";
import { failingKv } from "./failing_kv.ts";

/**
 * The host side as the kernel would hold it: programmed addresses, and the node's veths (which a
 * release deletes, as the real dataplane does, unless an ADD's undo keeps its plugin's veth).
 */
class TrackingDataplane implements HostDataplane {
  routes = new Set<string>();
  constructor(readonly veths: Set<string>) {}
  programEndpoint(ep: Endpoint): Promise<void> {
    this.routes.add(ep.ip);
    return Promise.resolve();
  }
  async removeEndpoint(ep: Endpoint, options: { keepVeth?: boolean } = {}): Promise<void> {
    this.routes.delete(ep.ip);
    if (!options.keepVeth) this.veths.delete(await endpointVeth(ep));
  }
}

interface Node {
  kv: Deno.Kv;
  dataplane: TrackingDataplane;
  veths: Set<string>;
  /** Runs the plugin for `command` on attachment `id`; exit code and the CNI code. */
  cni(
    command: string,
    id: string,
    extra?: Record<string, unknown>,
  ): Promise<{ exit: number; code?: number }>;
  /** Whether commits fail now. */
  setFull(full: (n: number) => boolean): void;
  /** Whether the pod side fails (after the daemon's answer). */
  setPodSideFails(fails: boolean): void;
  kvRecords(): Promise<number>;
}

async function withNode(fn: (node: Node) => Promise<void>): Promise<void> {
  const raw = await Deno.openKv(":memory:");
  let full: (n: number) => boolean = () => false;
  const { kv } = failingKv(raw, (n) => full(n));
  const dir = await Deno.makeTempDir({ prefix: "tern-kvfull-" });
  const socket = `${dir}/ternd.sock`;
  const veths = new Set<string>();
  const dataplane = new TrackingDataplane(veths);
  const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"], releaseCooldownMs: 0 });
  const handler = createHandler({ ipam, dataplane, lock: new Mutex(), node: "n1", startedAt: 0 });
  const server = Deno.serve({ path: socket, onListen() {} }, handler);
  const runner = fakeRunner();
  let podSideFails = false;
  const links = fakePodLinks((call) => {
    const [op, arg] = call;
    if (op === "configurePod" && podSideFails) return new Error("Cannot configure eth0: EPERM");
    if (op === "addVeth" && typeof arg !== "string") veths.add(arg.hostVeth);
    if (op === "deleteHostVeth" && typeof arg === "string") return veths.delete(arg);
    return undefined;
  });
  const node: Node = {
    kv,
    dataplane,
    veths,
    async cni(command, id, extra = {}) {
      let stdout = "";
      const exit = await runSkel({
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: id,
          CNI_IFNAME: "eth0",
          CNI_NETNS: "/var/run/netns/x",
        },
        readStdin: () =>
          Promise.resolve(JSON.stringify({
            cniVersion: "1.1.0",
            name: "tern",
            type: "tern",
            daemonSocket: socket,
            ...extra,
          })),
        writeStdout: (t) => void (stdout += t),
        runner,
        podLinks: links,
        daemon: (path) => new DaemonClient(path, { timeoutMs: 5000 }),
        netnsExists: () => true,
        logger: () => silentLogger,
      });
      return exit === 0 ? { exit } : { exit, code: JSON.parse(stdout).code };
    },
    setFull(f) {
      full = f;
    },
    setPodSideFails(fails) {
      podSideFails = fails;
    },
    async kvRecords() {
      let n = 0;
      for await (const _ of raw.list({ prefix: [] })) n++;
      return n;
    },
  };
  try {
    await fn(node);
  } finally {
    await server.shutdown();
    raw.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** What is left of the attachment: KV records, veths, host routes. */
async function leftovers(node: Node) {
  return {
    kv: await node.kvRecords(),
    veths: node.veths.size,
    routes: node.dataplane.routes.size,
  };
}

// ADD makes one commit: the claim, its record already programmed (1); and, when its pod side fails
// after that, the rollback's release (2).
for (const mode of ["once", "from then on"] as const) {
  Deno.test(`a KV commit failing at ADD's claim (${mode}): code 11, nothing half-made`, () =>
    withNode(async (node) => {
      node.setFull((n) => mode === "once" ? n === 1 : n >= 1);
      assertEquals(await node.cni("ADD", "c1"), { exit: 1, code: 11 });
      assertEquals(await leftovers(node), { kv: 0, veths: 0, routes: 0 }, "the host side undone");
      node.setFull(() => false);
      assertEquals(await node.cni("DEL", "c1"), { exit: 0 });
      // The address is usable again.
      assertEquals((await node.cni("ADD", "c2")).exit, 0);
    }));

  Deno.test(`a KV commit failing at the release of an ADD whose pod side failed (${mode}): code 5, the record stays until DEL has room`, () =>
    withNode(async (node) => {
      node.setPodSideFails(true);
      node.setFull((n) => mode === "once" ? n === 2 : n >= 2);
      assertEquals(await node.cni("ADD", "c1"), { exit: 1, code: 5 });
      const left = await leftovers(node);
      assertEquals([left.veths, left.kv], [0, 2], "no veth; owner and ip records stay");
      if (mode === "from then on") {
        assertEquals(await node.cni("DEL", "c1"), { exit: 1, code: 11 });
      }
      node.setFull(() => false);
      node.setPodSideFails(false);
      assertEquals(await node.cni("DEL", "c1"), { exit: 0 });
      assertEquals(await leftovers(node), { kv: 1, veths: 0, routes: 0 }, "the released marker");
      assertEquals((await node.cni("ADD", "c2")).exit, 0);
    }));
}

Deno.test("a KV commit failing only at the rollback's release leaves a successful ADD alone", () =>
  withNode(async (node) => {
    node.setFull((n) => n === 2);
    assertEquals(await node.cni("ADD", "c1"), { exit: 0 });
    node.setFull(() => false);
    assertEquals(await node.cni("DEL", "c1"), { exit: 0 });
    assertEquals(await leftovers(node), { kv: 1, veths: 0, routes: 0 });
  }));

Deno.test("GC on a full disk fails with code 11 and releases once there is room", () =>
  withNode(async (node) => {
    assertEquals((await node.cni("ADD", "c1")).exit, 0);
    node.setFull(() => true);
    const gc = { "cni.dev/valid-attachments": [] };
    assertEquals(await node.cni("GC", "x", gc), { exit: 1, code: 11 });
    // The GC that failed to commit has still taken the host side down (fail closed).
    assertEquals(node.dataplane.routes.size, 0);
    node.setFull(() => false);
    assertEquals(await node.cni("GC", "x", gc), { exit: 0 });
    assertEquals((await leftovers(node)).kv, 1);
  }));

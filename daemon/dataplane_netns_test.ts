/**
 * Kernel tests of the host dataplane with the real `ip`, each in a throwaway network namespace
 * (`ternh-dp…`) that is always deleted. Nothing runs in the root namespace. Needs root.
 */
import { assert, assertEquals } from "../test/assert.ts";
import type { Endpoint } from "../src/api.ts";
import { Ip } from "../src/ip.ts";
import { hostVethName } from "../src/names.ts";
import { denoRunner, type Runner } from "../src/runner.ts";
import { Dataplane } from "./dataplane.ts";

async function must(argv: string[]): Promise<string> {
  const result = await denoRunner(argv);
  if (result.code !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

async function withNetns(fn: (ns: string, run: Runner) => Promise<void>): Promise<void> {
  const ns = `ternh-dp${crypto.randomUUID().slice(0, 8)}`;
  await must(["ip", "netns", "add", ns]);
  try {
    await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    const run: Runner = (argv, options) =>
      denoRunner(["ip", "netns", "exec", ns, ...argv], options);
    await fn(ns, run);
  } finally {
    await must(["ip", "netns", "del", ns]);
  }
}

async function routes(ns: string, proto?: number): Promise<string[]> {
  const args = ["ip", "-n", ns, "-json", "route", "show"];
  if (proto !== undefined) args.push("proto", String(proto));
  const list = JSON.parse((await must(args)).trim() || "[]") as { dst: string; dev?: string }[];
  return list.map((r) => `${r.dst} ${r.dev ?? ""}`.trim()).sort();
}

async function endpoint(containerID: string, ip: string): Promise<Endpoint> {
  return {
    containerID,
    ifname: "eth0",
    network: "tern",
    netns: "/nonexistent",
    ip,
    podCIDR: "10.244.1.0/24",
    hostVeth: await hostVethName(containerID, "eth0"),
    podMac: "0a:58:00:00:00:01",
    state: "programmed",
    createdAt: 0,
    updatedAt: 0,
  };
}

async function addVeth(ns: string, name: string): Promise<void> {
  await must([
    "ip",
    "-n",
    ns,
    "link",
    "add",
    name,
    "type",
    "veth",
    "peer",
    "name",
    `p${name.slice(5)}`,
  ]);
  await must(["ip", "-n", ns, "link", "set", name, "up"]);
}

Deno.test("Dataplane programs, syncs and removes host routes in a real namespace, touching only its own", () =>
  withNetns(async (ns, run) => {
    const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116 });
    const a = await endpoint("a", "10.244.1.2");
    const b = await endpoint("b", "10.244.1.3");
    await addVeth(ns, a.hostVeth);
    await addVeth(ns, b.hostVeth);
    await dataplane.programEndpoint(a);
    await dataplane.programEndpoint(b);
    assertEquals(await routes(ns, 116), [`10.244.1.2 ${a.hostVeth}`, `10.244.1.3 ${b.hostVeth}`]);

    // Foreign routes: a /32 without tern's protocol, and a tern route via a gateway.
    await must(["ip", "-n", ns, "route", "add", "10.244.1.50/32", "dev", a.hostVeth]);
    await must([
      "ip",
      "-n",
      ns,
      "route",
      "add",
      "10.244.7.0/24",
      "via",
      "10.244.1.3",
      "dev",
      b.hostVeth,
      "onlink",
      "proto",
      "116",
    ]);
    // Drift: one route deleted, one stale tern /32 that no endpoint holds.
    await must(["ip", "-n", ns, "route", "del", "10.244.1.3/32"]);
    await must([
      "ip",
      "-n",
      ns,
      "route",
      "add",
      "10.244.1.99/32",
      "dev",
      a.hostVeth,
      "scope",
      "link",
      "proto",
      "116",
    ]);

    assertEquals(await dataplane.hostVeths(), new Set([a.hostVeth, b.hostVeth]));
    const result = await dataplane.syncRoutes([a, b]);
    assertEquals(result.install, [{ ip: b.ip, dev: b.hostVeth }]);
    assertEquals(result.remove, [{ ip: "10.244.1.99", dev: a.hostVeth }]);
    assertEquals(result.failed, []);
    assertEquals(await routes(ns, 116), [
      `10.244.1.2 ${a.hostVeth}`,
      `10.244.1.3 ${b.hostVeth}`,
      `10.244.7.0/24 ${b.hostVeth}`,
    ]);
    assert((await routes(ns)).includes(`10.244.1.50 ${a.hostVeth}`), "foreign route left alone");

    await dataplane.removeEndpoint(a);
    await dataplane.removeEndpoint(a); // already gone is success
    assertEquals(await dataplane.hostVeths(), new Set([b.hostVeth]));
    assertEquals(await routes(ns, 116), [
      `10.244.1.3 ${b.hostVeth}`,
      `10.244.7.0/24 ${b.hostVeth}`,
    ]);
  }));

Deno.test("Dataplane.removeEndpoint() keeps a route of another protocol to the same address", () =>
  withNetns(async (ns, run) => {
    const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116 });
    const a = await endpoint("a", "10.244.1.2");
    await addVeth(ns, "ternother000000");
    await must(["ip", "-n", ns, "route", "add", "10.244.1.2/32", "dev", "ternother000000"]);
    await dataplane.removeEndpoint(a);
    assertEquals(await routes(ns), ["10.244.1.2 ternother000000"]);
  }));

/**
 * Kernel tests of the host dataplane with the real `ip`, each in a throwaway network namespace
 * (`ternt<pid>x…-dp`, which `scripts/cleanup.sh` finds after a crash) that is always deleted.
 * Nothing runs in the root namespace. Needs root.
 */
import { assert, assertEquals } from "../../test/assert.ts";
import type { Endpoint } from "../../src/api.ts";
import { Ip } from "../../src/ip.ts";
import { hostVethName } from "../../src/names.ts";
import { denoRunner, type Runner } from "../../src/runner.ts";
import { Dataplane } from "./dataplane.ts";
import { endpointRules } from "../../src/routing/desired_state.ts";
import type { RoutingConfig } from "../../src/routing/routing_config.ts";

const routing: RoutingConfig = {
  mode: "routes",
  addressTypes: ["InternalIP"],
  clusterCIDRs: [],
  egressTables: [{ name: "egress-a", table: 100, via: "10.97.0.1", dev: "eg0" }],
  egressBinding: { label: "egress" },
};

async function must(argv: string[]): Promise<string> {
  const result = await denoRunner(argv);
  if (result.code !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

async function withNetns(fn: (ns: string, run: Runner) => Promise<void>): Promise<void> {
  const ns = `ternt${Deno.pid}x${crypto.randomUUID().slice(0, 6)}-dp`;
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

async function rules(ns: string): Promise<string[]> {
  const list = JSON.parse(await must(["ip", "-n", ns, "-json", "-N", "rule", "show"])) as {
    priority: number;
    src: string;
    dst?: string;
    dstlen?: number;
    table: string;
    protocol?: string;
  }[];
  return list.filter((r) => r.priority > 0 && r.priority < 32766).map((r) =>
    `${r.priority} from ${r.src} to ${r.dst ?? "all"}${
      r.dstlen ? `/${r.dstlen}` : ""
    } lookup ${r.table} proto ${r.protocol ?? "-"}`
  );
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

Deno.test("Dataplane programs the host route and rules in a real namespace, again harmlessly, and removes only its own", () =>
  withNetns(async (ns, run) => {
    // The daemon's own rules: pod b is bound to egress table 100, pod a to none.
    const dataplane = new Dataplane(new Ip(run), {
      routeProtocol: 116,
      rulesFor: (ep) =>
        endpointRules(ep, {
          routing,
          podCIDRs: ["10.244.1.0/24"],
          pod: (_, name) => ({
            labels: name === "b" ? { egress: "egress-a" } : {},
            annotations: {},
          }),
        }),
    });
    const a = { ...await endpoint("a", "10.244.1.2"), podNamespace: "ns", podName: "a" };
    const b = { ...await endpoint("b", "10.244.1.3"), podNamespace: "ns", podName: "b" };
    await addVeth(ns, a.hostVeth);
    await addVeth(ns, b.hostVeth);
    await dataplane.programEndpoint(a);
    assertEquals(await rules(ns), [], "an unbound pod's ADD adds no rule");
    // The egress table's route and its link, as the reconciler would have them.
    await addVeth(ns, "eg0");
    await must(["ip", "-n", ns, "addr", "add", "10.97.0.2/24", "dev", "eg0"]);
    await must(["ip", "-n", ns, "route", "add", "default", "via", "10.97.0.1", "table", "100"]);
    await must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await dataplane.programEndpoint(b);
    await dataplane.programEndpoint(b); // a repeated ADD: the rules exist already, which is fine
    assertEquals(await routes(ns, 116), [`10.244.1.2 ${a.hostVeth}`, `10.244.1.3 ${b.hostVeth}`]);
    assertEquals(await rules(ns), [
      "512 from all to 10.244.1.0/24 lookup 254 proto 116",
      "1536 from 10.244.1.3 to all lookup 100 proto 116",
    ]);
    assertEquals(dataplane.endpoints.list().map((e) => e.ip), [a.ip, b.ip]);
    // With nothing but what ADD installed, the bound pod reaches the local pod on the main
    // table and everything else through its egress gateway.
    const from = (to: string) =>
      must(["ip", "-n", ns, "-4", "route", "get", to, "from", b.ip, "iif", b.hostVeth]);
    assert((await from(a.ip)).includes(`dev ${a.hostVeth}`), await from(a.ip));
    assert((await from("198.51.100.7")).includes("via 10.97.0.1 dev eg0 table 100"));

    // Foreign entries for the same address: no protocol, or another.
    await must(["ip", "-n", ns, "route", "add", "10.244.1.3/32", "dev", a.hostVeth, "table", "7"]);
    await must([
      "ip",
      "-n",
      ns,
      "rule",
      "add",
      "from",
      "10.244.1.3",
      "lookup",
      "7",
      "priority",
      "1536",
    ]);

    await dataplane.removeEndpoint(b);
    await dataplane.removeEndpoint(b); // already gone is success
    assertEquals(await dataplane.hostVeths(), new Set([a.hostVeth]));
    assertEquals(await routes(ns, 116), [`10.244.1.2 ${a.hostVeth}`]);
    // The pod CIDR's rule is the node's: the reconciler takes it away with the last binding.
    assertEquals(await rules(ns), [
      "512 from all to 10.244.1.0/24 lookup 254 proto 116",
      "1536 from 10.244.1.3 to all lookup 7 proto -",
    ]);
    const table7 = await must(["ip", "-n", ns, "route", "show", "table", "7"]);
    assert(table7.includes("10.244.1.3"), "foreign route left alone");
    assertEquals(dataplane.endpoints.list().map((e) => e.ip), [a.ip]);
  }));

Deno.test("Dataplane.programEndpoint() fails naming ip's message when the veth is missing, leaving nothing", () =>
  withNetns(async (ns, run) => {
    const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116 });
    const a = await endpoint("a", "10.244.1.2");
    let message = "";
    try {
      await dataplane.programEndpoint(a);
    } catch (err) {
      message = (err as Error).message;
    }
    assert(message.includes(`Cannot find device "${a.hostVeth}"`), message);
    assertEquals(dataplane.endpoints.size, 0);
    assertEquals(await rules(ns), []);
    assertEquals(await routes(ns, 116), []);
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

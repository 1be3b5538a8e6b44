import { assertEquals } from "../test/assert.ts";
import type { Endpoint } from "./api.ts";
import { LocalEndpoints } from "./local_endpoints.ts";

function ep(containerID: string, ip: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    containerID,
    ifname: "eth0",
    network: "tern",
    netns: "/ns",
    ip,
    podCIDR: "10.0.0.0/24",
    hostVeth: `tern${containerID}`,
    podMac: "",
    state: "programmed",
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

Deno.test("LocalEndpoints.load() keeps programmed endpoints only and tells listeners once", () => {
  const registry = new LocalEndpoints();
  let told = 0;
  registry.subscribe(() => told++);
  registry.load([
    ep("a", "10.0.0.2", { podNamespace: "ns", podName: "web" }),
    ep("b", "10.0.0.3", { state: "allocated", hostVeth: "" }),
  ]);
  assertEquals(registry.list(), [{
    containerID: "a",
    ifname: "eth0",
    ip: "10.0.0.2",
    hostVeth: "terna",
    netns: "/ns",
    podNamespace: "ns",
    podName: "web",
  }]);
  assertEquals([told, registry.version], [1, 1]);
});

Deno.test("LocalEndpoints tells listeners of real changes only", () => {
  const registry = new LocalEndpoints();
  let told = 0;
  const unsubscribe = registry.subscribe(() => told++);
  const a = { containerID: "a", ifname: "eth0", ip: "10.0.0.2", hostVeth: "terna" };
  assertEquals(registry.upsert(a), undefined);
  assertEquals(registry.upsert({ ...a }), a, "the same again");
  registry.upsert({ ...a, hostVeth: "ternb" });
  assertEquals(registry.get(a)?.hostVeth, "ternb");
  assertEquals(registry.remove({ containerID: "x", ifname: "eth0" }), undefined);
  assertEquals(registry.remove(a)?.hostVeth, "ternb");
  assertEquals([told, registry.size], [3, 0]);
  unsubscribe();
  registry.upsert(a);
  assertEquals(told, 3);
});

Deno.test("LocalEndpoints tells listeners each endpoint before and after, and nothing for a load", () => {
  const registry = new LocalEndpoints();
  const told: unknown[] = [];
  registry.subscribe((change) => told.push(change));
  const a = { containerID: "a", ifname: "eth0", ip: "10.0.0.2", hostVeth: "terna" };
  registry.upsert(a);
  registry.upsert({ ...a, hostVeth: "ternb" });
  registry.remove(a);
  registry.load([ep("b", "10.0.0.3")]);
  assertEquals(told, [
    { after: a },
    { before: a, after: { ...a, hostVeth: "ternb" } },
    { before: { ...a, hostVeth: "ternb" } },
    undefined,
  ]);
});

Deno.test("LocalEndpoints.changedAt() stamps registration and real changes; loaded ones are old", () => {
  let now = 1_000;
  const endpoints = new LocalEndpoints({ now: () => now });
  const ep = { containerID: "a", ifname: "eth0", ip: "10.244.1.5", hostVeth: "tern0123456789a" };
  endpoints.upsert(ep);
  assertEquals(endpoints.changedAt(ep), 1_000);
  now = 2_000;
  endpoints.upsert(ep); // the same: not a change
  assertEquals(endpoints.changedAt(ep), 1_000);
  endpoints.upsert({ ...ep, netns: "/ns/a" });
  assertEquals(endpoints.changedAt(ep), 2_000);
  endpoints.remove(ep);
  assertEquals(endpoints.changedAt(ep), undefined);
  endpoints.load([{
    ...ep,
    network: "tern",
    netns: "/ns/a",
    podCIDR: "10.244.1.0/24",
    podMac: "",
    state: "programmed",
    createdAt: 0,
    updatedAt: 0,
  }]);
  assertEquals(endpoints.changedAt(ep), 0);
});

Deno.test("LocalEndpoints.hasPod() sees a pod become local and stop being local", () => {
  const registry = new LocalEndpoints();
  const web = {
    containerID: "a",
    ifname: "eth0",
    ip: "10.0.0.2",
    hostVeth: "terna",
    podNamespace: "ns",
    podName: "web",
  };
  assertEquals(registry.hasPod("ns", "web"), false);
  registry.upsert(web);
  assertEquals(registry.hasPod("ns", "web"), true);
  assertEquals([registry.hasPod("other", "web"), registry.hasPod("ns", "db")], [false, false]);
  // A second attachment of the same pod: the pod stays local until both are gone.
  const net1 = { ...web, ifname: "net1", ip: "10.0.0.3", hostVeth: "ternb" };
  registry.upsert(net1);
  registry.remove(web);
  assertEquals(registry.hasPod("ns", "web"), true, "net1 is still there");
  registry.remove(net1);
  assertEquals(registry.hasPod("ns", "web"), false);
  // An endpoint updated to name another pod counts for that pod only.
  registry.upsert(web);
  registry.upsert({ ...web, podName: "db" });
  assertEquals([registry.hasPod("ns", "web"), registry.hasPod("ns", "db")], [false, true]);
  registry.upsert({ ...web, podName: "db", ip: "10.0.0.9" });
  registry.remove(web);
  assertEquals(registry.hasPod("ns", "db"), false, "an update does not count the pod twice");
  // Endpoints without pod metadata, and loaded ones.
  registry.upsert({ containerID: "c", ifname: "eth0", ip: "10.0.0.4", hostVeth: "ternc" });
  registry.load([ep("d", "10.0.0.5", { podNamespace: "kube-system", podName: "dns" })]);
  assertEquals(registry.hasPod("kube-system", "dns"), true);
  assertEquals(registry.size, 2);
});

import { assertEquals } from "../../test/assert.ts";
import { testPod } from "../../test/cluster_fixtures.ts";
import { formatIp, parseIp } from "../cidr.ts";
import { ClusterState } from "../cluster/state.ts";
import type { Pod } from "../cluster/types.ts";
import type { LocalEndpoint } from "./model.ts";
import { PeerIndex, type PeerSelection } from "./peer_index.ts";
import { readPolicyResources } from "./resources.ts";

const resources = readPolicyResources([]);
const web: PeerSelection = {
  action: "allow",
  podSelector: { matchLabels: { app: "web" }, matchExpressions: [] },
};

function stateWith(pods: Pod[]): ClusterState {
  const state = new ClusterState();
  state.reset({
    resourceVersion: "1",
    nodes: [],
    pods,
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: [],
  });
  return state;
}

function ranges(index: PeerIndex, selection: PeerSelection): string[] {
  return index.selectedRanges(selection).map(([a, b]) => `${formatIp(a)}-${formatIp(b)}`);
}

function selected(index: PeerIndex, selection: PeerSelection): string[] {
  return index.select(selection)
    .map(({ pod, addresses }) => `${pod.name} ${addresses.map(formatIp).join(",")}`).sort();
}

Deno.test("PeerIndex gives a deleted peer's place to the next pod without mixing their indexes", () => {
  const a = testPod("a", { labels: { app: "web" }, podIPs: ["192.168.0.1"] });
  const b = testPod("b", { labels: { app: "db" }, podIPs: ["203.0.113.7"] });
  const state = stateWith([a, b]);
  const index = new PeerIndex();
  index.update(state, { endpoints: [], resources });
  assertEquals(ranges(index, web), ["192.168.0.1-192.168.0.1"]);
  assertEquals(selected(index, web), ["a 192.168.0.1"]);

  // a leaves; c (a db pod) comes and may take a's place: web must not hold it.
  state.apply({ type: "deleted", resource: a, resourceVersion: "2" });
  const c = testPod("c", { labels: { app: "db" }, podIPs: ["192.168.0.2"] });
  state.apply({ type: "added", resource: c, resourceVersion: "3" });
  const dirty = index.update(state, { endpoints: [], resources, pods: ["default/a", "default/c"] });
  assertEquals(dirty.has(`s:${index.selectionKey(web)}`), true);
  assertEquals(ranges(index, web), []);
  assertEquals(selected(index, web), []);
  const db: PeerSelection = {
    action: "allow",
    podSelector: { matchLabels: { app: "db" }, matchExpressions: [] },
  };
  assertEquals(selected(index, db), ["b 203.0.113.7", "c 192.168.0.2"]);

  // b becomes web: it keeps its place, moves from one label's index to the other's.
  const b2 = { ...b, labels: { app: "web" } };
  state.apply({ type: "modified", resource: b2, resourceVersion: "4" });
  index.update(state, { endpoints: [], resources, pods: ["default/b"] });
  assertEquals(ranges(index, web), ["203.0.113.7-203.0.113.7"]);
  assertEquals(selected(index, db), ["c 192.168.0.2"]);
  assertEquals(index.peers().map((p) => p.pod.name), ["b", "c"]);
});

Deno.test("PeerIndex keeps a peer's several addresses, local endpoints' included, sorted", () => {
  const a = testPod("a", { labels: { app: "web" }, podIPs: ["10.0.0.9"] });
  const state = stateWith([a]);
  const index = new PeerIndex();
  index.update(state, { endpoints: [], resources });
  const before = index.selectedRanges(web);
  const endpoint: LocalEndpoint = {
    namespace: "default",
    name: "a",
    ifname: "tern00000000001",
    ip: "10.0.0.3",
  };
  index.update(state, { endpoints: [endpoint], resources, pods: [] });
  assertEquals(selected(index, web), ["a 10.0.0.3,10.0.0.9"]);
  assertEquals(ranges(index, web), ["10.0.0.3-10.0.0.3", "10.0.0.9-10.0.0.9"]);
  // The kept ranges are patched into a new array: a reader's copy stays as it was.
  assertEquals(before.map(([x]) => x), [parseIp("10.0.0.9")]);
  index.update(state, { endpoints: [], resources, pods: [] });
  assertEquals(ranges(index, web), ["10.0.0.9-10.0.0.9"]);
  assertEquals(selected(index, web), ["a 10.0.0.9"]);
});

Deno.test("PeerIndex gives a selection's ranges back as the same array while its peers keep their addresses", () => {
  const a = testPod("a", { labels: { app: "web" }, podIPs: ["10.0.0.1"] });
  const state = stateWith([a]);
  const index = new PeerIndex();
  index.update(state, { endpoints: [], resources });
  const first = index.selectedRanges(web);
  const a2 = { ...a, annotations: { note: "x" } };
  state.apply({ type: "modified", resource: a2, resourceVersion: "2" });
  const dirty = index.update(state, { endpoints: [], resources, pods: ["default/a"] });
  assertEquals(dirty.has(`s:${index.selectionKey(web)}`), false);
  assertEquals(index.selectedRanges(web) === first, true);
  assertEquals(index.select(web)[0]!.pod, a2);
});

import { assertEquals } from "../../test/assert.ts";
import type { LocalEndpoint } from "../local_endpoints.ts";
import { dataplaneSettles, type SettleOptions } from "./dataplane_settles.ts";

function endpoint(ip: string, podName = "web"): LocalEndpoint {
  return {
    containerID: `c-${ip}`,
    ifname: "eth0",
    ip,
    hostVeth: "tern0123456789a",
    podNamespace: "ns",
    podName,
  };
}

const binding = { annotation: "tern.dev/egress-table", label: "tern.dev/egress-table" };

/** A node with one egress table; pod `ns/bound` is bound to it, `ns/stray` to a table not configured. */
const withTables: SettleOptions = {
  egressTables: [{ name: "nat", table: 100, via: "192.168.50.1" }],
  binding,
  localCIDRs: () => ["10.244.1.0/24", "fd00::/64"],
  pod: (_namespace, name) => {
    if (name === "bound") return { labels: { "tern.dev/egress-table": "nat" }, annotations: {} };
    if (name === "stray") return { labels: {}, annotations: { "tern.dev/egress-table": "vpn" } };
    return { labels: {}, annotations: {} };
  },
};

Deno.test("dataplaneSettles() needs no pass on a node without egress tables, whatever the pod", () => {
  const none: SettleOptions = {
    ...withTables,
    egressTables: [],
    localCIDRs: () => {
      throw new Error("the node's ranges are not read without egress tables");
    },
  };
  const outside = endpoint("10.9.9.9", "bound");
  assertEquals(dataplaneSettles({ after: outside }, none), true);
  assertEquals(dataplaneSettles({ before: outside }, none), true);
  assertEquals(
    dataplaneSettles({ before: endpoint("10.244.1.7"), after: endpoint("10.244.1.7") }, none),
    true,
  );
});

Deno.test("dataplaneSettles() needs no pass for an unbound pod inside a local pod CIDR", () => {
  assertEquals(dataplaneSettles({ after: endpoint("10.244.1.7") }, withTables), true);
  assertEquals(dataplaneSettles({ before: endpoint("10.244.1.7") }, withTables), true);
  const unknownPod = { ...endpoint("10.244.1.8"), podName: "nobody-knows" };
  assertEquals(
    dataplaneSettles({ after: unknownPod }, { ...withTables, pod: () => undefined }),
    true,
  );
});

Deno.test("dataplaneSettles() asks for a pass when node-wide rules may change", () => {
  const bound = endpoint("10.244.1.7", "bound");
  assertEquals(dataplaneSettles({ after: bound }, withTables), false, "maybe the first binding");
  assertEquals(dataplaneSettles({ before: bound }, withTables), false, "maybe the last binding");
  assertEquals(
    dataplaneSettles({ after: endpoint("10.244.1.9", "stray") }, withTables),
    false,
    "a binding to an unknown table is a problem status shows",
  );
  assertEquals(
    dataplaneSettles({ after: endpoint("10.245.0.4") }, withTables),
    false,
    "outside every local CIDR: its own `to` rule while some pod is bound",
  );
});

Deno.test("dataplaneSettles() asks for a pass for a load and for an address that changed", () => {
  const none: SettleOptions = { ...withTables, egressTables: [] };
  assertEquals(dataplaneSettles(undefined, none), false);
  assertEquals(
    dataplaneSettles({ before: endpoint("10.244.1.7"), after: endpoint("10.244.1.8") }, none),
    false,
  );
});

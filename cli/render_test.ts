import { assertEquals, assertStringIncludes } from "../test/assert.ts";
import type { Endpoint, StatusResponse } from "../src/api.ts";
import { compareIp, formatDuration, renderEndpoints, renderStatus, renderTable } from "./render.ts";

function endpoint(overrides: Partial<Endpoint>): Endpoint {
  return {
    containerID: "0123456789abcdef0123456789abcdef",
    ifname: "eth0",
    network: "tern",
    netns: "/var/run/netns/x",
    ip: "10.244.1.2",
    podCIDR: "10.244.1.0/24",
    hostVeth: "tern0123456789a",
    podMac: "0e:00:00:00:00:01",
    state: "programmed",
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

const status: StatusResponse = {
  ready: true,
  version: "0.1.0",
  node: "node-1",
  pools: [
    { cidr: "10.244.1.0/24", capacity: 254, used: 3, free: 251 },
    { cidr: "10.244.9.0/30", capacity: 2, used: 2, free: 0 },
  ],
  free: 251,
  endpoints: 5,
  uptimeMs: 3_723_000,
};

Deno.test("renderTable() aligns columns to the widest cell and leaves no trailing blanks", () => {
  assertEquals(
    renderTable(["A", "LONG HEADER", "C"], [["xxxx", "y", ""], ["z", "w", "last"]]),
    "A     LONG HEADER  C\n" +
      "xxxx  y\n" +
      "z     w            last\n",
  );
});

Deno.test("formatDuration() shows the two largest units", () => {
  assertEquals(formatDuration(0), "0s");
  assertEquals(formatDuration(-5), "0s");
  assertEquals(formatDuration(NaN), "0s");
  assertEquals(formatDuration(42_999), "42s");
  assertEquals(formatDuration(303_000), "5m 3s");
  assertEquals(formatDuration(3_723_000), "1h 2m");
  assertEquals(formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 59_000), "3d 4h");
});

Deno.test("renderStatus() shows node, health, uptime, totals and a line per pool", () => {
  const text = renderStatus(status);
  assertStringIncludes(text, "node:      node-1\n");
  assertStringIncludes(text, "ready:     yes\n");
  assertStringIncludes(text, "uptime:    1h 2m\n");
  assertStringIncludes(text, "endpoints: 5\n");
  assertStringIncludes(text, "addresses: 5 used, 251 free of 256\n");
  assertStringIncludes(
    text,
    "POOL           CAPACITY  USED  FREE  USE%\n" +
      "10.244.1.0/24  254       3     251   1%\n" +
      "10.244.9.0/30  2         2     0     100%\n",
  );
  assertEquals(text.includes("warning"), false);
});

Deno.test("renderStatus() warns when no address is free and says when there is no pool", () => {
  const full = renderStatus({
    ...status,
    ready: false,
    free: 0,
    pools: [{ cidr: "10.0.0.0/30", capacity: 2, used: 2, free: 0 }],
  });
  assertStringIncludes(full, "ready:     no\n");
  assertStringIncludes(full, "warning:   no free address");
  assertStringIncludes(renderStatus({ ...status, pools: [], free: 0 }), "no pools");
});

Deno.test("compareIp() orders IPv4 addresses numerically", () => {
  const ips = ["10.0.0.10", "10.0.0.9", "9.255.255.255", "10.0.1.0"];
  assertEquals(ips.sort(compareIp), ["9.255.255.255", "10.0.0.9", "10.0.0.10", "10.0.1.0"]);
});

Deno.test("renderEndpoints() lists endpoints by address with short IDs, pods and dashes for unknowns", () => {
  const text = renderEndpoints([
    endpoint({ ip: "10.244.1.10", podNamespace: "kube-system", podName: "coredns-1" }),
    endpoint({
      containerID: "ffffffffffffffffffff",
      ip: "10.244.1.9",
      state: "allocated",
      hostVeth: "",
      ifname: "net1",
    }),
    endpoint({ containerID: "abc", ip: "10.244.1.200", podName: "solo" }),
  ]);
  assertEquals(
    text,
    "CONTAINER     IFNAME  IP            STATE       HOST VETH        POD\n" +
      "ffffffffffff  net1    10.244.1.9    allocated   -                -\n" +
      "0123456789ab  eth0    10.244.1.10   programmed  tern0123456789a  kube-system/coredns-1\n" +
      "abc           eth0    10.244.1.200  programmed  tern0123456789a  default/solo\n",
  );
});

Deno.test("renderEndpoints() shows whole container IDs when wide, and says when there are none", () => {
  assertStringIncludes(
    renderEndpoints([endpoint({})], { wide: true }),
    "0123456789abcdef0123456789abcdef  eth0",
  );
  assertEquals(renderEndpoints([]), "no endpoints\n");
});

import { assertEquals, assertThrows } from "../../test/assert.ts";
import { GATEWAY_IP } from "../../src/names.ts";
import { NetlinkError } from "../../src/rtnetlink.ts";
import { type Answer, neighbourReplaceRequest } from "../../src/rtnetlink_message.ts";
import { asAdded, decoded, FakePod, HOST_MAC, INDEX, namespaces } from "./_fake_pod.ts";
import { checkPodSide, podSideRepairs } from "./pod_side.ts";

const link = { index: INDEX, ifname: "eth0", hostMac: HOST_MAC };
const ep = { netns: "/run/netns/pod", ifname: "eth0", hostMac: HOST_MAC };

Deno.test("podSideRepairs() finds nothing to do on the pod side ADD made", () => {
  assertEquals(podSideRepairs(asAdded(), link), []);
});

Deno.test("podSideRepairs() puts back a deleted, stale or wrong gateway neighbour entry", () => {
  const withoutEntry = asAdded().filter((a) => a.kind !== "neighbour");
  const repairs = podSideRepairs(withoutEntry, link);
  assertEquals(repairs.map((r) => [r.object, r.what]), [[
    "pod_neighbour",
    `neigh replace ${GATEWAY_IP} lladdr ${HOST_MAC} dev eth0 nud permanent`,
  ]]);
  assertEquals(
    decoded(repairs[0]!.request),
    decoded(neighbourReplaceRequest(INDEX, GATEWAY_IP, HOST_MAC)),
  );
  const learned = [
    ...withoutEntry,
    { kind: "neighbour", index: INDEX, state: 0x02, dst: GATEWAY_IP, mac: HOST_MAC } as Answer,
  ];
  assertEquals(podSideRepairs(learned, link).length, 1);
  const wrongMac = [
    ...withoutEntry,
    {
      kind: "neighbour",
      index: INDEX,
      state: 0x80,
      dst: GATEWAY_IP,
      mac: "0e:00:00:00:00:01",
    } as Answer,
  ];
  assertEquals(podSideRepairs(wrongMac, link).length, 1);
  const otherLink = [
    ...withoutEntry,
    { kind: "neighbour", index: 9, state: 0x80, dst: GATEWAY_IP, mac: HOST_MAC } as Answer,
  ];
  assertEquals(podSideRepairs(otherLink, link).length, 1);
});

Deno.test("podSideRepairs() adds the gateway route, then the default route, when missing", () => {
  const routeless = asAdded().filter((a) => a.kind !== "route" || a.table !== 254);
  assertEquals(podSideRepairs(routeless, link).map((r) => r.what), [
    `route add ${GATEWAY_IP}/32 dev eth0 scope link`,
    `route add default via ${GATEWAY_IP} dev eth0`,
  ]);
});

Deno.test("podSideRepairs() leaves a default route someone else set, and looks only at the main table", () => {
  const other = asAdded().filter((a) => !(a.kind === "route" && a.prefix === 0));
  other.push({
    kind: "route",
    table: 254,
    dst: "0.0.0.0",
    prefix: 0,
    scope: 0,
    type: 1,
    oif: INDEX,
    gateway: "10.0.0.1",
  });
  assertEquals(podSideRepairs(other, link), []);
  const elsewhere = asAdded().map((a) =>
    a.kind === "route" && a.prefix === 0 ? { ...a, table: 100 } : a
  );
  assertEquals(podSideRepairs(elsewhere, link).map((r) => r.what), [
    `route add default via ${GATEWAY_IP} dev eth0`,
  ]);
});

Deno.test("checkPodSide() repairs in the pod's namespace and finds it sound on the next check", () => {
  const pod = new FakePod(
    asAdded().filter((a) =>
      !(a.kind === "route" && a.prefix === 32 && a.table === 254) && a.kind !== "neighbour"
    ),
  );
  const ns = namespaces({ [ep.netns]: pod });
  const first = checkPodSide(ns, ep);
  assertEquals(first.kind === "checked" ? first.repaired.map((r) => r.object) : first.kind, [
    "pod_neighbour",
    "pod_route",
  ]);
  assertEquals(checkPodSide(ns, ep), { kind: "checked", repaired: [] });
});

Deno.test("checkPodSide() calls a missing namespace or interface gone, and rethrows other failures", () => {
  assertEquals(checkPodSide(namespaces({}), ep), { kind: "gone" });
  assertEquals(checkPodSide(namespaces({ [ep.netns]: new FakePod(asAdded(), "net1") }), ep), {
    kind: "gone",
  });
  const refusing = new FakePod([]);
  refusing.request = (what) => {
    throw new NetlinkError(what, 1);
  };
  assertThrows(() => checkPodSide(namespaces({ [ep.netns]: refusing }), ep), NetlinkError, "EPERM");
});

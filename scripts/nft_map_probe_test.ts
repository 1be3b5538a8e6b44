import { assertEquals } from "../test/assert.ts";
import { ingressL4Maps, mapAdmits } from "./nft_map_probe.ts";

/** An `nft -j list map` answer as nftables 1.0.6 prints it, with these elements. */
function listing(elements: unknown[]): string {
  return JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6", json_schema_version: 1 } },
      {
        map: {
          family: "inet",
          name: "p_688ef49e92ef_in_np_l4",
          table: "tern",
          type: ["ipv4_addr", "inet_proto", "inet_service"],
          map: "verdict",
          flags: ["interval"],
          elem: elements,
        },
      },
    ],
  });
}

const element = (address: unknown, protocol: unknown, service: unknown, verdict: unknown) => [
  { elem: { val: { concat: [address, protocol, service] }, counter: { packets: 0, bytes: 0 } } },
  verdict,
];

Deno.test("mapAdmits() finds an address, prefix or range box that admits the TCP port", () => {
  const accept = { accept: null };
  const cases: [unknown, unknown, unknown, boolean][] = [
    ["10.128.1.2", "tcp", 7777, true],
    [{ prefix: { addr: "10.128.0.0", len: 16 } }, "tcp", 7777, true],
    [{ range: ["10.128.1.1", "10.128.1.9"] }, "tcp", { range: [7000, 8000] }, true],
    [{ prefix: { addr: "0.0.0.0", len: 0 } }, 6, 7777, true],
    // Another address, protocol or port: no.
    ["10.128.1.20", "tcp", 7777, false],
    ["10.128.1.2", "udp", 7777, false],
    ["10.128.1.2", "tcp", 77770, false],
    [{ range: ["10.128.1.3", "10.128.1.9"] }, "tcp", 7777, false],
    [{ prefix: { addr: "10.129.0.0", len: 16 } }, "tcp", 7777, false],
  ];
  for (const [address, protocol, service, admits] of cases) {
    assertEquals(
      mapAdmits(listing([element(address, protocol, service, accept)]), "10.128.1.2", 7777),
      admits,
      JSON.stringify([address, protocol, service]),
    );
  }
});

Deno.test("mapAdmits() counts a goto to the next layer and not one to a deny chain", () => {
  const at = (verdict: unknown) =>
    mapAdmits(listing([element("198.18.3.1", "tcp", 7778, verdict)]), "198.18.3.1", 7778);
  assertEquals(at({ goto: { target: "p_ab_in_sg" } }), true);
  assertEquals(at({ goto: { target: "d_3f2a" } }), false);
  assertEquals(mapAdmits(listing([]), "198.18.3.1", 7778), false);
});

Deno.test("ingressL4Maps() names the pods' ingress address/port maps, and no other", () => {
  const maps = (names: string[]) =>
    JSON.stringify({
      nftables: [
        { metainfo: { version: "1.0.6" } },
        ...names.map((name) => ({ map: { family: "inet", table: "tern", name } })),
        { map: { family: "ip", table: "other", name: "p_cc_in_np_l4" } },
      ],
    });
  assertEquals(
    ingressL4Maps(
      maps([
        "pod_ingress",
        "p_bb_in_np_l4",
        "p_bb_in_np_icmp",
        "p_aa_out_np_l4",
        "s_0c82c474515e_in_np_exact",
        "s_0c82c474515e_in_np_l4",
      ]),
    ),
    ["p_bb_in_np_l4", "s_0c82c474515e_in_np_l4"],
  );
});

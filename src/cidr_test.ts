import { assert, assertEquals, assertThrows } from "../test/assert.ts";
import { CIDR_SPELLINGS, MALFORMED_CIDRS } from "./_cidr_cases.ts";
import {
  contains,
  formatCidr,
  formatIp,
  maskOf,
  overlaps,
  parseCidr,
  parseIp,
  sizeOf,
  usableRange,
} from "./cidr.ts";

Deno.test("parseIp() and formatIp() round-trip every octet boundary", () => {
  for (const text of ["0.0.0.0", "10.244.1.7", "255.255.255.255", "169.254.1.1"]) {
    assertEquals(formatIp(parseIp(text)), text);
  }
});

Deno.test("parseIp() rejects out-of-range octets, leading zeros and junk, naming the text", () => {
  for (const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", "a.b.c.d", "1.2.3.4 "]) {
    assertThrows(() => parseIp(bad), TypeError, bad);
  }
});

Deno.test("parseCidr() refuses host bits unless told to clear them, and suggests the network", () => {
  assertThrows(() => parseCidr("10.244.1.5/24"), TypeError, "did you mean 10.244.1.0/24");
  assertEquals(formatCidr(parseCidr("10.244.1.5/24", { strict: false })), "10.244.1.0/24");
  assertThrows(() => parseCidr("10.0.0.0/33"), TypeError, "prefix must be 0..32");
  assertThrows(() => parseCidr("10.0.0.0"), TypeError, "expected address/prefix");
});

Deno.test("contains(), overlaps() and sizeOf() agree with the prefix arithmetic", () => {
  const c = parseCidr("10.244.1.0/24");
  assert(contains(c, parseIp("10.244.1.255")));
  assert(!contains(c, parseIp("10.244.2.0")));
  assert(overlaps(c, parseCidr("10.244.0.0/16")));
  assert(!overlaps(c, parseCidr("10.244.2.0/24")));
  assertEquals(sizeOf(c), 256);
  assertEquals(sizeOf(parseCidr("0.0.0.0/0")), 2 ** 32);
});

Deno.test("usableRange() excludes network and broadcast, except on /31 and /32", () => {
  const r24 = usableRange(parseCidr("10.0.0.0/24"));
  assertEquals([formatIp(r24.first), formatIp(r24.last)], ["10.0.0.1", "10.0.0.254"]);
  const r31 = usableRange(parseCidr("10.0.0.0/31"));
  assertEquals([formatIp(r31.first), formatIp(r31.last)], ["10.0.0.0", "10.0.0.1"]);
});

Deno.test("parseCidr() reads the common spelling on its fast path as the general reader does", () => {
  for (
    const [text, address, prefix] of CIDR_SPELLINGS
  ) {
    const network = (parseIp(address) & maskOf(prefix)) >>> 0;
    assertEquals(parseCidr(text, { strict: false }), { network, prefix }, text);
  }
  for (const text of MALFORMED_CIDRS) {
    assertThrows(() => parseCidr(text, { strict: false }), TypeError, "Not an IPv4");
  }
  assertThrows(() => parseCidr("10.0.0.1/24"), TypeError, "host bits are set");
});

import { assert, assertEquals, assertMatch, assertNotEquals } from "../test/assert.ts";
import { hostVethMac, hostVethName } from "./names.ts";

Deno.test("hostVethName() is tern + 11 hex digits, 15 characters, stable per identity", async () => {
  const a = await hostVethName("abc123", "eth0");
  assertMatch(a, /^tern[0-9a-f]{11}$/);
  assertEquals(a.length, 15);
  assertEquals(await hostVethName("abc123", "eth0"), a);
  assertNotEquals(await hostVethName("abc123", "eth1"), a);
  assertNotEquals(await hostVethName("abc124", "eth0"), a);
});

Deno.test("hostVethMac() is a locally administered unicast MAC derived from the name", async () => {
  const mac = hostVethMac(await hostVethName("abc123", "eth0"));
  assertMatch(mac, /^0e(:[0-9a-f]{2}){5}$/);
  const first = parseInt(mac.slice(0, 2), 16);
  assert((first & 2) === 2 && (first & 1) === 0);
});

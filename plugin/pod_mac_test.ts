import { assertEquals, assertMatch, assertThrows } from "../test/assert.ts";
import { podMacFrom, randomPodMac } from "./pod_mac.ts";

Deno.test("podMacFrom() sets the locally administered bit and clears the multicast bit", () => {
  assertEquals(podMacFrom(new Uint8Array([0xff, 1, 2, 3, 4, 0xab])), "fe:01:02:03:04:ab");
  assertEquals(podMacFrom(new Uint8Array([0x00, 0, 0, 0, 0, 0])), "02:00:00:00:00:00");
  assertThrows(() => podMacFrom(new Uint8Array(5)), RangeError, "need 6");
});

Deno.test("randomPodMac() returns distinct locally administered unicast MACs", () => {
  const macs = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const mac = randomPodMac();
    assertMatch(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const first = parseInt(mac.slice(0, 2), 16);
    assertEquals(first & 0x03, 0x02);
    macs.add(mac);
  }
  assertEquals(macs.size, 50);
});

import { assertEquals } from "../../test/assert.ts";
import { VethSightings } from "./veth_sightings.ts";

Deno.test("VethSightings keeps a veth's first listing while it stays listed, and forgets it after", () => {
  const s = new VethSightings();
  s.observe(["terna", "ternb"], 1_000);
  s.observe(["terna", "ternb", "ternc"], 5_000);
  assertEquals([s.firstSeen("terna"), s.firstSeen("ternc"), s.firstSeen("ternz")], [
    1_000,
    5_000,
    undefined,
  ]);
  s.observe(["ternc"], 9_000);
  assertEquals(s.firstSeen("terna"), undefined, "gone from a listing: forgotten");
  s.observe(["terna", "ternc"], 12_000);
  assertEquals([s.firstSeen("terna"), s.firstSeen("ternc")], [12_000, 5_000]);
});

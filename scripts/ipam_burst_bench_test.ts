import { assertEquals } from "../test/assert.ts";
import { benchIpamBurst, formatIpamBurst } from "./ipam_burst_bench.ts";

Deno.test("benchIpamBurst(): a filled warm pool claims nothing, an empty one claims once per block needed", async () => {
  const results = await benchIpamBurst({ sizes: [30, 100], rounds: 1, apiDelayMs: 0 });
  assertEquals(results.map((r) => [r.burst, r.mode, r.claims]), [
    [30, "node-cidr", 0],
    [30, "blocks-warm", 0],
    [30, "blocks-empty", 1],
    [100, "node-cidr", 0],
    [100, "blocks-warm", 0],
    [100, "blocks-empty", 2],
  ]);
  const table = formatIpamBurst(results);
  assertEquals(table.split("\n")[1]!.split(/\s+/).slice(0, 2), ["30", "node-cidr"]);
});

import { assertEquals } from "../test/assert.ts";
import { medianMax, ruleHandles } from "./bench_table_repair.ts";

Deno.test("ruleHandles() lists the rules of an nft -a chain listing, not the table or chain", () => {
  const listing = `table inet tern { # handle 7
	chain forward { # handle 3
		type filter hook forward priority filter; policy accept;
		meta iifgroup != 1952805486 iifname "tern*" counter packets 0 bytes 0 drop # handle 4
		meta oifgroup != 1952805486 oifname "tern*" counter packets 0 bytes 0 drop # handle 5
	}
}
`;
  assertEquals(ruleHandles(listing), [4, 5]);
  assertEquals(ruleHandles(""), []);
});

Deno.test("medianMax() is the middle (or the mean of the middle two) and the largest", () => {
  assertEquals(medianMax([30, 10, 20]), { median: 20, max: 30 });
  assertEquals(medianMax([4, 1, 3, 2]), { median: 2.5, max: 4 });
});

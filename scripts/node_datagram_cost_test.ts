import { assertEquals, assertThrows } from "../test/assert.ts";
import { formatDatagramCost, summarizeDatagramCost } from "./node_datagram_cost.ts";

Deno.test("summarizeDatagramCost pairs each variant with its base round by round", () => {
  const rows = summarizeDatagramCost(
    {
      "same ptp": [100, 200, 100],
      "same tern": [110, 200, 125],
      "cross ptp": [300, 300, 300],
      "cross tern": [300, 250, 310],
    },
    (v) => `${v.split(" ")[0]} ptp`,
  );
  const tern = rows.find((r) => r.variant === "same tern")!;
  assertEquals(tern.ns, 125);
  // Paired ratios 100/110, 200/200, 100/125: median 0.909, not the ratio of medians (100/125).
  assertEquals(tern.ratio.toFixed(3), "0.909");
  assertEquals([tern.p25.toFixed(3), tern.p75.toFixed(3)], ["0.800", "1.000"]);
  assertEquals(rows.find((r) => r.variant === "cross ptp")!.ratio, 1);
  assertEquals(rows.find((r) => r.variant === "cross tern")!.ratio.toFixed(3), "1.000");
});

Deno.test("summarizeDatagramCost refuses a variant whose base has other rounds", () => {
  assertThrows(
    () => summarizeDatagramCost({ "same ptp": [1, 2], "same tern": [1] }, () => "same ptp"),
    Error,
    "Cannot pair same tern",
  );
});

Deno.test("formatDatagramCost prints ns and the ratio with its quartiles", () => {
  assertEquals(
    formatDatagramCost([{
      variant: "same tern-hook",
      ns: 5609.4,
      ratio: 0.902,
      p25: 0.864,
      p75: 0.957,
    }]),
    "same tern-hook     5609 ns   ptp/variant 0.902 (0.864–0.957)",
  );
});

import { assertEquals } from "../test/assert.ts";
import {
  baseCase,
  connRateGoalLine,
  formatCaseLine,
  type Measured,
  medianOf,
  pairedCase,
  pairedCaseList,
  pairedRatios,
  pairOrder,
  type PairSample,
  reapedChildTicks,
} from "./bench_policy.ts";

function measured(bps: number, connPerS: number, extra: Partial<Measured> = {}): Measured {
  return { bps, connPerS, daemonCpuPercent: 0, quietMs: 500, daemonCounters: [], ...extra };
}

Deno.test("pairOrder alternates which side comes first, starting with the 0-rule side", () => {
  assertEquals(pairOrder(0), []);
  assertEquals(pairOrder(1), [false]);
  assertEquals(pairOrder(4), [false, true, false, true]);
});

Deno.test("medianOf takes the middle value, or the mean of the middle two", () => {
  assertEquals(medianOf([3, 1, 2]), 2);
  assertEquals(medianOf([4, 1, 3, 2]), 2.5);
  assertEquals(Number.isNaN(medianOf([])), true);
});

Deno.test("pairedRatios: the median of each pair's value/base and its quartiles by nearest rank", () => {
  // Ratios 0.5, 0.9, 1.0, 1.1 (given out of order): median (0.9 + 1.0) / 2, p25 the 1st of 4
  // (rank ceil(1)), p75 the 3rd (rank ceil(3)).
  assertEquals(
    pairedRatios([
      { base: 10, value: 11 },
      { base: 2, value: 1 },
      { base: 10, value: 9 },
      { base: 4, value: 4 },
    ]),
    { median: 0.95, p25: 0.5, p75: 1 },
  );
  // A ratio per pair, not a ratio of medians: the bases drift, each pair's ratio stays 0.9.
  assertEquals(
    pairedRatios([{ base: 10, value: 9 }, { base: 20, value: 18 }, { base: 5, value: 4.5 }]),
    { median: 0.9, p25: 0.9, p75: 0.9 },
  );
});

Deno.test("pairedCase reports medians, the paired ratios' quartiles, and the median apply time", () => {
  const pairs: PairSample[] = [
    { caseFirst: false, base: measured(10e9, 1000), value: measured(9e9, 1100, { applyMs: 900 }) },
    {
      caseFirst: true,
      base: measured(8e9, 2000),
      value: measured(8e9, 1000, { daemonCpuPercent: 3, quietMs: 1500 }),
    },
    { caseFirst: false, base: measured(5e9, 1000), value: measured(6e9, 1000, { applyMs: 1100 }) },
  ];
  const c = pairedCase("10k rules", pairs);
  assertEquals(c.name, "10k rules");
  assertEquals(c.bps, 8e9);
  assertEquals(c.connPerS, 1000);
  assertEquals([c.bpsRatioP25, c.bpsRatio, c.bpsRatioP75], [0.9, 1, 1.2]);
  assertEquals([c.connRatioP25, c.connRatio, c.connRatioP75], [0.5, 1, 1.1]);
  assertEquals([c.baseBps, c.baseConnPerS], [8e9, 1000]);
  assertEquals([c.daemonCpuPercent, c.quietMs, c.applyMs], [3, 1500, 1000]);
  assertEquals(c.pairs, pairs);

  const base = baseCase([c, pairedCase("1k rules", [pairs[0]!])]);
  // Every pair's 0-rule side: 10, 8, 5 and 10 Gbit/s.
  assertEquals([base.bps, base.connPerS, base.bpsRatio, base.connRatio], [9e9, 1000, 1, 1]);
  assertEquals(base.pairs, undefined);
});

Deno.test("pairedCaseList gives the goal's cases the pairs asked for and the others half (at least 2)", () => {
  assertEquals(pairedCaseList(6).map((c) => [c.name, c.pairs]), [
    ["10k rules, other pods", 6],
    ["1k rules, other pods", 6],
    ["10k rules, the server's own group", 3],
    ["10k rules, linear iptables FORWARD chain (foil)", 3],
    ["0 rules again (A/A control)", 3],
  ]);
  assertEquals(pairedCaseList(2).map((c) => c.pairs), [2, 2, 2, 2, 2]);
  assertEquals(pairedCaseList(6)[4]!.load, { kind: "none" });
  assertEquals(pairedCaseList(6)[0]!.load, { kind: "tern", rules: 10_000, selector: "loaded" });
});

Deno.test("formatCaseLine shows the ratio's quartiles and the pair count", () => {
  const c = pairedCase("10k rules", [
    { caseFirst: false, base: measured(10e9, 1000), value: measured(9e9, 1000) },
    { caseFirst: true, base: measured(10e9, 1000), value: measured(10e9, 1000) },
  ]);
  const line = formatCaseLine(c);
  assertEquals(line.startsWith("10k rules"), true);
  assertEquals(line.includes("0.950  0.900–1.000"), true, line);
  assertEquals(line.includes("  2  "), true, line);
});

Deno.test("connRateGoalLine judges the worst of tern's rule cases, and only with node conntrack", () => {
  const at = (name: string, conn: number) =>
    pairedCase(name, [{
      caseFirst: false,
      base: measured(10e9, 1000),
      value: measured(10e9, conn),
    }]);
  const cases = [
    at("0 rules (every pair's partner)", 1000),
    at("10k rules, other pods", 1060),
    at("1k rules, other pods", 1004),
    at("10k rules, the server's own group", 940),
    at("10k rules, linear iptables FORWARD chain (foil)", 215),
    at("0 rules again (A/A control)", 800),
  ];
  assertEquals(
    connRateGoalLine(cases, true),
    "connection rate with 1k and 10k rules / 0 rules (goal >= 0.95, with --node-conntrack): " +
      "worst 0.940 (10k rules, the server's own group): missed",
  );
  assertEquals(
    connRateGoalLine(cases.slice(0, 3), true)?.endsWith("worst 1.004 (1k rules, other pods): met"),
    true,
  );
  assertEquals(
    connRateGoalLine(cases, false)?.endsWith("not judged: measured without --node-conntrack"),
    true,
  );
  assertEquals(connRateGoalLine([cases[0]!, cases[4]!], true), undefined);
});

Deno.test("reapedChildTicks reads cutime + cstime, past a command name with spaces", () => {
  // Fields 3.. of a real /proc/<pid>/stat, with utime 120, stime 30, cutime 44, cstime 6.
  const stat = "4242 (deno worker) S 1 4242 4242 0 -1 4194560 9000 0 0 0 120 30 44 6 20 0 9 0";
  assertEquals(reapedChildTicks(stat), 50);
});

import { assertEquals, assertStringIncludes } from "../test/assert.ts";
import {
  E2E_CASES,
  type E2eSample,
  formatIpamE2e,
  planE2eRounds,
  summarizeE2e,
} from "./bench_ipam_e2e.ts";

Deno.test("planE2eRounds() alternates the cases within every round and size", () => {
  const plan = planE2eRounds([30, 100], 2);
  assertEquals(plan.length, 2 * 2 * E2E_CASES.length);
  assertEquals(plan.slice(0, 4).map((s) => `${s.round}/${s.burst}/${s.case}`), [
    "0/30/node-cidr",
    "0/30/blocks-warm",
    "0/30/blocks-empty",
    "0/100/node-cidr",
  ]);
  assertEquals(plan.at(-1), { round: 1, burst: 100, case: "blocks-empty" });
  assertEquals(planE2eRounds([30], 0), []);
});

Deno.test("summarizeE2e() pools every round's ADDs and divides by node-cidr's at the same size", () => {
  const sample = (burst: number, c: E2eSample["case"], addMs: number[], claims = 0) => ({
    burst,
    case: c,
    addMs,
    wallMs: Math.max(...addMs),
    claims,
  });
  const results = summarizeE2e([
    sample(2, "node-cidr", [10, 20]),
    sample(2, "blocks-warm", [10, 22]),
    sample(2, "blocks-empty", [30, 40], 1),
    sample(2, "node-cidr", [10, 20]),
    sample(2, "blocks-warm", [11, 22]),
    sample(2, "blocks-empty", [30, 40], 2),
    sample(1, "node-cidr", [5]),
  ]);
  assertEquals(results.map((r) => `${r.burst} ${r.case}`), [
    "1 node-cidr",
    "2 node-cidr",
    "2 blocks-warm",
    "2 blocks-empty",
  ]);
  const [, cidr, warm, empty] = results;
  assertEquals([cidr!.p50Ms, cidr!.p99Ms, cidr!.p50Ratio, cidr!.rounds], [10, 20, 1, 2]);
  assertEquals([warm!.p50Ms, warm!.p99Ms, warm!.p50Ratio, warm!.p99Ratio], [11, 22, 1.1, 1.1]);
  assertEquals([empty!.p50Ratio, empty!.p99Ratio, empty!.claimsMin, empty!.claimsMax], [
    3,
    2,
    1,
    2,
  ]);
  assertEquals(empty!.wallMs, 40);
  assertEquals(cidr!.pairedP50Ratio, 1);
  assertEquals(warm!.pairedP50Ratio, 1.05, "the median of 10/10 and 11/10");
});

Deno.test("formatIpamE2e() shows a claim range only when it varied, and the load", () => {
  const text = formatIpamE2e(
    summarizeE2e([
      { burst: 3, case: "node-cidr", addMs: [1, 2, 3], wallMs: 3, claims: 0 },
      { burst: 3, case: "blocks-empty", addMs: [4, 5, 6], wallMs: 6, claims: 1 },
      { burst: 3, case: "blocks-empty", addMs: [4, 5, 6], wallMs: 6, claims: 2 },
    ]),
    { before: "1.00 2.00 3.00", after: "1.50 2.00 3.00" },
  );
  const lines = text.split("\n");
  assertEquals(lines.length, 4);
  assertStringIncludes(lines[1]!, "node-cidr");
  assertStringIncludes(lines[2]!, "2.50");
  assertStringIncludes(lines[2]!, "2.50       ");
  assertEquals(lines[2]!.trim().endsWith("1-2"), true);
  assertEquals(lines[1]!.trim().endsWith(" 0"), true);
  assertStringIncludes(lines[3]!, "before 1.00 2.00 3.00, after 1.50 2.00 3.00");
});

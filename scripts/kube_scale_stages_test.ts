import { assertEquals } from "../test/assert.ts";
import {
  formatSampleStages,
  parseGcPauses,
  parseLoggedRuns,
  parseLoopStalls,
  sampleStages,
} from "./kube_scale_stages.ts";
import { formatLine } from "../src/log.ts";

const RUN_FIELDS = {
  at: 0,
  trigger: "cluster",
  kind: "incremental",
  durationMs: 300,
  computeMs: 40,
  lines: 12,
  changeToKernelMs: 350,
  waitMs: 50,
  viewMs: 5,
  compileMs: 35,
  renderMs: 10,
  nftMs: 250,
  startedAtMs: 60_000,
};

const LOG = [
  formatLine("info", "Applied a slow policy update", RUN_FIELDS, new Date(1_000_300)),
  formatLine("info", "The event loop was held", { heldMs: 150, endedAtMs: 1 }, new Date(1_000_450)),
  formatLine("debug", "Applied a policy update", { ...RUN_FIELDS, nftMs: 1 }, new Date(1_000_900)),
  "[5000:0x55e1ddf86000]    59990 ms: Scavenge 3.4 (4.4) -> 3.0 (5.2) MB, pooled: 0.0 MB, 1.13 / 0.00 ms (average mu = 1.000, current mu = 1.000) allocation failure; ",
  "[5022:0x560bbd747000]    60100 ms: Mark-Compact 46.5 (60.6) -> 2.2 (38.2) MB, pooled: 10.8 MB, 120.10 / 0.00 ms (average mu = 0.962, current mu = 0.876) testing; GC in old space requested",
  "[5022:0x560bbd747000]    90000 ms: Incremental Mark-Compact (reduce) 26.5 (56.4) -> 7.9 (37.8) MB, 2.93 / 0.00 ms (+ 1.3 ms in 38 steps since start of marking)",
].join("\n");

Deno.test("parseLoggedRuns() reads the slow and whole runs' stages, not the fast ones at debug", () => {
  const runs = parseLoggedRuns(LOG);
  assertEquals(runs.length, 1);
  assertEquals(runs[0], {
    endAt: 1_000_300,
    durationMs: 300,
    changeToKernelMs: 350,
    waitMs: 50,
    viewMs: 5,
    compileMs: 35,
    renderMs: 10,
    nftMs: 250,
    startedAtMs: 60_000,
    lines: 12,
  });
});

Deno.test("parseLoopStalls() reads when each stall ended and how long it held the loop", () => {
  assertEquals(parseLoopStalls(LOG), [{ endAt: 1_000_450, heldMs: 150 }]);
});

Deno.test("parseGcPauses() reads each collection's time, kind, pause and marking steps", () => {
  assertEquals(parseGcPauses(LOG), [
    { atMs: 59_990, kind: "Scavenge", pauseMs: 1.13 },
    { atMs: 60_100, kind: "Mark-Compact", pauseMs: 120.1 },
    { atMs: 90_000, kind: "Incremental Mark-Compact (reduce)", pauseMs: 2.93, markingMs: 1.3 },
  ]);
});

Deno.test("sampleStages() splits a slow sample by the run that holds its commit, with the collections meanwhile", () => {
  const runs = parseLoggedRuns(LOG);
  const stages = sampleStages(
    [
      { kind: "pod", writeAt: 999_900, commitAt: 1_000_290 }, // run 1_000_000..1_000_300
      { kind: "pod", writeAt: 999_000, commitAt: 999_050 }, // fast: left out
      { kind: "policy", writeAt: 1_000_400, commitAt: 1_000_890 }, // no slow run holds it
      { kind: "policy", writeAt: 1_000_400, commitAt: undefined }, // lost
    ],
    runs,
    parseGcPauses(LOG),
    100,
    parseLoopStalls(LOG),
  );
  assertEquals(stages, [
    {
      kind: "pod",
      totalMs: 390,
      heldMs: 0,
      run: {
        beforeRunMs: 100,
        waitMs: 50,
        viewMs: 5,
        compileMs: 35,
        renderMs: 10,
        nftMs: 250,
        // The process clock 59 900..60 290: the scavenge and the mark-compact, not the last one.
        gcMs: 121.23,
        gcMaxMs: 120.1,
      },
    },
    // The loop was held 1 000 300..1 000 450: 50 ms of it after the write.
    { kind: "policy", totalMs: 490, heldMs: 50 },
  ]);
  const text = formatSampleStages(stages);
  assertEquals(text.length, 3);
  assertEquals(text[1]!.includes("policy"), true); // slowest first
  assertEquals(text[2]!.includes("nft 250; gc 121 (max 120)"), true);
});

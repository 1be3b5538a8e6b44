import { assertEquals } from "../test/assert.ts";
import {
  formatSampleStages,
  parseGcPauses,
  parseLoggedRuns,
  parseLoopStalls,
  sampleStages,
  untangleLog,
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

Deno.test("untangleLog() cuts ternd's lines out of V8's, as written in the middle of one", () => {
  const gc =
    "[5022:0x560bbd747000]    95539 ms: Incremental Mark-Compact 292.1 (344.9) -> 192.4 (341.3) MB, pooled: 0.0 MB, 31.75 / 0.00 ms (+ 292.1 ms in 261 steps since start of marking)";
  const stall = formatLine(
    "info",
    "The event loop was held",
    { heldMs: 148, endedAtMs: 95_555 },
    new Date(1_000_450),
  );
  const run = formatLine("info", "Applied a slow policy update", RUN_FIELDS, new Date(1_000_500));
  // V8's buffer went out after "pooled: 0."; ternd's two lines came next, then V8's rest.
  const cut = gc.indexOf("0.0 MB, 31") + 2;
  const log = [`${gc.slice(0, cut)}${stall}`, run, gc.slice(cut), ""].join("\n");
  assertEquals(untangleLog(log), { ternd: [stall, run], v8: [gc, ""] });
  assertEquals(parseLoopStalls(log), [{ endAt: 1_000_450, heldMs: 148 }]);
  assertEquals(parseLoggedRuns(log).map((r) => r.endAt), [1_000_500]);
  assertEquals(parseGcPauses(log), [
    { atMs: 95_539, kind: "Incremental Mark-Compact", pauseMs: 31.75, markingMs: 292.1 },
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

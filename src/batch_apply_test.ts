import { assertEquals } from "../test/assert.ts";
import { Ip } from "./ip.ts";
import type { Runner, RunResult } from "./runner.ts";
import { alreadyDone, applyLines, parseBatchFailures } from "./batch_apply.ts";

function runner(answer: (stdin: string) => Partial<RunResult>) {
  const stdins: string[] = [];
  const argvs: string[] = [];
  const run: Runner = (argv, options) => {
    argvs.push(argv.join(" "));
    stdins.push(options?.stdin ?? "");
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...answer(options?.stdin ?? "") });
  };
  return { run, stdins, argvs };
}

Deno.test("parseBatchFailures() gives each reported line the message printed before it", () => {
  const lines = ["route replace a", "rule add b", "route del c", "rule del d"];
  assertEquals(
    parseBatchFailures(
      'Cannot find device "x"\nCommand failed -:1\nRTNETLINK answers: No such process\nCommand failed -:3\n',
      lines,
    ),
    [
      { index: 0, line: "route replace a", error: 'Cannot find device "x"' },
      { index: 2, line: "route del c", error: "RTNETLINK answers: No such process" },
    ],
  );
  assertEquals(parseBatchFailures("Killed\n", lines), undefined);
  assertEquals(parseBatchFailures("Command failed -:9\n", lines), undefined);
});

Deno.test("alreadyDone() accepts an existing rule to add and a missing entry to delete, nothing else", () => {
  assertEquals(
    alreadyDone("rule add to 10.0.0.1/32 lookup 254", "RTNETLINK answers: File exists"),
    true,
  );
  assertEquals(
    alreadyDone("route del 10.0.0.0/24 table 254", "RTNETLINK answers: No such process"),
    true,
  );
  assertEquals(
    alreadyDone("rule del from 10.0.0.1/32", "RTNETLINK answers: No such file or directory"),
    true,
  );
  assertEquals(
    alreadyDone("route replace 10.0.0.0/24 via x", "RTNETLINK answers: File exists"),
    false,
  );
  assertEquals(alreadyDone("route replace 10.0.0.0/24 dev x", 'Cannot find device "x"'), false);
  assertEquals(
    alreadyDone("rule add to 10.0.0.1/32", "RTNETLINK answers: Operation not permitted"),
    false,
  );
});

Deno.test("applyLines() runs everything in one ip -force -batch and reports only real failures", async () => {
  const { run, argvs } = runner(() => ({
    code: 1,
    stderr: "RTNETLINK answers: File exists\nCommand failed -:1\n" +
      "Error: Nexthop has invalid gateway.\nCommand failed -:2\n",
  }));
  const out = await applyLines(new Ip(run), ["rule add x", "route replace y", "route del z"]);
  assertEquals(out, {
    failed: [{ index: 1, line: "route replace y", error: "Error: Nexthop has invalid gateway." }],
    runs: 1,
    lineByLine: false,
  });
  assertEquals(argvs, ["ip -force -batch -"]);
});

Deno.test("applyLines() falls back to one line at a time when the failure names no line", async () => {
  const { run, stdins } = runner((stdin) =>
    stdin.split("\n").length > 2
      ? { code: 137, stderr: "" }
      : stdin.startsWith("route replace y")
      ? { code: 1, stderr: "RTNETLINK answers: Invalid argument\nCommand failed -:1\n" }
      : stdin.startsWith("route del")
      ? { code: 1, stderr: "RTNETLINK answers: No such process\nCommand failed -:1\n" }
      : {}
  );
  const out = await applyLines(new Ip(run), ["rule add x", "route replace y", "route del z"]);
  assertEquals(out, {
    failed: [{ index: 1, line: "route replace y", error: "RTNETLINK answers: Invalid argument" }],
    runs: 4,
    lineByLine: true,
  });
  assertEquals(stdins.slice(1), ["rule add x\n", "route replace y\n", "route del z\n"]);
});

Deno.test("applyLines() runs nothing for no lines", async () => {
  const { run, argvs } = runner(() => ({}));
  assertEquals(await applyLines(new Ip(run), []), { failed: [], runs: 0, lineByLine: false });
  assertEquals(argvs, []);
});

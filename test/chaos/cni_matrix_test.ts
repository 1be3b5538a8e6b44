import { assertEquals } from "../assert.ts";
import { fakeDaemon, fakePodLinks, fakeRunner } from "../../plugin/_testing.ts";
import { runSkel } from "../../plugin/skel.ts";
import { silentLogger } from "../../src/log.ts";
import { type CniCase, cniMatrix, judge, matrixSize, type Outcome } from "./cni_matrix.ts";

const TARGET = {
  daemonSocket: "/run/tern/ternd.sock",
  netns: "/var/run/netns/matrix",
  missingNetns: "/var/run/netns/gone",
  containerPrefix: "matrix",
};

/** One case through the plugin's whole protocol path, with a fake daemon and a fake `ip`. */
async function runFake(c: CniCase): Promise<Outcome> {
  const daemon = fakeDaemon();
  const runner = fakeRunner();
  const links = fakePodLinks();
  let stdout = "";
  const exitCode = await runSkel({
    env: c.env,
    readStdin: () => Promise.resolve(c.stdin),
    writeStdout: (text) => void (stdout += text),
    runner,
    podLinks: links,
    daemon: () => daemon,
    netnsExists: (path) => path === TARGET.netns,
    logger: () => silentLogger,
    podMac: "0a:58:0a:f4:01:07",
  });
  return {
    exitCode,
    stdout,
    acted: daemon.calls.length > 0 || runner.calls.length > 0 || links.calls.length > 0,
  };
}

Deno.test("the CNI spec matrix: every case gets its spec error or passes, and invalid ones act on nothing", async () => {
  const failures: string[] = [];
  const byFault = new Map<string, number>();
  let cases = 0;
  const byExpect = new Map<string, number>();
  for (const c of cniMatrix(TARGET)) {
    cases++;
    const key = c.expect.kind === "valid" ? "valid" : `code ${c.expect.code}`;
    byExpect.set(key, (byExpect.get(key) ?? 0) + 1);
    const problems = judge(c, await runFake(c));
    if (problems.length > 0) {
      failures.push(`${c.name}: ${problems.join("; ")}`);
      byFault.set(c.fault, (byFault.get(c.fault) ?? 0) + 1);
    }
  }
  assertEquals(cases, matrixSize().cases);
  assertEquals(
    [...byFault],
    [],
    `${failures.length} of ${cases} cases failed, e.g. ${failures[0]}`,
  );
  // Every spec code the plugin can give for its input is exercised.
  for (const key of ["valid", "code 1", "code 2", "code 4", "code 6", "code 7"]) {
    assertEquals(byExpect.has(key), true, `no case expects ${key}`);
  }
});

Deno.test("the CNI spec matrix judges a wrong code, a non-JSON answer and an invalid input acted on", () => {
  const [c] = [...cniMatrix(TARGET, { select: (i) => i === 1 })];
  assertEquals(c!.expect, { kind: "error", code: 4 });
  const answer = (code: number) => JSON.stringify({ cniVersion: "0.3.0", code, msg: "m" });
  assertEquals(judge(c!, { exitCode: 1, stdout: answer(4), acted: false }), []);
  assertEquals(judge(c!, { exitCode: 1, stdout: answer(7), acted: false }).length, 1);
  assertEquals(judge(c!, { exitCode: 1, stdout: "oops", acted: false }).length, 2);
  assertEquals(judge(c!, { exitCode: 1, stdout: answer(4), acted: true }).length, 1);
});

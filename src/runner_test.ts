import { assertEquals, assertRejects } from "../test/assert.ts";
import { denoRunner, runResultOf } from "./runner.ts";

Deno.test("runResultOf() gives a command's exit code and both outputs as text", async () => {
  const out = await new Deno.Command("sh", {
    args: ["-c", "printf 'é out'; printf 'err' >&2; exit 3"],
    stdin: "null",
  }).output();
  assertEquals(runResultOf(out), { code: 3, stdout: "é out", stderr: "err" });
});

Deno.test("denoRunner feeds stdin and reports a missing executable as exit 127", async () => {
  assertEquals(await denoRunner(["cat"], { stdin: "fed" }), { code: 0, stdout: "fed", stderr: "" });
  assertEquals((await denoRunner(["tern-no-such-command"])).code, 127);
  assertEquals((await denoRunner(["tern-no-such-command"], { stdin: "fed" })).code, 127);
});

Deno.test("denoRunner reads the output while it feeds stdin, so a large echo cannot block", async () => {
  const input = "0123456789abcdef".repeat(64 * 1024); // 1 MiB: far beyond a pipe's buffer
  const result = await denoRunner(["cat"], { stdin: input });
  assertEquals(result.code, 0);
  assertEquals(result.stdout.length, input.length);
  assertEquals(result.stdout === input, true);
});

Deno.test("denoRunner gives the exit code and stderr of a command that fails before reading stdin", async () => {
  const result = await denoRunner(["sh", "-c", "echo refused >&2; exit 3"], {
    stdin: "x".repeat(1024 * 1024),
  });
  assertEquals(result, { code: 3, stdout: "", stderr: "refused\n" });
});

Deno.test("denoRunner throws when a command exits 0 without taking its input", async () => {
  await assertRejects(() => denoRunner(["true"], { stdin: "x".repeat(1024 * 1024) }));
});

Deno.test("denoRunner fed on stdin does not keep native memory run after run", async () => {
  // The old runner (spawn().output()) grew by ~120 MiB over its first 1 000 runs and kept it;
  // this one grows like Command.output() without input (~20 MiB per 1 000 while the allocator
  // warms up, then flat). A child process with --expose-gc, so garbage does not count.
  const probe = new URL("../scripts/runner_rss_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", probe, "--variant", "runner", "--runs", "2000"],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const { mibPer1000 } = JSON.parse(text) as { mibPer1000: number };
  assertEquals(mibPer1000 < 50, true, `grew ${mibPer1000} MiB per 1 000 runs: ${text}`);
});

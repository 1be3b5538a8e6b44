import { assertEquals } from "../test/assert.ts";
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
});

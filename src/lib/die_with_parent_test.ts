import { assert, assertEquals } from "../../test/assert.ts";
import { dieWithParentArgv, ORPHAN_EXIT_CODE } from "./die_with_parent.ts";

/** Whether `pid` still runs (a zombie waiting for its reaper has ended). */
async function running(pid: number): Promise<boolean> {
  try {
    return !/^State:\s+Z/m.test(await Deno.readTextFile(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

async function output(argv: string[]): Promise<{ code: number; stdout: string }> {
  const [cmd, ...args] = argv;
  const out = await new Deno.Command(cmd!, { args, stdin: "null", stdout: "piped" }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("dieWithParentArgv() runs the command unchanged, arguments with blanks and all", async () => {
  const out = await output(dieWithParentArgv(["printf", "%s|", "a b", "$c", ""], Deno.pid));
  assertEquals(out, { code: 0, stdout: "a b|$c||" });
});

Deno.test("dieWithParentArgv() does not start the command when its parent is not the daemon", async () => {
  const out = await output(dieWithParentArgv(["echo", "started"], Deno.pid + 1_000_000));
  assertEquals(out, { code: ORPHAN_EXIT_CODE, stdout: "" });
});

Deno.test("a child started through dieWithParentArgv() dies when its parent is killed with SIGKILL", async () => {
  // A shell stands in for the daemon: it starts two sleeps, one wrapped and one bare, and is
  // then killed with SIGKILL, which lets it run no cleanup. The wrapped command is quoted for the
  // shell, so the parent pid (0 below) becomes the shell's own, "$$".
  const quote = (a: string) => a === "0" ? '"$$"' : `'${a.replaceAll("'", "'\\''")}'`;
  const wrapped = dieWithParentArgv(["sleep", "300"], 0).map(quote).join(" ");
  const parent = new Deno.Command("sh", {
    args: ["-c", `${wrapped} & echo $!; sleep 300 & echo $!; wait`],
    stdin: "null",
    stdout: "piped",
  }).spawn();
  const reader = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (text.split("\n").length < 3) text += (await reader.read()).value ?? "";
  const [child, bare] = text.trim().split("\n").map(Number) as [number, number];
  try {
    assert(await running(child), "the wrapped child runs while its parent does");
    parent.kill("SIGKILL");
    await parent.status;
    const deadline = Date.now() + 2_000;
    while (await running(child) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert(!await running(child), "the wrapped child ended within 2 s of its parent");
    assert(await running(bare), "a bare child outlives its parent (what the wrapper prevents)");
  } finally {
    reader.releaseLock();
    await parent.stdout.cancel().catch(() => {});
    for (const pid of [child, bare]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
});

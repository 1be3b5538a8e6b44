/**
 * Kernel test: ternd killed with SIGKILL leaves no process behind in its node's namespace (its
 * `ip monitor` and every other child die with it). Needs root.
 */
import { assert, assertEquals } from "./assert.ts";
import { Sandbox } from "./sandbox.ts";
import { denoRunner } from "../src/runner.ts";

/** The processes running in `netns` (zombies, which have ended, do not show). */
async function netnsPids(netns: string): Promise<number[]> {
  const out = await denoRunner(["ip", "netns", "pids", netns]);
  return out.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
}

/** The command line of `pid`, or "" when it is gone. */
async function cmdline(pid: number): Promise<string> {
  return await Deno.readTextFile(`/proc/${pid}/cmdline`).then(
    (t) => t.replaceAll("\0", " ").trim(),
    () => "",
  );
}

Deno.test("ternd killed with SIGKILL takes its monitor children with it within 2 s", async () => {
  const sb = await Sandbox.create();
  try {
    const node = await sb.addNode("n1", { podCIDR: "10.244.1.0/24" });
    await sb.startDaemon(node);
    const daemon = node.daemon!.pid;
    const children = (await netnsPids(node.netns)).filter((pid) => pid !== daemon);
    const lines = await Promise.all(children.map(cmdline));
    assert(
      lines.some((l) => / monitor route rule link$/.test(l)),
      `ip monitor runs beside ternd: ${lines.join("; ")}`,
    );
    await sb.stopDaemon(node, "SIGKILL");
    const deadline = Date.now() + 2_000;
    let left = await netnsPids(node.netns);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      left = await netnsPids(node.netns);
    }
    assertEquals(
      await Promise.all(left.map(async (pid) => `${pid} ${await cmdline(pid)}`)),
      [],
      "no process is left in the node's namespace",
    );
  } finally {
    await sb.cleanup();
  }
});

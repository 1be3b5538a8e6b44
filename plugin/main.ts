/**
 * The CNI plugin role's entry point: wires the real edges (process environment, stdin, stdout,
 * `Deno.Command`, rtnetlink sockets, the daemon's Unix socket, stderr or file logging) into {@linkcode runSkel}.
 * Its module graph is kept to `src/` files without dependencies: it runs on every pod's start.
 * @module
 */
import { DaemonClient } from "../src/daemon_client.ts";
import { concatBytes } from "../src/lib/bytes.ts";
import { createLogger } from "../src/log.ts";
import { NetlinkPodLinks } from "../src/pod_links.ts";
import { Rtnetlink } from "../src/rtnetlink.ts";
import { denoRunner } from "../src/runner.ts";
import { runSkel } from "./skel.ts";

/**
 * All of stdin, read with blocking reads: `new Response(Deno.stdin.readable).text()` loads the
 * fetch and streams machinery, about 6 ms of every CNI call.
 */
function readStdin(): Promise<Uint8Array> {
  if (Deno.stdin.isTerminal()) return Promise.resolve(new Uint8Array());
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = Deno.stdin.readSync(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.slice(0, n));
  }
  return Promise.resolve(concatBytes(chunks));
}

function netnsExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs the plugin for this process (`CNI_COMMAND` is set); returns the exit code. */
export function runPlugin(): Promise<number> {
  const encoder = new TextEncoder();
  return runSkel({
    env: Deno.env.toObject(),
    readStdin,
    writeStdout: (text) => {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    },
    runner: denoRunner,
    // libc is loaded and sockets opened only when ADD or DEL first uses them.
    podLinks: new NetlinkPodLinks(new Rtnetlink()),
    // Each request says its command and the time so far: the daemon measures the command.
    daemon: (socketPath, options) =>
      new DaemonClient(socketPath, { ...options, cniCommand: Deno.env.get("CNI_COMMAND") }),
    netnsExists,
    logger: (options) => createLogger({ ...options, component: "plugin" }),
  });
}

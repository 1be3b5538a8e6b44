/**
 * The no-NAT proof for kernel tests and the demo: {@linkcode startPeerEcho} runs a server in a
 * namespace that answers each TCP connection with the source address it saw
 * (`peer_echo_server.ts`, on the same Deno binary); {@linkcode askPeer} connects from another
 * namespace with bash's `/dev/tcp` and returns that address. When pod A asks pod B and gets A's
 * own pod address back, nothing on the way rewrote it.
 * @module
 */
import { killChild } from "../src/lib/kill_child.ts";
import type { Sandbox } from "./sandbox.ts";

/** The port the echo servers listen on. */
export const PEER_ECHO_PORT = 7777;

const SERVER = new URL("./peer_echo_server.ts", import.meta.url).pathname;

/** A running echo server; `stop()` kills it and waits. */
export interface PeerEcho {
  netns: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts an echo server in `netns` and resolves once it listens. `port` defaults to
 * {@linkcode PEER_ECHO_PORT}; `timeoutMs` (default 10000) bounds the wait.
 */
export async function startPeerEcho(
  netns: string,
  options: { port?: number; timeoutMs?: number } = {},
): Promise<PeerEcho> {
  const port = options.port ?? PEER_ECHO_PORT;
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      netns,
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-net",
      SERVER,
      `${port}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stop = async () => {
    await killChild(child);
  };
  const reader = child.stdout.getReader();
  const timeout = new Promise<"timeout">((r) => {
    const t = setTimeout(() => r("timeout"), options.timeoutMs ?? 10_000);
    child.status.finally(() => clearTimeout(t));
  });
  let seen = "";
  while (!seen.includes("listening")) {
    const next = await Promise.race([reader.read(), timeout]);
    if (next === "timeout" || next.done) {
      await stop();
      const err = await new Response(child.stderr).text().catch(() => "");
      throw new Error(`Peer echo server in ${netns} did not start: ${seen}${err}`.trim());
    }
    seen += new TextDecoder().decode(next.value);
  }
  // Keep draining so the server never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  child.stderr.cancel().catch(() => {});
  return { netns, port, stop };
}

/**
 * Connects from `netns` to `ip`:`port` and returns the address the server reported, or
 * undefined when the connection failed within `timeoutS` (default 3).
 */
export async function askPeer(
  sb: Sandbox,
  netns: string,
  ip: string,
  options: { port?: number; timeoutS?: number } = {},
): Promise<string | undefined> {
  const port = options.port ?? PEER_ECHO_PORT;
  const script = `exec 3<>/dev/tcp/${ip}/${port} && cat <&3`;
  const out = await sb.exec(netns, [
    "timeout",
    String(options.timeoutS ?? 3),
    "bash",
    "-c",
    script,
  ]);
  const seen = out.stdout.trim();
  return out.code === 0 && seen ? seen : undefined;
}

/**
 * Reachability matrices for kernel tests and the demo: every endpoint (a pod or a node: a
 * namespace and an address) tries every other. {@linkcode pingMatrix} asks with one ping;
 * {@linkcode sourceMatrix} asks the receiver which source address it saw (see `peer_echo.ts`),
 * which also proves there is no NAT. {@linkcode formatMatrix} is pure.
 * @module
 */
import { pooled } from "../src/lib/pooled.ts";
import type { Sandbox } from "./sandbox.ts";
import { askPeer } from "./peer_echo.ts";

/** Something that sends and receives: its label, namespace and address. */
export interface Endpoint {
  name: string;
  netns: string;
  ip: string;
}

/** One cell: `from` tried `to`. `seen` is the source the receiver saw, for source matrices. */
export interface Cell {
  from: string;
  to: string;
  ok: boolean;
  seen?: string | undefined;
}

function pairs(endpoints: Endpoint[]): [Endpoint, Endpoint][] {
  return endpoints.flatMap((a) =>
    endpoints.filter((b) => b.netns !== a.netns).map((b) => [a, b] as [Endpoint, Endpoint])
  );
}

/** Every endpoint pings every other once (`concurrency` at a time, default 8). */
export function pingMatrix(
  sb: Sandbox,
  endpoints: Endpoint[],
  options: { concurrency?: number; timeoutS?: number } = {},
): Promise<Cell[]> {
  return pooled(pairs(endpoints), options.concurrency ?? 8, async ([a, b]) => ({
    from: a.name,
    to: b.name,
    ok: await sb.ping(a.netns, b.ip, options.timeoutS ?? 1),
  }));
}

/**
 * Every endpoint connects to every other's echo server; a cell is ok when the receiver saw the
 * sender's own address (no NAT). The receivers must run `startPeerEcho`.
 */
export function sourceMatrix(
  sb: Sandbox,
  endpoints: Endpoint[],
  options: { concurrency?: number; port?: number } = {},
): Promise<Cell[]> {
  return pooled(pairs(endpoints), options.concurrency ?? 8, async ([a, b]) => {
    const seen = await askPeer(sb, a.netns, b.ip, options.port ? { port: options.port } : {});
    return { from: a.name, to: b.name, ok: seen === a.ip, seen };
  });
}

/**
 * The matrix as text: a header of targets, one row per sender, `ok`, `FAIL` (or the address the
 * receiver saw, when it was not the sender's) and `-` on the diagonal.
 */
export function formatMatrix(
  names: string[],
  cells: Cell[],
  options: { width?: number; blocked?: string } = {},
) {
  const width = options.width ?? Math.max(9, ...names.map((n) => n.length + 1));
  const byPair = new Map(cells.map((c) => [`${c.from}\u0000${c.to}`, c]));
  const lines = [["from \\ to", ...names].map((h) => h.padEnd(width)).join(" ").trimEnd()];
  for (const from of names) {
    const row = [from];
    for (const to of names) {
      const cell = byPair.get(`${from}\u0000${to}`);
      row.push(
        !cell ? "-" : cell.ok ? "ok" : cell.seen ? `saw ${cell.seen}` : options.blocked ?? "FAIL",
      );
    }
    lines.push(row.map((c) => c.padEnd(width)).join(" ").trimEnd());
  }
  return lines.join("\n");
}

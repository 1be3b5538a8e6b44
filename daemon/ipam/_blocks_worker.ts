/**
 * One node of `blocks_processes_test.ts`, run as its own process: the allocator of
 * `ipam.mode: blocks` on its own Deno KV file, with its warm pool and {@linkcode BlockClaimer}
 * talking to the test's fake API server, wired as the daemon wires them. It prints `ready` once
 * started, waits for a line on stdin (the test releases every worker at once), then allocates
 * addresses until the cluster's pool has no block left, tries one more claim straight through
 * the claimer, and prints one JSON line: a {@linkcode WorkerReport}.
 *
 * Usage: `deno run -A --unstable-kv _blocks_worker.ts <api-url> <node-name> <kv-path>`
 * @module
 */
import { BlockClaimer, PoolExhaustedError } from "../../src/ipam/block_claimer.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { openBlocksIpam } from "./ipam_blocks.ts";

/** Most addresses one worker asks for: the test's whole pool, so it always runs out first. */
const MAX_ALLOCATIONS = 256;

/** An error as the worker saw it. */
export interface WorkerError {
  name: string;
  message: string;
}

/** What one worker printed after its run. */
export interface WorkerReport {
  node: string;
  /** The blocks its warm pool owns at the end. */
  blocks: string[];
  /** The addresses `allocate()` handed out, with the block each came from. */
  allocated: { ip: string; block: string }[];
  /** The addresses its KV database holds at the end (`["ip", addr]` keys). */
  stored: string[];
  /** The error that ended the allocations. */
  allocateError: WorkerError | undefined;
  /** The claim tried after that: an error, or the block it (wrongly) got. */
  lastClaim: { error: WorkerError; exhausted: boolean } | { claimed: string };
}

function describeError(err: unknown): WorkerError {
  return err instanceof Error
    ? { name: err.name, message: err.message }
    : { name: "unknown", message: String(err) };
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<void> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) return;
  }
  throw new Error("Cannot start: stdin closed before the go line");
}

async function main(args: string[]): Promise<void> {
  const [server, node, kvPath] = args;
  if (server === undefined || node === undefined || kvPath === undefined) {
    throw new Error(
      `Cannot start: usage: _blocks_worker.ts <api-url> <node-name> <kv-path>: got ${
        args.join(" ")
      }`,
    );
  }
  const kv = await Deno.openKv(kvPath);
  // 50 processes on two cores: a request may wait long for its turn, a claim's create too.
  const client = new KubeClient(
    { server, caCerts: [], namespace: "default", origin: "worker" },
    { requestTimeoutMs: 20_000 },
  );
  const claimer = new BlockClaimer(client, { nodeName: node, requestTimeoutMs: 20_000 });
  const { ipam, pool } = await openBlocksIpam(kv, claimer, {
    // No warm target: every block is claimed by an ADD that found no free address.
    targets: { warmIPTarget: 0, minimumIPTarget: 0, maxBlocks: 16, releaseCooldownMs: 600_000 },
    intervalMs: 600_000,
  });
  try {
    await pool.start();
    console.log("ready");
    await firstLine(Deno.stdin.readable);
    const allocated: WorkerReport["allocated"] = [];
    let allocateError: WorkerError | undefined;
    for (let i = 0; i < MAX_ALLOCATIONS && allocateError === undefined; i++) {
      try {
        const { endpoint } = await ipam.allocate({
          containerID: `${node}-pod${i}`,
          ifname: "eth0",
          network: "tern",
          netns: `/var/run/netns/${node}-pod${i}`,
        });
        allocated.push({ ip: endpoint.ip, block: endpoint.podCIDR });
      } catch (err) {
        allocateError = describeError(err);
      }
    }
    let lastClaim: WorkerReport["lastClaim"];
    try {
      const block = await claimer.claim(await claimer.pools(), { nodeLabels: {} });
      lastClaim = { claimed: block.cidr };
    } catch (err) {
      lastClaim = { error: describeError(err), exhausted: err instanceof PoolExhaustedError };
    }
    const stored: string[] = [];
    for await (const entry of kv.list({ prefix: ["ip"] })) stored.push(String(entry.key[1]));
    const report: WorkerReport = {
      node,
      blocks: pool.blocks().map((b) => b.cidr),
      allocated,
      stored,
      allocateError,
      lastClaim,
    };
    console.log(JSON.stringify(report));
  } finally {
    await pool.stop();
    client.close();
    kv.close();
  }
}

if (import.meta.main) await main(Deno.args);

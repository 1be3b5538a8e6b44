/**
 * Issue 14's cluster check with real processes: 50 daemons' allocators (plain processes, each
 * its own Deno KV file, see `_blocks_worker.ts`) released at once against one fake API server,
 * claiming from a pool of 16 blocks until it runs out. In-process tests share one event loop,
 * so their "concurrent" creates are interleaved by a single thread; here the requests really
 * arrive from 50 clients at once, as from 50 nodes.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";
import { startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import { blockAt, blockCount } from "../../src/ipam/block_cidrs.ts";
import { contains, formatCidr, parseCidr, parseIp } from "../../src/cidr.ts";
import { realClock, type TimerHandle } from "../../src/clock.ts";
import type { WorkerReport } from "./_blocks_worker.ts";

const WORKERS = 50;
const POOL = "10.244.0.0/24";
const BLOCK_SIZE = 28;
/** Starting 50 Deno processes on a busy 2-core machine takes 5–10 s; allow for a bad moment. */
const READY_MS = 60_000;
/** The run itself, once released. */
const RUN_MS = 30_000;

const worker = new URL("./_blocks_worker.ts", import.meta.url).pathname;

/** Resolves as `promise` does, or rejects after `ms` saying what was awaited. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: TimerHandle | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = realClock.setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    if (timer !== undefined) realClock.clearTimeout(timer);
  }
}

/** A worker process and its stdout as lines. */
interface Worker {
  node: string;
  child: Deno.ChildProcess;
  lines: AsyncIterator<string>;
  stderr: Promise<string>;
}

function spawnWorker(server: string, node: string, kvPath: string): Worker {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", worker, server, node, kvPath],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())
    [Symbol.asyncIterator]();
  const stderr = new Response(child.stderr).text();
  return { node, child, lines, stderr };
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, out) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) out.enqueue(line);
    },
    flush(out) {
      if (rest !== "") out.enqueue(rest);
    },
  });
}

async function nextLine(w: Worker): Promise<string> {
  const { value, done } = await w.lines.next();
  if (done) {
    throw new Error(`Worker ${w.node} ended its output early: stderr: ${await w.stderr}`);
  }
  return value;
}

Deno.test("50 daemon processes claiming from one pool at once: one owner per block, no address given twice, then a clear exhausted error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-blocks-procs-" });
  const fake = await startFakeApiServer({
    hostname: "127.0.0.1",
    port: 0,
    crds: ["ippools.tern.dev", "ipamblocks.tern.dev"],
  });
  fake.create({
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPPool",
    metadata: { name: "default" },
    spec: { cidr: POOL, blockSize: BLOCK_SIZE },
  } as never);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) {
      workers.push(spawnWorker(fake.url, `n${i}`, `${dir}/n${i}.kv`));
    }
    const ready = await within(
      Promise.all(workers.map((w) => nextLine(w))),
      READY_MS,
      `${WORKERS} workers to start`,
    );
    assertEquals(new Set(ready), new Set(["ready"]));
    // The barrier: every worker waits for this line, so their claims start together.
    const go = new TextEncoder().encode("go\n");
    await Promise.all(workers.map(async (w) => {
      const writer = w.child.stdin.getWriter();
      await writer.write(go);
      await writer.close();
    }));
    const reports = await within(
      Promise.all(workers.map(async (w) => {
        const report = JSON.parse(await nextLine(w)) as WorkerReport;
        const status = await w.child.status;
        assert(status.success, `worker ${w.node} failed: ${await w.stderr}`);
        return report;
      })),
      RUN_MS,
      `${WORKERS} workers' reports`,
    );

    // The API's view: one object per block, and the whole pool taken.
    const owners = new Map<string, string>();
    for (const o of fake.list({ apiVersion: "tern.dev/v1alpha1", kind: "IPAMBlock" })) {
      const spec = (o as unknown as { spec: { cidr: string; node: string } }).spec;
      assert(!owners.has(spec.cidr), `two IPAMBlocks for ${spec.cidr}`);
      owners.set(spec.cidr, spec.node);
    }
    const pool = parseCidr(POOL);
    const all = Array.from(
      { length: blockCount(pool, BLOCK_SIZE) },
      (_, i) => formatCidr(blockAt(pool, BLOCK_SIZE, i)),
    );
    assertEquals([...owners.keys()].sort(), all.sort(), "every block of the pool is claimed");

    // Each block reported by exactly the worker the API names as its owner.
    const reportedBy = new Map<string, string>();
    for (const r of reports) {
      for (const cidr of r.blocks) {
        assert(!reportedBy.has(cidr), `${cidr} reported by ${reportedBy.get(cidr)} and ${r.node}`);
        reportedBy.set(cidr, r.node);
        assertEquals(owners.get(cidr), r.node, `the API's owner of ${cidr}`);
      }
    }
    assertEquals(reportedBy.size, owners.size, "every claimed block is held by a worker");

    // No address twice, each in a block its worker owns, and as the worker's KV file records.
    const given = new Map<string, string>();
    for (const r of reports) {
      for (const { ip, block } of r.allocated) {
        assert(!given.has(ip), `${ip} given to ${given.get(ip)} and ${r.node}`);
        given.set(ip, r.node);
        assertEquals(owners.get(block), r.node, `${ip}'s block ${block} is ${r.node}'s`);
        assert(contains(parseCidr(block), parseIp(ip)), `${ip} lies in ${block}`);
      }
      assertEquals(r.stored.sort(), r.allocated.map((a) => a.ip).sort(), `${r.node}'s KV`);
    }
    // A worker stops only when it has no free address and no block is left: all 256 are used.
    assertEquals(given.size, all.length * 2 ** (32 - BLOCK_SIZE));

    // Every worker ran out with the pool's exhaustion as the reason, and claims no more.
    for (const r of reports) {
      assertEquals(r.allocateError?.name, "IpamExhaustedError", r.node);
      assertStringIncludes(r.allocateError?.message ?? "", `No free block for node ${r.node}`);
      assert("error" in r.lastClaim, `${r.node} claimed ${JSON.stringify(r.lastClaim)}`);
      assert(r.lastClaim.exhausted, `${r.node}: ${r.lastClaim.error.message}`);
      assertEquals(r.lastClaim.error.name, "PoolExhaustedError");
    }
  } finally {
    for (const w of workers) {
      try {
        w.child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await w.child.status;
      // Never released (a worker did not start): its stdin is still open.
      if (!w.child.stdin.locked) await w.child.stdin.close().catch(() => {});
      await w.stderr.catch(() => "");
      await w.lines.return?.();
    }
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

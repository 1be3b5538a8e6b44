/**
 * Takes a V8 heap snapshot of a running Deno process through its inspector (DevTools protocol over
 * a WebSocket) and writes it to a file, for `scripts/heap_owners.ts` or Chrome's DevTools. This is
 * how the real ternd's heap is read at scale (docs/benchmarks.md, "What ternd's heap holds"): run
 * it with `TERND_INSPECT=127.0.0.1:9229` (the launcher opens the inspector there) and take the
 * snapshot from inside ternd's network namespace:
 *
 * `nsenter -t PID -n deno run -A scripts/heap_snapshot.ts --inspector 127.0.0.1:9229 --out FILE`
 *
 * V8 runs a full collection before it takes the snapshot, so the file holds what is live. The
 * process's loop is held while V8 writes it (seconds for a heap of 100 MiB).
 * @module
 */
import { parseArgs } from "node:util";

/** The first target's WebSocket address listed by the inspector at `hostPort` (`/json/list`). */
export async function inspectorTarget(hostPort: string): Promise<string> {
  const response = await fetch(`http://${hostPort}/json/list`);
  const targets = await response.json() as { webSocketDebuggerUrl?: string }[];
  const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
  if (url === undefined) {
    throw new Error(`No inspector target at ${hostPort}: /json/list listed none with a WebSocket`);
  }
  return url;
}

/**
 * Streams the heap snapshot of the target at `wsUrl` into `out`; returns the bytes written.
 * `HeapProfiler.takeHeapSnapshot` sends the JSON as `addHeapSnapshotChunk` events, then answers.
 */
export async function takeHeapSnapshot(wsUrl: string, out: string): Promise<number> {
  const file = await Deno.open(out, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let written = 0;
  let writing = Promise.resolve();
  try {
    const socket = new WebSocket(wsUrl);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to the inspector: ${wsUrl}`));
    });
    const done = new Promise<void>((resolve, reject) => {
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data as string);
        if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
          const bytes = encoder.encode(message.params.chunk);
          written += bytes.length;
          writing = writing.then(async () => {
            for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
          });
        } else if (message.id === 1) {
          if (message.error) {
            reject(new Error(`The heap snapshot failed: ${JSON.stringify(message.error)}`));
          } else resolve();
        }
      };
      socket.onclose = () => reject(new Error("The inspector closed before the snapshot ended"));
    });
    socket.send(JSON.stringify({
      id: 1,
      method: "HeapProfiler.takeHeapSnapshot",
      params: { reportProgress: false },
    }));
    await done;
    await writing;
    socket.onclose = null;
    socket.close();
  } finally {
    file.close();
  }
  return written;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      inspector: { type: "string", default: "127.0.0.1:9229" },
      out: { type: "string" },
    },
  });
  if (values.out === undefined) {
    throw new Error("No --out: give the file to write the snapshot to");
  }
  const started = performance.now();
  const bytes = await takeHeapSnapshot(await inspectorTarget(values.inspector), values.out);
  console.error(
    `heap snapshot: ${values.out}, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
}

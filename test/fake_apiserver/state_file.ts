/**
 * The fake API server's state on disk, so that a fake run as a process can be killed and started
 * again with its objects and revision, as an API server restarts on etcd's data. The file is
 * newline-delimited JSON (a header, then one object a line), written to a temporary name and
 * renamed into place, so a crash mid-write leaves the previous state.
 * @module
 */

import type { Snapshot } from "./api_objects.ts";
import type { ResourceType } from "./resources.ts";

const FORMAT = "fake.tern.dev/state-v1";

/** Writes a snapshot to `path` atomically. */
export async function saveState(path: string, snap: Snapshot): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const writer = file.writable.getWriter();
  try {
    await writer.write(
      encoder.encode(JSON.stringify({ format: FORMAT, rv: snap.rv, crds: snap.crds }) + "\n"),
    );
    let batch = "";
    for (const o of snap.objects) {
      batch += JSON.stringify([o.resource, o.key, o.json]) + "\n";
      if (batch.length > 1 << 20) {
        await writer.write(encoder.encode(batch));
        batch = "";
      }
    }
    if (batch !== "") await writer.write(encoder.encode(batch));
    await writer.close();
  } catch (err) {
    await writer.abort().catch(() => {});
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  await Deno.rename(tmp, path);
}

/** Reads a snapshot from `path`; undefined when there is no file. A damaged file is an error. */
export async function loadState(path: string): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const lines = text.split("\n").filter((l) => l !== "");
  let header: { format?: string; rv?: number; crds?: ResourceType[] };
  try {
    header = JSON.parse(lines[0] ?? "{}");
  } catch {
    header = {};
  }
  if (header.format !== FORMAT || typeof header.rv !== "number" || !Array.isArray(header.crds)) {
    throw new Error(
      `Cannot read the fake API server's state from ${path}: the first line is not a ${FORMAT} header: delete the file to start empty`,
    );
  }
  const objects: Snapshot["objects"] = [];
  for (let i = 1; i < lines.length; i++) {
    try {
      const [resource, key, json] = JSON.parse(lines[i]!) as [string, string, string];
      objects.push({ resource, key, json });
    } catch {
      throw new Error(
        `Cannot read the fake API server's state from ${path}: line ${
          i + 1
        } is not a [resource, key, json] entry`,
      );
    }
  }
  return { rv: header.rv, crds: header.crds, objects };
}

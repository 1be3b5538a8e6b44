/**
 * The durable DEL queue: where the plugin leaves a release that `ternd` could not take (down,
 * restarting) so that DEL can still succeed and the pod does not stay in Terminating. The plugin
 * writes one file per attachment, only after it deleted the host veth (and with it the host
 * route), so nothing routes to the address any more; the daemon drains the directory at start
 * and on every sweep and releases an attachment only while its veth is absent and only if the
 * attachment is older than the queued DEL (a later ADD of the same identity is left alone).
 * Files are written to a temporary name, synced and renamed, so a reader never sees half a
 * record and a crash leaves either the whole record or none. Shared by the plugin and the
 * daemon; no dependencies (the plugin's start-up stays lean).
 * @module
 */

/** Where the queue lives when neither the netconf nor the daemon config names it. */
export const DEFAULT_RELEASE_QUEUE_DIR = "/var/lib/tern/release-queue";

/** One queued release. */
export interface QueuedRelease {
  containerID: string;
  ifname: string;
  /** The network (netconf `name`) the DEL was for. */
  network: string;
  /** When the plugin deleted the veth and queued this, ms since the epoch. */
  queuedAt: number;
}

/** The file name of an attachment's record: readable, and one per identity. */
export function queuedReleaseFile(id: { containerID: string; ifname: string }): string {
  return `${encodeURIComponent(id.containerID)}@${encodeURIComponent(id.ifname)}.json`;
}

/** Parses a record's text; undefined when it is not one (a damaged or foreign file). Pure. */
export function parseQueuedRelease(text: string): QueuedRelease | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (
    typeof r.containerID !== "string" || r.containerID === "" ||
    typeof r.ifname !== "string" || r.ifname === "" ||
    typeof r.network !== "string" || typeof r.queuedAt !== "number" ||
    !Number.isFinite(r.queuedAt)
  ) {
    return undefined;
  }
  return {
    containerID: r.containerID,
    ifname: r.ifname,
    network: r.network,
    queuedAt: r.queuedAt,
  };
}

/**
 * Writes `record` into `dir` (made 0700 if missing) durably: a temporary file, synced, renamed
 * over the attachment's record. Throws when it cannot (the caller then fails the DEL).
 */
export async function writeQueuedRelease(dir: string, record: QueuedRelease): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const name = queuedReleaseFile(record);
  const tmp = `${dir}/.${name}.${crypto.randomUUID()}.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(record) + "\n"));
    await file.sync();
  } finally {
    file.close();
  }
  try {
    await Deno.rename(tmp, `${dir}/${name}`);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** One file of the queue as read: its path and its record (undefined: not a record). */
export interface QueueEntry {
  path: string;
  record: QueuedRelease | undefined;
}

/** The records in `dir` (none when it does not exist); temporary files are skipped. */
export async function readQueuedReleases(dir: string): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || entry.name.startsWith(".") || !entry.name.endsWith(".json")) continue;
      const path = `${dir}/${entry.name}`;
      const text = await Deno.readTextFile(path).catch(() => undefined);
      if (text === undefined) continue; // drained by someone else meanwhile
      out.push({ path, record: parseQueuedRelease(text) });
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

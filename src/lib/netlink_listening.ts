/**
 * When a monitor is subscribed: `ip monitor` and `nft monitor` print nothing until the first
 * event, so their output cannot say when they listen. The kernel can: a netlink socket that
 * joined a multicast group shows a non-zero `Groups` in `/proc/<pid>/net/netlink` (the netlink
 * sockets of the process's network namespace), and the process holds it as `socket:[inode]` in
 * `/proc/<pid>/fd`. From then on every event is queued for it, read or not, so a caller that
 * waited for this cannot make a change the monitor misses.
 * @module
 */
import { type Clock, realClock, sleep } from "../clock.ts";

/**
 * The inodes of the netlink sockets in a `/proc/<pid>/net/netlink` listing that joined a
 * multicast group (`Groups` non-zero; groups past the 32nd do not show there).
 */
export function subscribedInodes(listing: string): Set<string> {
  const out = new Set<string>();
  const [header, ...rows] = listing.trim().split("\n");
  const columns = header?.trim().split(/\s+/) ?? [];
  const groups = columns.indexOf("Groups");
  const inode = columns.indexOf("Inode");
  if (groups < 0 || inode < 0) return out;
  for (const row of rows) {
    const fields = row.trim().split(/\s+/);
    const mask = fields[groups];
    const id = fields[inode];
    if (
      mask !== undefined && id !== undefined && /^[0-9a-f]+$/i.test(mask) && /[1-9a-f]/i.test(mask)
    ) {
      out.add(id);
    }
  }
  return out;
}

/** Whether process `pid` holds a netlink socket subscribed to a multicast group now. */
export async function netlinkSubscribed(pid: number, proc = "/proc"): Promise<boolean> {
  const subscribed = subscribedInodes(await Deno.readTextFile(`${proc}/${pid}/net/netlink`));
  if (subscribed.size === 0) return false;
  for await (const entry of Deno.readDir(`${proc}/${pid}/fd`)) {
    const target = await Deno.readLink(`${proc}/${pid}/fd/${entry.name}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && subscribed.has(inode)) return true;
  }
  return false;
}

/**
 * Resolves to true once process `pid` is subscribed ({@linkcode netlinkSubscribed}), polling
 * every `options.everyMs` (default 5); to false when `options.ended` settles first or `/proc`
 * cannot be read (the process is gone). Never rejects.
 */
export async function netlinkListening(
  pid: number,
  options: { ended?: Promise<unknown>; everyMs?: number; clock?: Clock; proc?: string } = {},
): Promise<boolean> {
  let ended = false;
  options.ended?.then(() => ended = true, () => ended = true);
  const clock = options.clock ?? realClock;
  while (!ended) {
    try {
      if (await netlinkSubscribed(pid, options.proc)) return true;
    } catch {
      return false;
    }
    await sleep(clock, options.everyMs ?? 5);
  }
  return false;
}

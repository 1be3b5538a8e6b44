/**
 * Where a process's resident memory lives, from `/proc/PID/smaps`: the soak uses it to tell
 * growth of malloc's heap (`[heap]`, glibc's main arena) from anonymous mappings (V8's pages,
 * other arenas, thread stacks) and from files (the KV database mapped by SQLite, libraries).
 * @module
 */

/** Resident memory of one process, grouped by the kind of mapping, KiB. */
export interface MemoryMap {
  /** `[heap]`: the brk heap of malloc's main arena. */
  heapKiB: number;
  /** Anonymous mappings with no name: V8's pages, other malloc arenas, large mallocs. */
  anonKiB: number;
  /** `[stack]` and other bracketed mappings besides `[heap]`. */
  otherKiB: number;
  /** File-backed mappings, by path. */
  files: Record<string, number>;
  /** Of all mappings, the anonymous part (smaps' `Anonymous:`), KiB. */
  anonymousTotalKiB: number;
}

const HEADER = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/;

/** Groups the `Rss:` of each mapping in an smaps text. Pure. */
export function parseSmaps(text: string): MemoryMap {
  const map: MemoryMap = { heapKiB: 0, anonKiB: 0, otherKiB: 0, files: {}, anonymousTotalKiB: 0 };
  let name: string | undefined;
  for (const line of text.split("\n")) {
    const header = HEADER.exec(line);
    if (header) {
      name = header[1]!.trim();
      continue;
    }
    if (name === undefined) continue;
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    const kib = Number(field[2]);
    if (field[1] === "Anonymous") {
      map.anonymousTotalKiB += kib;
    } else if (name === "[heap]") {
      map.heapKiB += kib;
    } else if (name === "") {
      map.anonKiB += kib;
    } else if (name.startsWith("[")) {
      map.otherKiB += kib;
    } else {
      map.files[name] = (map.files[name] ?? 0) + kib;
    }
  }
  return map;
}

/** The `limit` files with the most resident memory, largest first, as `path: KiB`. Pure. */
export function topFiles(map: MemoryMap, limit = 3): string[] {
  return Object.entries(map.files)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([path, kib]) => `${path}: ${kib}`);
}

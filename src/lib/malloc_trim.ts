/**
 * Gives glibc's free heap memory back to the kernel (`malloc_trim(0)`). Outside V8's heap, ternd's
 * runtime allocates with glibc's malloc (V8's compiler zones, TLS and HTTP buffers, SQLite), and
 * glibc keeps what is freed in the middle of its heap: in the hour-long soak the `[heap]` mapping
 * stepped from 28 to 49–55 MiB at a moment of heavy allocation and stayed there, and one
 * `malloc_trim(0)` (called into the live daemon with gdb) took it back to 14.5 MiB, the RSS from
 * 146 to 99 MiB: free memory held, not a leak. glibc's own trimming only returns the top of the heap.
 * Where libc is not glibc (no `malloc_trim`) or FFI is not allowed, there is nothing to call.
 * @module
 */

/** What one trim did. */
export interface Trimmed {
  /** Wall time of the call, ms. */
  ms: number;
  /** Resident memory before and after, bytes. */
  rssBefore: number;
  rssAfter: number;
}

/** glibc's `malloc_trim(pad)`: 1 when memory was released. */
export type MallocTrim = (pad: number) => number;

/** The same call made on a thread of the runtime's pool: the event loop goes on meanwhile. */
export type MallocTrimAsync = (pad: number) => Promise<number>;

const SYMBOLS = {
  malloc_trim: { parameters: ["usize"], result: "i32" },
  // A trim walks the free chunks of every arena: 1–45 ms on the soak's heap at load 15, so the
  // periodic one runs off the event loop (glibc locks each arena it trims).
  malloc_trim_nonblocking: {
    name: "malloc_trim",
    parameters: ["usize"],
    result: "i32",
    nonblocking: true,
  },
} as const;

type Glibc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let loaded: Glibc | null | undefined;
function glibc(): Glibc | null {
  if (loaded === undefined) {
    try {
      loaded = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/** glibc's `malloc_trim`, or undefined when there is none (musl, no FFI permission). */
export function loadMallocTrim(): MallocTrim | undefined {
  const libc = glibc();
  return libc === null ? undefined : (pad) => libc.malloc_trim(BigInt(pad));
}

/** {@linkcode loadMallocTrim}, called off the event loop. */
export function loadMallocTrimAsync(): MallocTrimAsync | undefined {
  const libc = glibc();
  return libc === null ? undefined : (pad) => libc.malloc_trim_nonblocking(BigInt(pad));
}

/** Runs `trim(0)` and measures it with `rss` (default this process's resident memory). */
export async function trimMalloc(
  trim: MallocTrim | MallocTrimAsync,
  rss: () => number = () => Deno.memoryUsage().rss,
): Promise<Trimmed> {
  const rssBefore = rss();
  const t = performance.now();
  await trim(0);
  const ms = performance.now() - t;
  return { ms, rssBefore, rssAfter: rss() };
}

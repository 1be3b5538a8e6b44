/**
 * Netlink sockets through libc over Deno's FFI (Deno has none of its own), for every in-process
 * netlink client: rtnetlink (`src/rtnetlink.ts`) and the nftables generation
 * (`src/nft_generation.ts`). This owns what they share: the libc symbols, opening a socket of a
 * protocol, sending a whole message and reading without waiting, `errno`, and entering a network
 * namespace around a socket's creation. A socket belongs to the namespace it was made in, so one
 * in another namespace is made by moving the calling thread there around `socket()` and straight
 * back, synchronously: nothing else runs on this thread meanwhile (JavaScript is single-threaded,
 * Deno's I/O runs on other threads, and each thread has its own namespace). If the thread cannot
 * move back, {@linkcode NetnsStrandedError} says so and the process must end. Each client loads
 * libc with {@linkcode NETLINK_SYMBOLS} and the few symbols of its own, so the plugin (rtnetlink
 * only) binds nothing it does not call.
 * @module
 */

/** `AF_NETLINK`: the address family, also the first field of `struct sockaddr_nl`. */
export const AF_NETLINK = 16;
/** `MSG_DONTWAIT`: a `recv` that returns at once when nothing is queued. */
export const MSG_DONTWAIT = 0x40;
/** Whether this host is little-endian (the byte order of every C struct netlink takes). */
export const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;

/** The errno values tern names in messages; others are shown by number. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  34: "ERANGE",
  95: "EOPNOTSUPP",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  105: "ENOBUFS",
};

/**
 * The libc symbols every netlink client calls; a client spreads them into its own set
 * (`{ ...NETLINK_SYMBOLS, bind: … }`) and loads that with {@linkcode loadLibc}.
 */
export const NETLINK_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** libc's functions as the helpers here call them: any loaded set with {@linkcode NETLINK_SYMBOLS}. */
export type NetlinkLibc = Deno.DynamicLibrary<typeof NETLINK_SYMBOLS>["symbols"];

/** Loads libc with `symbols`; throws when FFI is not allowed or libc cannot be found. */
export function loadLibc<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S> {
  return Deno.dlopen("libc.so.6", symbols);
}

/** The kernel refused a request, or a system call failed: `errno` says why. */
export class NetlinkError extends Error {
  /** The errno (positive). */
  readonly errno: number;

  /** `what` is the operation ("Cannot create veth …"); the errno and kernel text follow. */
  constructor(what: string, errno: number, kernelMessage?: string) {
    const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${what}: ${name}${kernelMessage ? ` (${kernelMessage})` : ""}`);
    this.name = "NetlinkError";
    this.errno = errno;
  }
}

/**
 * The calling thread entered a namespace and could not return: everything it does next would
 * happen in the wrong namespace. The process must end.
 */
export class NetnsStrandedError extends Error {
  /** `netns` is the namespace the thread is left in. */
  constructor(netns: string, errno: number) {
    super(
      `Cannot return from network namespace ${netns}: errno ${errno}: this thread stays there, the process must end`,
    );
    this.name = "NetnsStrandedError";
  }
}

/** This thread's `errno`, right after a failed call. */
export function errno(c: NetlinkLibc): number {
  const at = c.__errno_location();
  return at === null ? 0 : new Deno.UnsafePointerView(at).getInt32();
}

/**
 * A netlink socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_NETFILTER`, …) in this thread's
 * namespace, close-on-exec. Throws {@linkcode NetlinkError} "Cannot open `kind`".
 */
export function openNetlinkSocket(c: NetlinkLibc, protocol: number, kind: string): number {
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new NetlinkError(`Cannot open ${kind}`, errno(c));
  return fd;
}

/** Sends `message` whole on `fd` from this thread; throws {@linkcode NetlinkError} `what`. */
export function sendMessage(c: NetlinkLibc, fd: number, message: Uint8Array, what: string): void {
  if (Number(c.send(fd, message, BigInt(message.length), 0)) !== message.length) {
    throw new NetlinkError(what, errno(c), "send failed");
  }
}

/**
 * Reads one datagram from `fd` into `buf` without waiting; its length, or -1 when nothing was
 * queued or the read failed ({@linkcode errno} tells which).
 */
export function receiveNow(c: NetlinkLibc, fd: number, buf: Uint8Array): number {
  return Number(c.recv(fd, buf, BigInt(buf.length), MSG_DONTWAIT));
}

/**
 * Opens the namespace file at `path` read-only (to enter it, or to pass its descriptor to the
 * kernel as `IFLA_NET_NS_FD`); the caller closes it. Throws {@linkcode NetlinkError} (ENOENT:
 * the namespace is gone).
 */
export function openNetns(c: NetlinkLibc, path: string): number {
  const fd = c.open(cPath(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw new NetlinkError(`Cannot open network namespace ${path}`, errno(c));
  return fd;
}

/**
 * Runs `fn` with the calling thread in the network namespace at `path`, then moves it back, and
 * returns what `fn` returned or throws what it threw. `fn` must be synchronous: only what it does
 * before it returns happens in the namespace. Throws {@linkcode NetlinkError} when the namespace
 * cannot be opened or entered and {@linkcode NetnsStrandedError} when the thread cannot move back.
 */
export function inNetns<T>(c: NetlinkLibc, path: string, fn: () => T): T {
  const home = c.open(cPath("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    throw new NetlinkError("Cannot open this thread's network namespace", errno(c));
  }
  try {
    const target = openNetns(c, path);
    try {
      if (c.setns(target, CLONE_NEWNET) !== 0) {
        throw new NetlinkError(`Cannot enter network namespace ${path}`, errno(c));
      }
      let result: { value: T } | { error: unknown };
      try {
        result = { value: fn() };
      } catch (error) {
        result = { error };
      }
      if (c.setns(home, CLONE_NEWNET) !== 0) throw new NetnsStrandedError(path, errno(c));
      if ("error" in result) throw result.error;
      return result.value;
    } finally {
      c.close(target);
    }
  } finally {
    c.close(home);
  }
}

/** `path` as a NUL-terminated C string. */
function cPath(path: string): Uint8Array {
  return new TextEncoder().encode(`${path}\0`);
}

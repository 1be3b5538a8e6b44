/**
 * rtnetlink sockets in-process, through libc over Deno's FFI: what `ip` does, without starting
 * `ip` (an exec costs 3–5 ms; a request on an open socket, tens of microseconds). A socket
 * belongs to the network namespace it was made in, so one in a pod's namespace is made by
 * moving the calling thread there around `socket()` and straight back, synchronously: nothing
 * else runs on this thread meanwhile (JavaScript is single-threaded, Deno's I/O runs on other
 * threads, and each thread has its own namespace). If the thread cannot move back, it is left
 * in the pod's namespace: {@linkcode NetnsStrandedError} says so, and the process must end
 * (the plugin does after each call; a daemon would have to exit). The messages are built and
 * parsed by `src/rtnetlink_message.ts`.
 * @module
 */
import {
  type Answer,
  type LinkAnswer,
  linkGetRequest,
  parseAnswers,
  setSequence,
} from "./rtnetlink_message.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_DONTWAIT = 0x40;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The errno values rtnetlink answers that tern names; others are shown by number. */
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

/** errno 17: the object exists. */
export const EEXIST = 17;
/** errno 19: no such device. */
export const ENODEV = 19;

const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  /** `send` on one of Deno's worker threads: the JavaScript thread goes on meanwhile. */
  sendElsewhere: {
    name: "send",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
    nonblocking: true,
  },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

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

/**
 * One rtnetlink socket: requests answered by an acknowledgement, one at a time (a request that
 * is still waiting in {@linkcode RouteSocket.requestAsync} must not share its socket).
 */
export interface RouteSocket {
  /** Sends `request` and waits for its acknowledgement; throws {@linkcode NetlinkError}. */
  request(what: string, request: Uint8Array): void;
  /**
   * As {@linkcode RouteSocket.request}, with the kernel's work done from a worker thread, so
   * that the event loop runs meanwhile (a daemon request in flight makes progress); rejects
   * with {@linkcode NetlinkError}.
   */
  requestAsync(what: string, request: Uint8Array): Promise<void>;
  /** The index of link `name` in the socket's namespace, or undefined when there is none. */
  linkIndex(name: string): number | undefined;
  /** Link `name` in the socket's namespace (index, MAC), or undefined when there is none. */
  link(name: string): LinkAnswer | undefined;
  /**
   * Sends the dump `request` (a `…DumpRequest` of `src/rtnetlink_message.ts`) and returns
   * what it listed; throws {@linkcode NetlinkError}. Synchronous, like `request`.
   */
  dump(what: string, request: Uint8Array): Answer[];
}

/**
 * libc's netlink sockets. libc is loaded at the first socket (a command that needs none pays
 * nothing); {@linkcode Rtnetlink.close} closes the sockets made here and the library.
 */
export class Rtnetlink {
  #loaded: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;
  readonly #fds: number[] = [];

  /** libc, loaded now if it was not; throws when FFI is not allowed or libc cannot be found. */
  get #lib(): Deno.DynamicLibrary<typeof LIBC_SYMBOLS> {
    return this.#loaded ??= Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  }

  /** A socket in this thread's namespace, or in the namespace at path `options.netns`. */
  socket(options: { netns?: string } = {}): RouteSocket {
    const c = this.#lib.symbols;
    const fd = options.netns === undefined
      ? openSocket(c)
      : inNetns(c, options.netns, () => openSocket(c));
    this.#fds.push(fd);
    return new Socket(c, fd);
  }

  /**
   * Makes a socket in the namespace at `netns`, runs `fn` with it and closes it, whatever `fn`
   * did: for a short check of a namespace the caller does not keep a socket in. Throws
   * {@linkcode NetlinkError} when the namespace cannot be opened (ENOENT: it is gone) or entered,
   * and {@linkcode NetnsStrandedError} when the thread could not come back.
   */
  withSocket<T>(netns: string, fn: (socket: RouteSocket) => T): T {
    const c = this.#lib.symbols;
    const fd = inNetns(c, netns, () => openSocket(c));
    try {
      return fn(new Socket(c, fd));
    } finally {
      c.close(fd);
    }
  }

  /**
   * Opens the namespace file at `path` (to pass its descriptor to the kernel, as
   * `IFLA_NET_NS_FD`), runs `fn` with it and closes it once `fn` has settled.
   */
  async withNetnsFd<T>(path: string, fn: (fd: number) => Promise<T>): Promise<T> {
    const c = this.#lib.symbols;
    const fd = c.open(cPath(path), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw new NetlinkError(`Cannot open network namespace ${path}`, errno(c));
    try {
      return await fn(fd);
    } finally {
      c.close(fd);
    }
  }

  /** Closes every socket made here and the library; harmless twice. */
  close(): void {
    const lib = this.#loaded;
    if (lib === undefined) return;
    for (const fd of this.#fds.splice(0)) lib.symbols.close(fd);
    this.#loaded = undefined;
    lib.close();
  }
}

class Socket implements RouteSocket {
  readonly #c: Libc;
  readonly #fd: number;
  #seq = 0;
  readonly #buf = new Uint8Array(32 * 1024);

  constructor(c: Libc, fd: number) {
    this.#c = c;
    this.#fd = fd;
  }

  request(what: string, request: Uint8Array): void {
    const seq = this.#send(what, request);
    acknowledged(what, this.#receive(what, seq));
  }

  async requestAsync(what: string, request: Uint8Array): Promise<void> {
    const c = this.#c;
    const seq = this.#number(request);
    const sent = Number(await c.sendElsewhere(this.#fd, request, BigInt(request.length), 0));
    // errno is the worker thread's; a failed send did not reach the kernel, so sending again
    // here (under a new number) is safe and tells why if it fails too.
    const answered = sent === request.length ? seq : this.#send(what, request);
    acknowledged(what, this.#receive(what, answered));
  }

  linkIndex(name: string): number | undefined {
    return this.link(name)?.index;
  }

  link(name: string): LinkAnswer | undefined {
    const what = `Cannot look up link ${name}`;
    const request = linkGetRequest(name);
    const answers = this.#receive(what, this.#send(what, request));
    const link = answers.find((a) => a.kind === "link");
    if (link !== undefined) return link;
    const ack = answers.find((a) => a.kind === "ack");
    if (ack?.errno === 19) return undefined; // ENODEV
    throw new NetlinkError(what, ack?.errno ?? 0, ack?.message ?? "no answer");
  }

  dump(what: string, request: Uint8Array): Answer[] {
    const answers = this.#receive(what, this.#send(what, request));
    acknowledged(what, answers);
    return answers.filter((a) => a.kind !== "ack");
  }

  /** Gives `request` the next sequence number, and returns it. */
  #number(request: Uint8Array): number {
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    setSequence(request, seq);
    return seq;
  }

  /** Numbers and sends `request` from this thread; returns its sequence number. */
  #send(what: string, request: Uint8Array): number {
    const c = this.#c;
    const seq = this.#number(request);
    if (Number(c.send(this.#fd, request, BigInt(request.length), 0)) !== request.length) {
      throw new NetlinkError(what, errno(c), "send failed");
    }
    return seq;
  }

  /**
   * Reads until the acknowledgement of `seq`. rtnetlink handles a request inside `send()`, so
   * the answer is already queued when it returns: the reads never wait.
   */
  #receive(what: string, seq: number): Answer[] {
    const c = this.#c;
    const answers: Answer[] = [];
    for (;;) {
      const n = Number(c.recv(this.#fd, this.#buf, BigInt(this.#buf.length), MSG_DONTWAIT));
      if (n < 0) throw new NetlinkError(what, errno(c), "no answer");
      const got = parseAnswers(this.#buf.subarray(0, n), seq);
      answers.push(...got);
      if (got.some((a) => a.kind === "ack")) return answers;
    }
  }
}

/** Throws unless `answers` hold a successful acknowledgement. */
function acknowledged(what: string, answers: Answer[]): void {
  const ack = answers.find((a) => a.kind === "ack");
  if (ack === undefined) throw new NetlinkError(what, 0, "no acknowledgement");
  if (ack.errno !== 0) throw new NetlinkError(what, ack.errno, ack.message);
}

function openSocket(c: Libc): number {
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new NetlinkError("Cannot open an rtnetlink socket", errno(c));
  // Errors echo only the request's header, and carry the kernel's own text where it has one.
  const one = new Uint8Array(4);
  new DataView(one.buffer).setInt32(0, 1, LITTLE);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
  return fd;
}

function cPath(path: string): Uint8Array {
  return new TextEncoder().encode(`${path}\0`);
}

/**
 * Runs `fn` with the calling thread in the namespace at `path`, then moves it back. Throws
 * {@linkcode NetnsStrandedError} when it cannot move back.
 */
function inNetns<T>(c: Libc, path: string, fn: () => T): T {
  const home = c.open(cPath("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    throw new NetlinkError("Cannot open this thread's network namespace", errno(c));
  }
  try {
    const target = c.open(cPath(path), O_RDONLY | O_CLOEXEC);
    if (target < 0) throw new NetlinkError(`Cannot open network namespace ${path}`, errno(c));
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

/** This thread's `errno`, right after a failed call. */
function errno(c: Libc): number {
  const at = c.__errno_location();
  return at === null ? 0 : new Deno.UnsafePointerView(at).getInt32();
}

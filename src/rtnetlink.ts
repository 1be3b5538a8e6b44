/**
 * rtnetlink sockets in-process, through libc over Deno's FFI: what `ip` does, without starting
 * `ip` (an exec costs 3–5 ms; a request on an open socket, tens of microseconds). A socket in a
 * pod's namespace is made by moving the calling thread there around `socket()` and straight back
 * (`src/lib/netlink_socket.ts`, which owns the FFI plumbing every netlink client shares); if the
 * thread cannot move back, {@linkcode NetnsStrandedError} says so, and the process must end (the
 * plugin does after each call; a daemon would have to exit). The messages are built and parsed by
 * `src/rtnetlink_message.ts`.
 * @module
 */
import {
  errno,
  inNetns,
  LITTLE,
  loadLibc,
  NETLINK_SYMBOLS,
  NetlinkError,
  NetnsStrandedError,
  openNetlinkSocket,
  openNetns,
  receiveNow,
  sendMessage,
} from "./lib/netlink_socket.ts";
import {
  type Answer,
  type LinkAnswer,
  linkGetRequest,
  parseAnswers,
  setSequence,
} from "./rtnetlink_message.ts";

const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;

/** errno 17: the object exists. */
export const EEXIST = 17;
/** errno 19: no such device. */
export const ENODEV = 19;

// Callers of rtnetlink take its errors from here; the FFI module under it defines them.
export { NetlinkError, NetnsStrandedError };

const LIBC_SYMBOLS = {
  ...NETLINK_SYMBOLS,
  /** `send` on one of Deno's worker threads: the JavaScript thread goes on meanwhile. */
  sendElsewhere: {
    name: "send",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
    nonblocking: true,
  },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

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
  /** Closes the socket now (a socket made for one request); harmless twice. */
  close(): void;
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
    return this.#loaded ??= loadLibc(LIBC_SYMBOLS);
  }

  /** A socket in this thread's namespace, or in the namespace at path `options.netns`. */
  socket(options: { netns?: string } = {}): RouteSocket {
    const c = this.#lib.symbols;
    const fd = options.netns === undefined
      ? openSocket(c)
      : inNetns(c, options.netns, () => openSocket(c));
    this.#fds.push(fd);
    return new Socket(c, fd, () => {
      const at = this.#fds.indexOf(fd);
      if (at < 0) return;
      this.#fds.splice(at, 1);
      c.close(fd);
    });
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
      return fn(new Socket(c, fd, () => {}));
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
    const fd = openNetns(c, path);
    try {
      return await fn(fd);
    } finally {
      c.close(fd);
    }
  }

  /**
   * Opens the namespace file at `path` now (throwing {@linkcode NetlinkError} at once when it
   * cannot be opened, ENOENT when it does not exist for this process), for its descriptor to be
   * passed to the kernel; the caller closes it with `close()`.
   */
  openNetns(path: string): { fd: number; close(): void } {
    const c = this.#lib.symbols;
    const fd = openNetns(c, path);
    let open = true;
    return {
      fd,
      close: () => {
        if (open) c.close(fd);
        open = false;
      },
    };
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
  readonly #close: () => void;

  /** `close` closes `fd` (once) and forgets it. */
  constructor(c: Libc, fd: number, close: () => void) {
    this.#c = c;
    this.#fd = fd;
    this.#close = close;
  }

  close(): void {
    this.#close();
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
    const seq = this.#number(request);
    sendMessage(this.#c, this.#fd, request, what);
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
      const n = receiveNow(c, this.#fd, this.#buf);
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
  const fd = openNetlinkSocket(c, NETLINK_ROUTE, "an rtnetlink socket");
  // Errors echo only the request's header, and carry the kernel's own text where it has one.
  const one = new Uint8Array(4);
  new DataView(one.buffer).setInt32(0, 1, LITTLE);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
  return fd;
}

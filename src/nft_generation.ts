/**
 * The nftables ruleset's generation id, read in-process. The kernel counts every committed
 * nftables transaction, of any table, in one number per network namespace; reading it is one
 * `NFT_MSG_GETGEN` request on a netlink socket, a pair of system calls (a few microseconds), so
 * it can be polled often where listing a table costs a process and up to ~0.3 s. Deno has no
 * netlink sockets, so the socket is libc's, through FFI; the messages are built and parsed by
 * the pure {@linkcode generationRequest} and {@linkcode parseGenerationReply}. This replaces
 * `nft monitor` as the trigger of the policy table check: nftables 1.0.6's monitor crashes on
 * ordinary transactions ("Received event for an unknown set") and was blind most of the time.
 * @module
 */

/** `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN`. */
const GETGEN = (10 << 8) | 16;
/** `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN`: the reply. */
const NEWGEN = (10 << 8) | 15;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NFTA_GEN_ID = 1;
const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const MSG_DONTWAIT = 0x40;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;

/** The `NFT_MSG_GETGEN` request with sequence number `seq`. */
export function generationRequest(seq: number): Uint8Array {
  const out = new Uint8Array(NLMSG_HDRLEN + NFGENMSG_LEN);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length, true);
  view.setUint16(4, GETGEN, true);
  view.setUint16(6, NLM_F_REQUEST, true);
  view.setUint32(8, seq >>> 0, true);
  // Port id 0 (the kernel fills it in); nfgenmsg: AF_UNSPEC, version 0, resource id 0.
  return out;
}

/**
 * The generation id in the reply to request `seq`, from the `bytes` one `recv` returned (one or
 * more netlink messages); undefined when they hold no reply to it (a late reply to an earlier
 * request). Throws on a netlink error or a reply without the id.
 */
export function parseGenerationReply(bytes: Uint8Array, seq: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + NLMSG_HDRLEN <= bytes.length) {
    const len = view.getUint32(at, true);
    const type = view.getUint16(at + 4, true);
    const msgSeq = view.getUint32(at + 8, true);
    if (len < NLMSG_HDRLEN || at + len > bytes.length) {
      throw new Error(`Cannot read the nftables generation: a netlink message of ${len} bytes`);
    }
    if (msgSeq === seq >>> 0) {
      if (type === NLMSG_ERROR) {
        const errno = -view.getInt32(at + NLMSG_HDRLEN, true);
        throw new Error(`Cannot read the nftables generation: the kernel answered errno ${errno}`);
      }
      if (type === NEWGEN) {
        return generationAttribute(view, at + NLMSG_HDRLEN + NFGENMSG_LEN, at + len);
      }
    }
    at += (len + 3) & ~3;
  }
  return undefined;
}

/** `NFTA_GEN_ID` (big-endian) among the attributes in `[from, to)`. */
function generationAttribute(view: DataView, from: number, to: number): number {
  let at = from;
  while (at + 4 <= to) {
    const len = view.getUint16(at, true);
    const type = view.getUint16(at + 2, true) & 0x3fff;
    if (len < 4) break;
    if (type === NFTA_GEN_ID && len >= 8) return view.getUint32(at + 4, false);
    at += (len + 3) & ~3;
  }
  throw new Error("Cannot read the nftables generation: the reply has no NFTA_GEN_ID");
}

const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** Reads the generation id of one network namespace; {@linkcode NftGeneration.close} when done. */
export class NftGeneration {
  readonly #lib: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;
  readonly #fd: number;
  readonly #reply = new Uint8Array(8192);
  #seq = 0;
  #closed = false;

  /**
   * Opens the netlink socket; `options.netns` (a name under /run/netns) opens it in that
   * namespace (tests; needs CAP_SYS_ADMIN), default the current one. Throws when FFI or the
   * socket is not available (then there is nothing cheap to poll).
   */
  constructor(options: { netns?: string } = {}) {
    this.#lib = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
    try {
      this.#fd = options.netns === undefined
        ? openSocket(this.#lib.symbols)
        : inNetns(this.#lib.symbols, options.netns, () => openSocket(this.#lib.symbols));
    } catch (err) {
      this.#lib.close();
      throw err;
    }
  }

  /** The generation id now. Throws when the kernel cannot be asked. */
  read(): number {
    if (this.#closed) throw new Error("Cannot read the nftables generation: the socket is closed");
    const c = this.#lib.symbols;
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const request = generationRequest(seq);
    if (Number(c.send(this.#fd, request, BigInt(request.length), 0)) !== request.length) {
      throw new Error(`Cannot ask for the nftables generation: ${errnoText(c)}`);
    }
    // The kernel answers within send(): the reply is queued before it returns.
    for (;;) {
      const n = Number(c.recv(this.#fd, this.#reply, BigInt(this.#reply.length), MSG_DONTWAIT));
      if (n < 0) throw new Error(`Cannot read the nftables generation: ${errnoText(c)}`);
      const id = parseGenerationReply(this.#reply.subarray(0, n), seq);
      if (id !== undefined) return id;
    }
  }

  /** Closes the socket; harmless when closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.symbols.close(this.#fd);
    this.#lib.close();
  }
}

function openSocket(c: Libc): number {
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw new Error(`Cannot open a netfilter netlink socket: ${errnoText(c)}`);
  return fd;
}

/**
 * Runs `fn` with the calling thread in namespace `netns`, then moves it back. A socket keeps the
 * namespace it was made in, so only its creation needs to happen there; nothing else runs on
 * this thread meanwhile (JavaScript is single-threaded and `fn` is synchronous).
 */
function inNetns<T>(c: Libc, netns: string, fn: () => T): T {
  const path = (p: string) => new TextEncoder().encode(`${p}\0`);
  const home = c.open(path("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC);
  if (home < 0) throw new Error(`Cannot open this thread's network namespace: ${errnoText(c)}`);
  try {
    const target = c.open(path(`/run/netns/${netns}`), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      throw new Error(`Cannot open network namespace /run/netns/${netns}: ${errnoText(c)}`);
    }
    try {
      if (c.setns(target, CLONE_NEWNET) !== 0) {
        throw new Error(`Cannot enter network namespace ${netns}: ${errnoText(c)}`);
      }
      let result: { value: T } | { error: unknown };
      try {
        result = { value: fn() };
      } catch (error) {
        result = { error };
      }
      if (c.setns(home, CLONE_NEWNET) !== 0) {
        // The thread would go on in the wrong namespace: nothing it did next could be trusted.
        throw new Error(`Cannot return from network namespace ${netns}: ${errnoText(c)}`);
      }
      if ("error" in result) throw result.error;
      return result.value;
    } finally {
      c.close(target);
    }
  } finally {
    c.close(home);
  }
}

function errnoText(c: Libc): string {
  const at = c.__errno_location();
  const errno = at === null ? 0 : new Deno.UnsafePointerView(at).getInt32();
  return `errno ${errno}`;
}

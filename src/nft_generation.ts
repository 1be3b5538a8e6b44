/**
 * The nftables ruleset's generation id, in-process. The kernel counts every committed nftables
 * transaction, of any table, in one number per network namespace. Reading it is one
 * `NFT_MSG_GETGEN` request on a netlink socket, a pair of system calls (a few microseconds); and
 * a second socket, subscribed to the nftables multicast group with a socket filter that keeps
 * only the `NFT_MSG_NEWGEN` message each commit ends with, lets {@linkcode NftGeneration.commit}
 * wait for the next commit in a blocking `poll` on one of Deno's worker threads: no timer, no CPU
 * while nothing changes, the commit seen within a millisecond. Deno has no netlink sockets, so
 * they are libc's, through FFI (`src/lib/netlink_socket.ts`); messages and the filter are built
 * and parsed by pure functions. This replaces `nft monitor` as the trigger of the policy table
 * check: nftables 1.0.6's monitor crashes on ordinary transactions ("Received event for an unknown
 * set") and was down most of the time.
 * @module
 */
import {
  AF_NETLINK,
  errno,
  inNetns,
  LITTLE,
  loadLibc,
  NETLINK_SYMBOLS,
  NetlinkError,
  openNetlinkSocket,
  receiveNow,
  sendMessage,
} from "./lib/netlink_socket.ts";

/** `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN`. */
const GETGEN = (10 << 8) | 16;
/** `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN`: the reply. */
const NEWGEN = (10 << 8) | 15;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NFTA_GEN_ID = 1;
const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;
/** The nftables multicast group (`NFNLGRP_NFTABLES`). */
const NFNLGRP_NFTABLES = 7;

const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const POLLIN = 1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const EAGAIN = 11;
const ENOBUFS = 105;

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
        const code = -view.getInt32(at + NLMSG_HDRLEN, true);
        throw new Error(`Cannot read the nftables generation: the kernel answered errno ${code}`);
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

/**
 * A classic BPF socket filter that keeps the netlink messages of type `NFT_MSG_NEWGEN` and drops
 * the rest (every rule, set and element a transaction touched is an event of its own), as the
 * `struct sock_filter` array of this host's byte order. BPF loads are big-endian while
 * `nlmsg_type` is in host order, so the constant is the type's bytes read big-endian.
 */
export function newgenFilter(): Uint8Array {
  const type = LITTLE ? ((NEWGEN & 0xff) << 8) | (NEWGEN >> 8) : NEWGEN;
  const program: [code: number, jt: number, jf: number, k: number][] = [
    [0x28, 0, 0, 4], // ldh [4]: nlmsg_type
    [0x15, 0, 1, type], // jeq NEWGEN ? next : skip one
    [0x06, 0, 0, 0xffff], // ret: keep the message
    [0x06, 0, 0, 0], // ret: drop it
  ];
  const out = new Uint8Array(program.length * 8);
  const view = new DataView(out.buffer);
  program.forEach(([code, jt, jf, k], i) => {
    view.setUint16(i * 8, code, LITTLE);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k, LITTLE);
  });
  return out;
}

const LIBC_SYMBOLS = {
  ...NETLINK_SYMBOLS,
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** What the table audit needs of the generation id (an {@linkcode NftGeneration}, or a fake). */
export interface GenerationWatch {
  /** The generation id now; throws when the kernel cannot be asked. */
  read(): number;
  /**
   * Resolves true at the next nftables commit in the namespace (at once when one happened since
   * the last call), false when `signal` aborts; rejects when the kernel cannot be asked.
   */
  commit(signal: AbortSignal): Promise<boolean>;
}

/**
 * The generation id of one network namespace: read now, or wait for the next commit.
 * {@linkcode NftGeneration.close} when done.
 */
export class NftGeneration implements GenerationWatch {
  readonly #lib: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;
  /** Requests and their replies. */
  readonly #fd: number;
  /** Subscribed, filtered to NEWGEN; -1 until opened. */
  #events = -1;
  /** Written to wake a waiting `poll` (an abort, or close). */
  #wake = -1;
  readonly #reply = new Uint8Array(8192);
  readonly #scratch = new Uint8Array(8192);
  #seq = 0;
  #closed = false;
  #waiting: Promise<unknown> | undefined;

  /**
   * Opens the netlink sockets; `options.netns` (a name under /run/netns) opens them in that
   * namespace (tests; needs CAP_SYS_ADMIN), default the current one. Throws when FFI or a socket
   * is not available.
   */
  constructor(options: { netns?: string } = {}) {
    this.#lib = loadLibc(LIBC_SYMBOLS);
    const c = this.#lib.symbols;
    const open = () => [openSocket(c), openSocket(c)] as const;
    let fds: readonly number[] = [];
    try {
      fds = options.netns === undefined ? open() : inNetns(c, `/run/netns/${options.netns}`, open);
      this.#fd = fds[0]!;
      this.#events = fds[1]!;
      subscribeToCommits(c, this.#events);
      this.#wake = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (this.#wake < 0) throw new NetlinkError("Cannot make an eventfd", errno(c));
    } catch (err) {
      for (const fd of fds) c.close(fd);
      this.#lib.close();
      throw err;
    }
  }

  /** The generation id now. Throws when the kernel cannot be asked. */
  read(): number {
    if (this.#closed) throw new Error("Cannot read the nftables generation: the socket is closed");
    const c = this.#lib.symbols;
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    sendMessage(c, this.#fd, generationRequest(seq), "Cannot ask for the nftables generation");
    // The kernel answers within send(): the reply is queued before it returns.
    for (;;) {
      const n = receiveNow(c, this.#fd, this.#reply);
      if (n < 0) throw new NetlinkError("Cannot read the nftables generation", errno(c));
      const id = parseGenerationReply(this.#reply.subarray(0, n), seq);
      if (id !== undefined) return id;
    }
  }

  /**
   * Resolves true at the next commit (at once when one was queued since the last call), false
   * when `signal` aborts or the sockets are closed; rejects when the socket fails. One caller at
   * a time.
   */
  async commit(signal: AbortSignal): Promise<boolean> {
    const c = this.#lib.symbols;
    const wake = () => c.write(this.#wake, new BigUint64Array([1n]), 8n);
    signal.addEventListener("abort", wake);
    try {
      for (;;) {
        if (this.#closed || signal.aborted) return false;
        if (this.#drain()) return true;
        const fds = new Uint8Array(16);
        const view = new DataView(fds.buffer);
        view.setInt32(0, this.#events, LITTLE);
        view.setInt16(4, POLLIN, LITTLE);
        view.setInt32(8, this.#wake, LITTLE);
        view.setInt16(12, POLLIN, LITTLE);
        // Blocks a worker thread, not this one, until a commit or a wake-up.
        const waiting = c.poll(fds, 2n, -1);
        this.#waiting = waiting;
        const ready = await waiting;
        this.#waiting = undefined;
        c.read(this.#wake, new Uint8Array(8), 8n); // reset a wake-up (non-blocking)
        // A failed poll (EINTR on the worker thread) is tried again.
        if (ready < 0) await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      signal.removeEventListener("abort", wake);
    }
  }

  /**
   * Empties the subscribed socket; true when anything was there (an overrun, ENOBUFS, counts).
   * Throws on any other error, which would repeat forever.
   */
  #drain(): boolean {
    const c = this.#lib.symbols;
    let any = false;
    for (;;) {
      const n = receiveNow(c, this.#events, this.#scratch);
      if (n >= 0) {
        any = true;
        continue;
      }
      const code = errno(c);
      if (code === EAGAIN) return any;
      if (code !== ENOBUFS) throw new NetlinkError("Cannot read nftables events", code);
      any = true; // the queue overflowed: commits were lost, so there were some; read on
    }
  }

  /** Wakes a waiting {@linkcode NftGeneration.commit} and closes the sockets; harmless twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const c = this.#lib.symbols;
    c.write(this.#wake, new BigUint64Array([1n]), 8n);
    await this.#waiting;
    for (const fd of [this.#fd, this.#events, this.#wake]) c.close(fd);
    this.#lib.close();
  }
}

/** Joins the nftables group on `fd`, keeping only NEWGEN messages (the filter goes first). */
function subscribeToCommits(c: Libc, fd: number): void {
  const filter = newgenFilter();
  const program = new Uint8Array(16); // struct sock_fprog: len, padding, pointer
  const view = new DataView(program.buffer);
  view.setUint16(0, filter.length / 8, LITTLE);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(filter))), LITTLE);
  if (c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, program, program.length) !== 0) {
    throw new NetlinkError("Cannot filter the nftables events", errno(c));
  }
  const address = new Uint8Array(12); // struct sockaddr_nl: family, padding, pid, groups
  const addr = new DataView(address.buffer);
  addr.setUint16(0, AF_NETLINK, LITTLE);
  addr.setUint32(8, 1 << (NFNLGRP_NFTABLES - 1), LITTLE);
  if (c.bind(fd, address, address.length) !== 0) {
    throw new NetlinkError("Cannot subscribe to the nftables events", errno(c));
  }
}

function openSocket(c: Libc): number {
  return openNetlinkSocket(c, NETLINK_NETFILTER, "a netfilter netlink socket");
}

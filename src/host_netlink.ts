/**
 * What the daemon changes on an ADD's or a DEL's critical path, over rtnetlink in-process instead
 * of an `ip` exec each: the pod's veth pair, its host route, its veth's interface group (the
 * policy's ready mark) and the veth's deletion. The sockets are made in the calling thread's
 * namespace (the node's: the daemon never leaves it; the pair's pod end is created in the pod's
 * namespace by passing the kernel that namespace's file descriptor). Everything else (the
 * reconciler's passes, rules, listings) still goes through `ip`.
 * @module
 */
import { type Clock, realClock, sleep } from "./clock.ts";
import { ENODEV, NetlinkError, type RouteSocket, type Rtnetlink } from "./rtnetlink.ts";
import {
  linkDelRequest,
  linkGroupRequest,
  routeAddRequest,
  vethAddRequest,
} from "./rtnetlink_message.ts";

/** How often {@linkcode RtnetlinkHost.deleteLink} looks whether the kernel unlisted the link. */
export const UNLISTED_POLL_MS = 1;

/**
 * The path of a pod's namespace is no network namespace for this process: it does not exist here,
 * or it is the empty file that a namespace is bind-mounted over in another mount namespace (a
 * daemon in a container whose `/run/netns` does not receive the host's mounts sees only that).
 */
export class NetnsUnseenError extends Error {
  /** `netns` is the path; `why` says what this process sees there. */
  constructor(readonly netns: string, why: string) {
    super(`Cannot use network namespace ${netns} from this process: ${why}`);
    this.name = "NetnsUnseenError";
  }
}

/** The device of the namespace filesystem (nsfs), which every namespace file is on. */
let nsfsDevice: number | undefined;

/** Throws {@linkcode NetnsUnseenError} unless `path` is a namespace file for this process. */
function requireNetnsFile(path: string): void {
  let dev: number;
  try {
    dev = Deno.statSync(path).dev;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new NetnsUnseenError(path, "no such file");
    throw err;
  }
  nsfsDevice ??= Deno.statSync("/proc/thread-self/ns/net").dev;
  if (dev !== nsfsDevice) {
    throw new NetnsUnseenError(path, "not a namespace file here (its mount is not visible)");
  }
}

/** A pod's veth pair as ADD makes it. */
export interface VethPair {
  /** Host end (`tern…`), in the node's namespace, created up. */
  hostVeth: string;
  hostMac: string;
  /** Pod end (`CNI_IFNAME`), created straight into the pod's namespace. */
  ifname: string;
  podMac: string;
  mtu: number;
}

/** The host side of one endpoint, written over rtnetlink. */
export interface HostNetlink {
  /**
   * `ip route replace IP/32 dev VETH scope link table main proto PROTOCOL`. Throws
   * {@linkcode NetlinkError} (ENODEV when the veth does not exist).
   */
  replaceHostRoute(ip: string, veth: string, protocol: number): void;
  /** `ip link set dev VETH group GROUP`; false when the veth does not exist. */
  setGroup(veth: string, group: number): boolean;
  /** The MAC address of link `name`, or undefined when there is no such link (or it has none). */
  linkMac(name: string): string | undefined;
  /**
   * `ip link del VETH`, resolved as soon as the kernel has unlisted the link (its routes are gone
   * by then), not when the kernel's request returns; false when there was no such link. Throws
   * {@linkcode NetlinkError} when the kernel refuses.
   */
  deleteLink(veth: string): Promise<boolean>;
  /**
   * Creates `pair` in one request, both ends or neither, the pod end in the namespace at path
   * `netns` (NetlinkError EEXIST when either name is taken). Opens the namespace file before it
   * returns and throws at once when it cannot, {@linkcode NetnsUnseenError} when the path is no
   * network namespace for this process, so that a caller can fall back before it starts anything
   * else; the kernel's work then runs from a worker thread.
   */
  addVeth(pair: VethPair, netns: string): Promise<void>;
}

/** {@linkcode HostNetlink} on one rtnetlink socket, made at the first request. */
export class RtnetlinkHost implements HostNetlink {
  readonly #netlink: Rtnetlink;
  readonly #netns: string | undefined;
  readonly #clock: Clock;
  #socket: RouteSocket | undefined;

  /**
   * `options.netns` (a path) makes the sockets there instead of in this thread's namespace
   * (tests); `options.clock` (default the real one) paces {@linkcode RtnetlinkHost.deleteLink}.
   */
  constructor(netlink: Rtnetlink, options: { netns?: string; clock?: Clock } = {}) {
    this.#netlink = netlink;
    this.#netns = options.netns;
    this.#clock = options.clock ?? realClock;
  }

  #node(): RouteSocket {
    return this.#socket ??= this.#newSocket();
  }

  #newSocket(): RouteSocket {
    return this.#netlink.socket(this.#netns === undefined ? {} : { netns: this.#netns });
  }

  replaceHostRoute(ip: string, veth: string, protocol: number): void {
    const node = this.#node();
    const what = `Cannot replace the route to ${ip}/32 via ${veth}`;
    const index = node.linkIndex(veth);
    if (index === undefined) throw new NetlinkError(what, ENODEV);
    node.request(
      what,
      routeAddRequest(index, { dst: ip, prefix: 32, protocol }, { replace: true }),
    );
  }

  linkMac(name: string): string | undefined {
    return this.#node().link(name)?.mac;
  }

  /**
   * Deleting a veth holds the kernel's request 15–25 ms after the link is unlisted (waiting out
   * RCU grace periods), while the link, its peer and their routes are gone within a few ms: the
   * request runs on a socket of its own from a worker thread, and this thread looks every
   * {@linkcode UNLISTED_POLL_MS} ms whether the link is still listed. A daemon request waits for
   * the unlisting only; the kernel finishes on the worker meanwhile.
   */
  async deleteLink(veth: string): Promise<boolean> {
    const node = this.#node();
    if (node.linkIndex(veth) === undefined) return false;
    const socket = this.#newSocket();
    const deleting = socket.requestAsync(`Cannot delete link ${veth}`, linkDelRequest(veth))
      .then(() => true, (err: unknown) => {
        if (err instanceof NetlinkError && err.errno === ENODEV) return false;
        throw err;
      })
      .finally(() => socket.close());
    // Once the link is unlisted nobody waits for `deleting`: its late failure is nobody's error.
    deleting.catch(() => {});
    for (;;) {
      const settled = await Promise.race([
        deleting,
        sleep(this.#clock, UNLISTED_POLL_MS).then(() => undefined),
      ]);
      if (settled !== undefined) return settled;
      if (node.linkIndex(veth) === undefined) return true;
    }
  }

  addVeth(pair: VethPair, netns: string): Promise<void> {
    requireNetnsFile(netns);
    const target = this.#netlink.openNetns(netns);
    let socket: RouteSocket;
    try {
      socket = this.#newSocket();
    } catch (err) {
      target.close();
      throw err;
    }
    return socket.requestAsync(
      `Cannot create veth pair ${pair.hostVeth}/${pair.ifname}`,
      vethAddRequest(
        { name: pair.hostVeth, mac: pair.hostMac, mtu: pair.mtu },
        { name: pair.ifname, mac: pair.podMac, mtu: pair.mtu },
        target.fd,
      ),
    ).finally(() => {
      target.close();
      socket.close();
    });
  }

  setGroup(veth: string, group: number): boolean {
    try {
      this.#node().request(
        `Cannot set the interface group of ${veth}`,
        linkGroupRequest(veth, group),
      );
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) return false;
      throw err;
    }
  }
}

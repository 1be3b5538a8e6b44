/**
 * What the daemon changes on an ADD's critical path, over rtnetlink in-process instead of an
 * `ip` exec each: the pod's host route and its veth's interface group (the policy's ready mark).
 * The sockets are made in the calling thread's namespace (the node's: the daemon never leaves
 * it). Everything else (the reconciler's passes, rules, listings) still goes through `ip`.
 * @module
 */
import { ENODEV, NetlinkError, type RouteSocket, type Rtnetlink } from "./rtnetlink.ts";
import { linkGroupRequest, routeAddRequest } from "./rtnetlink_message.ts";

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
}

/** {@linkcode HostNetlink} on one rtnetlink socket, made at the first request. */
export class RtnetlinkHost implements HostNetlink {
  readonly #netlink: Rtnetlink;
  readonly #netns: string | undefined;
  #socket: RouteSocket | undefined;

  /** `options.netns` (a path) makes the socket there instead of in this thread's namespace (tests). */
  constructor(netlink: Rtnetlink, options: { netns?: string } = {}) {
    this.#netlink = netlink;
    this.#netns = options.netns;
  }

  #node(): RouteSocket {
    return this.#socket ??= this.#netlink.socket(
      this.#netns === undefined ? {} : { netns: this.#netns },
    );
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

/**
 * The kernel side of a pod's attachment, as the plugin makes and removes it: the veth pair (the
 * pod end created straight into the pod's namespace), the pod end's /32, link-scope route to the
 * gateway, default route and permanent neighbour entry for the gateway, and the pair's deletion.
 * {@linkcode PodLinks} is what the plugin's commands see (tests pass a fake);
 * {@linkcode NetlinkPodLinks} does it over rtnetlink sockets in-process, one request per object,
 * where `ip` took two execs.
 * @module
 */
import { GATEWAY_IP } from "./names.ts";
import {
  ENODEV,
  NetlinkError,
  NetnsStrandedError,
  type RouteSocket,
  type Rtnetlink,
} from "./rtnetlink.ts";
import {
  addressAddRequest,
  linkDelRequest,
  linkUpRequest,
  neighbourReplaceRequest,
  routeAddRequest,
  vethAddRequest,
} from "./rtnetlink_message.ts";

/** The pod side of an attachment, as the plugin configures it. */
export interface PodLink {
  /** Host-side veth name (`tern…`). */
  hostVeth: string;
  /** MAC of the host-side veth; the pod's static neighbour entry for the gateway points here. */
  hostMac: string;
  /** Interface name inside the pod (`CNI_IFNAME`). */
  ifname: string;
  /** MAC of the pod-side interface. */
  podMac: string;
  /** Path of the pod's network namespace. */
  netns: string;
  /** The pod's IPv4 address, without prefix. */
  ip: string;
  /** Link MTU for both ends. */
  mtu: number;
}

/** Makes and removes the kernel objects of attachments. Failures are {@linkcode NetlinkError}s. */
export interface PodLinks {
  /**
   * Creates the veth pair, host end up in the node's namespace, pod end in the pod's: both or
   * neither (errno EEXIST when either name is taken). Needs no address, and lets the event
   * loop run meanwhile, so it can overlap the daemon's allocation.
   */
  addVeth(link: Omit<PodLink, "ip">): Promise<void>;
  /** In the pod's namespace: the /32, the pod end up, the gateway routes and neighbour entry. */
  configurePod(link: PodLink): Promise<void>;
  /**
   * Loads what {@linkcode PodLinks.configurePod} needs and opens its socket in the namespace at
   * `netns` now, while the caller waits for something else (optional: a speed-up, not a
   * behaviour; a failure is left for `configurePod` to meet and report).
   */
  preparePod?(netns: string): void;
  /** Whether the node's namespace has a link named `name`. */
  hostLinkExists(name: string): Promise<boolean>;
  /** Deletes the host veth (and so its pod end); false when it was already gone. */
  deleteHostVeth(name: string): Promise<boolean>;
}

/** {@linkcode PodLinks} over rtnetlink: one socket in the node's namespace, one per pod used. */
export class NetlinkPodLinks implements PodLinks {
  readonly #netlink: Rtnetlink;
  readonly #nodeNetns: string | undefined;
  #node: RouteSocket | undefined;
  /** A socket {@linkcode NetlinkPodLinks.preparePod} opened, and its namespace. */
  #prepared: { netns: string; socket: RouteSocket } | undefined;
  /** Set when preparePod left the thread in another namespace: every later call throws it. */
  #stranded: NetnsStrandedError | undefined;

  /**
   * Uses sockets of `netlink`, each made when first needed. The node's namespace is this
   * thread's; `options.nodeNetns` (a path) puts it elsewhere (tests).
   */
  constructor(netlink: Rtnetlink, options: { nodeNetns?: string } = {}) {
    this.#netlink = netlink;
    this.#nodeNetns = options.nodeNetns;
  }

  #nodeSocket(): RouteSocket {
    if (this.#stranded !== undefined) throw this.#stranded;
    return this.#node ??= this.#netlink.socket(
      this.#nodeNetns === undefined ? {} : { netns: this.#nodeNetns },
    );
  }

  async addVeth(link: Omit<PodLink, "ip">): Promise<void> {
    const node = this.#nodeSocket();
    await this.#netlink.withNetnsFd(link.netns, (fd) =>
      node.requestAsync(
        `Cannot create veth pair ${link.hostVeth}/${link.ifname}`,
        vethAddRequest(
          { name: link.hostVeth, mac: link.hostMac, mtu: link.mtu },
          { name: link.ifname, mac: link.podMac, mtu: link.mtu },
          fd,
        ),
      ));
  }

  preparePod(netns: string): void {
    try {
      const socket = this.#netlink.socket({ netns });
      this.#prepared = { netns, socket };
      // One harmless request, so that the first send, receive and parse (their FFI calls' and
      // the parser's first runs) are paid here too.
      socket.linkIndex("lo");
    } catch (err) {
      // configurePod meets any other failure again, and reports it; a thread left in the pod's
      // namespace must do nothing more.
      if (err instanceof NetnsStrandedError) this.#stranded = err;
    }
  }

  configurePod(link: PodLink): Promise<void> {
    return run(() => {
      if (this.#stranded !== undefined) throw this.#stranded;
      const prepared = this.#prepared?.netns === link.netns ? this.#prepared.socket : undefined;
      this.#prepared = undefined;
      const pod = prepared ?? this.#netlink.socket({ netns: link.netns });
      const where = `${link.ifname} in ${link.netns}`;
      const index = pod.linkIndex(link.ifname);
      if (index === undefined) throw new NetlinkError(`Cannot find ${where}`, ENODEV);
      pod.request(
        `Cannot add ${link.ip}/32 to ${where}`,
        addressAddRequest(index, link.ip, 32),
      );
      pod.request(`Cannot bring ${where} up`, linkUpRequest(index));
      pod.request(
        `Cannot add the route to ${GATEWAY_IP} on ${where}`,
        routeAddRequest(index, { dst: GATEWAY_IP, prefix: 32 }),
      );
      pod.request(
        `Cannot add the default route via ${GATEWAY_IP} on ${where}`,
        routeAddRequest(index, { dst: "0.0.0.0", prefix: 0, via: GATEWAY_IP }),
      );
      pod.request(
        `Cannot add the neighbour entry for ${GATEWAY_IP} on ${where}`,
        neighbourReplaceRequest(index, GATEWAY_IP, link.hostMac),
      );
    });
  }

  hostLinkExists(name: string): Promise<boolean> {
    return run(() => this.#nodeSocket().linkIndex(name) !== undefined);
  }

  deleteHostVeth(name: string): Promise<boolean> {
    return run(() => {
      try {
        this.#nodeSocket().request(`Cannot delete host veth ${name}`, linkDelRequest(name));
        return true;
      } catch (err) {
        if (err instanceof NetlinkError && err.errno === ENODEV) return false;
        throw err;
      }
    });
  }
}

/** The synchronous socket work as a promise (a throw becomes a rejection). */
function run<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * rtnetlink requests and answers as bytes, pure: the few messages a pod's attachment needs
 * (create a veth pair with its peer in another namespace, look a link up by name, bring it up,
 * delete it, add an address, a route and a neighbour entry), the dumps of IPv4 routes and
 * neighbour entries the daemon checks a pod's side with, and the parser of the kernel's answers. The socket that carries them is `src/rtnetlink.ts`; keeping the bytes here
 * lets them be tested without root. Layouts are those of `linux/rtnetlink.h`, in host byte order
 * (netlink's), addresses in network order.
 * @module
 */

/** Message types (`linux/rtnetlink.h`). */
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_GETNEIGH = 30;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

/** Header flags. */
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
/** `NLM_F_ROOT | NLM_F_MATCH`: every object of the kind, in as many messages as it takes. */
const NLM_F_DUMP = 0x300;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
/** In an error message: extended-ack attributes follow. */
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTMSG_LEN = 12;
const NDMSG_LEN = 12;

const AF_UNSPEC = 0;
const AF_INET = 2;
const IFF_UP = 0x1;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_GROUP = 27;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const NLA_F_NESTED = 0x8000;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
const NDA_DST = 1;
const NDA_LLADDR = 2;

const RT_TABLE_MAIN = 254;
/** `proto boot`: what `ip route add` writes when no protocol is given. */
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
const NUD_PERMANENT = 0x80;

/** Whether this host is little-endian (netlink's integers are in host order). */
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const encoder = new TextEncoder();

/** One attribute: its type and payload, or nested attributes. */
type Attr = [type: number, value: Uint8Array | Attr[]];

const align = (n: number) => (n + 3) & ~3;

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, LITTLE);
  return out;
}

function cString(value: string): Uint8Array {
  const bytes = encoder.encode(value);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** `aa:bb:cc:dd:ee:ff` as 6 bytes; throws on anything else. */
export function macBytes(mac: string): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`Invalid MAC address: expected six hex pairs joined by ":": got "${mac}"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** A dotted IPv4 address as 4 bytes in network order; throws on anything else. */
export function ipv4Bytes(ip: string): Uint8Array {
  const parts = ip.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`Invalid IPv4 address: expected a.b.c.d: got "${ip}"`);
  }
  return Uint8Array.from(parts.map(Number));
}

function attrsLength(attrs: Attr[]): number {
  return attrs.reduce((sum, [, v]) => sum + align(4 + valueLength(v)), 0);
}

function valueLength(value: Uint8Array | Attr[]): number {
  return value instanceof Uint8Array ? value.length : attrsLength(value);
}

function writeAttrs(view: DataView, bytes: Uint8Array, at: number, attrs: Attr[]): number {
  for (const [type, value] of attrs) {
    const len = 4 + valueLength(value);
    view.setUint16(at, len, LITTLE);
    view.setUint16(at + 2, value instanceof Uint8Array ? type : type | NLA_F_NESTED, LITTLE);
    if (value instanceof Uint8Array) bytes.set(value, at + 4);
    else writeAttrs(view, bytes, at + 4, value);
    at += align(len);
  }
  return at;
}

/** An attribute whose payload is a fixed header followed by attributes (veth's peer). */
function headed(head: Uint8Array, attrs: Attr[]): Uint8Array {
  const out = new Uint8Array(head.length + attrsLength(attrs));
  out.set(head);
  writeAttrs(new DataView(out.buffer), out, head.length, attrs);
  return out;
}

/** A whole message: header, the fixed family header, attributes. */
function message(type: number, flags: number, head: Uint8Array, attrs: Attr[]): Uint8Array {
  const out = new Uint8Array(NLMSG_HDRLEN + head.length + attrsLength(attrs));
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length, LITTLE);
  view.setUint16(4, type, LITTLE);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | flags, LITTLE);
  // Sequence number (8) and port id (12) are set by the socket when it sends.
  out.set(head, NLMSG_HDRLEN);
  writeAttrs(view, out, NLMSG_HDRLEN + head.length, attrs);
  return out;
}

function ifinfomsg(options: { index?: number; up?: boolean } = {}): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_LEN);
  const view = new DataView(out.buffer);
  view.setUint8(0, AF_UNSPEC);
  view.setInt32(4, options.index ?? 0, LITTLE);
  if (options.up) {
    view.setUint32(8, IFF_UP, LITTLE); // ifi_flags
    view.setUint32(12, IFF_UP, LITTLE); // ifi_change
  }
  return out;
}

/** One end of a veth pair to create. */
export interface VethEnd {
  name: string;
  mac: string;
  mtu: number;
}

/**
 * `ip link add HOST mtu M address MAC up type veth peer name PEER mtu M address MAC netns FD`:
 * creates the pair in one request (both ends or neither), the host end up, the peer moved at
 * birth into the namespace open at `netnsFd`. Fails with EEXIST when either name is taken.
 */
export function vethAddRequest(host: VethEnd, peer: VethEnd, netnsFd: number): Uint8Array {
  const peerInfo = headed(ifinfomsg(), [
    [IFLA_IFNAME, cString(peer.name)],
    [IFLA_MTU, u32(peer.mtu)],
    [IFLA_ADDRESS, macBytes(peer.mac)],
    [IFLA_NET_NS_FD, u32(netnsFd)],
  ]);
  return message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg({ up: true }), [
    [IFLA_IFNAME, cString(host.name)],
    [IFLA_MTU, u32(host.mtu)],
    [IFLA_ADDRESS, macBytes(host.mac)],
    [IFLA_LINKINFO, [
      [IFLA_INFO_KIND, cString("veth")],
      [IFLA_INFO_DATA, [[VETH_INFO_PEER, peerInfo]]],
    ]],
  ]);
}

/** `ip link show NAME`: the answer is one RTM_NEWLINK, or ENODEV. */
export function linkGetRequest(name: string): Uint8Array {
  return message(RTM_GETLINK, 0, ifinfomsg(), [[IFLA_IFNAME, cString(name)]]);
}

/** `ip link set dev INDEX up`. */
export function linkUpRequest(index: number): Uint8Array {
  return message(RTM_NEWLINK, 0, ifinfomsg({ index, up: true }), []);
}

/** `ip link set dev NAME group GROUP`: ENODEV when there is no such link. */
export function linkGroupRequest(name: string, group: number): Uint8Array {
  return message(RTM_NEWLINK, 0, ifinfomsg(), [
    [IFLA_IFNAME, cString(name)],
    [IFLA_GROUP, u32(group)],
  ]);
}

/** `ip link del NAME`: ENODEV when there is none. */
export function linkDelRequest(name: string): Uint8Array {
  return message(RTM_DELLINK, 0, ifinfomsg(), [[IFLA_IFNAME, cString(name)]]);
}

/** `ip addr add IP/PREFIX dev INDEX`: EEXIST when the address is there. */
export function addressAddRequest(index: number, ip: string, prefix: number): Uint8Array {
  const head = new Uint8Array(IFADDRMSG_LEN);
  const view = new DataView(head.buffer);
  view.setUint8(0, AF_INET);
  view.setUint8(1, prefix);
  view.setUint32(4, index, LITTLE);
  const address = ipv4Bytes(ip);
  return message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, head, [
    [IFA_LOCAL, address],
    [IFA_ADDRESS, address],
  ]);
}

/**
 * `ip route add DST/32 dev INDEX scope link` (no `via`), or `ip route add default via GW dev
 * INDEX` (with `via`), in the main table; `route.protocol` (default `boot`, what `ip` writes)
 * marks whose it is, and `options.replace` makes it `ip route replace`.
 */
export function routeAddRequest(
  index: number,
  route: { dst: string; prefix: number; via?: string; protocol?: number },
  options: { replace?: boolean } = {},
): Uint8Array {
  const head = new Uint8Array(RTMSG_LEN);
  head.set([
    AF_INET,
    route.prefix, // rtm_dst_len
    0, // rtm_src_len
    0, // rtm_tos
    RT_TABLE_MAIN,
    route.protocol ?? RTPROT_BOOT,
    route.via === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
    RTN_UNICAST,
  ]);
  const attrs: Attr[] = [];
  if (route.prefix > 0) attrs.push([RTA_DST, ipv4Bytes(route.dst)]);
  if (route.via !== undefined) attrs.push([RTA_GATEWAY, ipv4Bytes(route.via)]);
  attrs.push([RTA_OIF, u32(index)]);
  const flags = NLM_F_CREATE | (options.replace ? NLM_F_REPLACE : NLM_F_EXCL);
  return message(RTM_NEWROUTE, flags, head, attrs);
}

/** `ip neigh replace IP lladdr MAC dev INDEX nud permanent`. */
export function neighbourReplaceRequest(index: number, ip: string, mac: string): Uint8Array {
  const head = new Uint8Array(NDMSG_LEN);
  const view = new DataView(head.buffer);
  view.setUint8(0, AF_INET);
  view.setInt32(4, index, LITTLE);
  view.setUint16(8, NUD_PERMANENT, LITTLE);
  return message(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, head, [
    [NDA_DST, ipv4Bytes(ip)],
    [NDA_LLADDR, macBytes(mac)],
  ]);
}

/** `ip -4 route show table all`: every IPv4 route, as `route` answers, then the end of the dump. */
export function routeDumpRequest(): Uint8Array {
  const head = new Uint8Array(RTMSG_LEN);
  head[0] = AF_INET;
  return message(RTM_GETROUTE, NLM_F_DUMP, head, []);
}

/** `ip -4 neigh show`: every IPv4 neighbour entry, as `neighbour` answers, then the end. */
export function neighbourDumpRequest(): Uint8Array {
  const head = new Uint8Array(NDMSG_LEN);
  head[0] = AF_INET;
  return message(RTM_GETNEIGH, NLM_F_DUMP, head, []);
}

/** Sets the sequence number of a request built above (the socket numbers its requests). */
export function setSequence(request: Uint8Array, seq: number): void {
  new DataView(request.buffer, request.byteOffset, request.byteLength).setUint32(
    8,
    seq >>> 0,
    LITTLE,
  );
}

/** What the kernel answered to one request. */
export type Answer =
  /** The acknowledgement: `errno` 0 is success; `message` is the kernel's extended ack text. */
  | { kind: "ack"; errno: number; message?: string }
  /** A reply carrying data (RTM_NEWLINK to a get): the link's index and MAC address. */
  | LinkAnswer
  /** An IPv4 route of a dump. */
  | RouteAnswer
  /** An IPv4 neighbour entry of a dump. */
  | NeighbourAnswer;

/** A link as a get reports it. */
export interface LinkAnswer {
  kind: "link";
  index: number;
  /** `IFLA_ADDRESS` when it is an Ethernet address, lower case with colons. */
  mac?: string;
}

/** An IPv4 route as a dump reports it. */
export interface RouteAnswer {
  kind: "route";
  /** Routing table (`RTA_TABLE` when present, else the header's). */
  table: number;
  /** Destination address, `0.0.0.0` for a default route. */
  dst: string;
  prefix: number;
  /** `rtm_scope`: 253 link, 0 universe. */
  scope: number;
  /** `rtm_type`: 1 unicast. */
  type: number;
  /** Output interface index, when the route has one. */
  oif?: number;
  /** Next hop, when the route has one. */
  gateway?: string;
}

/** An IPv4 neighbour entry as a dump reports it. */
export interface NeighbourAnswer {
  kind: "neighbour";
  /** Interface index. */
  index: number;
  /** `ndm_state` bits (0x80 permanent). */
  state: number;
  dst: string;
  /** Link-layer address, lower-case `aa:bb:…`, when the entry has one. */
  mac?: string;
}

/** The `NUD_PERMANENT` state bit of a neighbour entry. */
export const NEIGHBOUR_PERMANENT = NUD_PERMANENT;
/** `RT_SCOPE_LINK`. */
export const SCOPE_LINK = RT_SCOPE_LINK;
/** The main routing table. */
export const MAIN_TABLE = RT_TABLE_MAIN;

/**
 * The answers to request `seq` among the messages one `recv` returned, in order. Messages of
 * other sequence numbers (late answers to earlier requests) are skipped; a truncated message
 * throws.
 */
export function parseAnswers(bytes: Uint8Array, seq: number): Answer[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Answer[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= bytes.length) {
    const len = view.getUint32(at, LITTLE);
    if (len < NLMSG_HDRLEN || at + len > bytes.length) {
      throw new Error(`Cannot read a netlink answer: a message of ${len} bytes in ${bytes.length}`);
    }
    const type = view.getUint16(at + 4, LITTLE);
    const flags = view.getUint16(at + 6, LITTLE);
    if (view.getUint32(at + 8, LITTLE) === seq >>> 0) {
      if (type === NLMSG_DONE) {
        // The end of a dump; its payload, when there is one, is the dump's error.
        const errno = len >= NLMSG_HDRLEN + 4
          ? Math.abs(view.getInt32(at + NLMSG_HDRLEN, LITTLE))
          : 0;
        out.push({ kind: "ack", errno });
      } else if (type === NLMSG_ERROR) {
        const errno = Math.abs(view.getInt32(at + NLMSG_HDRLEN, LITTLE));
        const answer: Answer = { kind: "ack", errno };
        if (flags & NLM_F_ACK_TLVS) {
          // With NETLINK_CAP_ACK, the echoed request is its header alone.
          const text = extendedAckText(bytes, view, at + NLMSG_HDRLEN + 4 + NLMSG_HDRLEN, at + len);
          if (text !== undefined) answer.message = text;
        }
        out.push(answer);
      } else if (type === RTM_NEWLINK && len >= NLMSG_HDRLEN + IFINFOMSG_LEN) {
        out.push(parseLink(bytes, view, at + NLMSG_HDRLEN, at + len));
      } else if (type === RTM_NEWROUTE && len >= NLMSG_HDRLEN + RTMSG_LEN) {
        const route = parseRoute(bytes, view, at + NLMSG_HDRLEN, at + len);
        if (route !== undefined) out.push(route);
      } else if (type === RTM_NEWNEIGH && len >= NLMSG_HDRLEN + NDMSG_LEN) {
        const neighbour = parseNeighbour(bytes, view, at + NLMSG_HDRLEN, at + len);
        if (neighbour !== undefined) out.push(neighbour);
      }
    }
    at += align(len);
  }
  return out;
}

/** The attributes in `[from, to)`, by type (the first of each). */
function attributes(view: DataView, from: number, to: number): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  let at = from;
  while (at + 4 <= to) {
    const len = view.getUint16(at, LITTLE);
    if (len < 4 || at + len > to) break;
    const type = view.getUint16(at + 2, LITTLE) & 0x3fff;
    if (!out.has(type)) out.set(type, [at + 4, at + len]);
    at += align(len);
  }
  return out;
}

function ipv4At(bytes: Uint8Array, span: [number, number] | undefined): string | undefined {
  if (span === undefined || span[1] - span[0] !== 4) return undefined;
  return Array.from(bytes.subarray(span[0], span[1])).join(".");
}

/** An IPv4 route (`rtmsg` at `at`), or undefined for another family. */
function parseRoute(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  end: number,
): RouteAnswer | undefined {
  if (view.getUint8(at) !== AF_INET) return undefined;
  const attrs = attributes(view, at + RTMSG_LEN, end);
  const table = attrs.get(RTA_TABLE);
  const oif = attrs.get(RTA_OIF);
  const gateway = ipv4At(bytes, attrs.get(RTA_GATEWAY));
  const route: RouteAnswer = {
    kind: "route",
    table: table !== undefined && table[1] - table[0] === 4
      ? view.getUint32(table[0], LITTLE)
      : view.getUint8(at + 4),
    dst: ipv4At(bytes, attrs.get(RTA_DST)) ?? "0.0.0.0",
    prefix: view.getUint8(at + 1),
    scope: view.getUint8(at + 6),
    type: view.getUint8(at + 7),
  };
  if (oif !== undefined && oif[1] - oif[0] === 4) route.oif = view.getInt32(oif[0], LITTLE);
  if (gateway !== undefined) route.gateway = gateway;
  return route;
}

/** An IPv4 neighbour entry (`ndmsg` at `at`), or undefined for another family. */
function parseLink(bytes: Uint8Array, view: DataView, at: number, end: number): LinkAnswer {
  const link: LinkAnswer = { kind: "link", index: view.getInt32(at + 4, LITTLE) };
  const mac = macAt(bytes, attributes(view, at + IFINFOMSG_LEN, end).get(IFLA_ADDRESS));
  if (mac !== undefined) link.mac = mac;
  return link;
}

function macAt(bytes: Uint8Array, span: [number, number] | undefined): string | undefined {
  if (span === undefined || span[1] - span[0] !== 6) return undefined;
  return Array.from(bytes.subarray(span[0], span[1]))
    .map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function parseNeighbour(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  end: number,
): NeighbourAnswer | undefined {
  if (view.getUint8(at) !== AF_INET) return undefined;
  const attrs = attributes(view, at + NDMSG_LEN, end);
  const dst = ipv4At(bytes, attrs.get(NDA_DST));
  if (dst === undefined) return undefined;
  const neighbour: NeighbourAnswer = {
    kind: "neighbour",
    index: view.getInt32(at + 4, LITTLE),
    state: view.getUint16(at + 8, LITTLE),
    dst,
  };
  const mac = macAt(bytes, attrs.get(NDA_LLADDR));
  if (mac !== undefined) neighbour.mac = mac;
  return neighbour;
}

function extendedAckText(
  bytes: Uint8Array,
  view: DataView,
  from: number,
  to: number,
): string | undefined {
  let at = from;
  while (at + 4 <= to) {
    const len = view.getUint16(at, LITTLE);
    const type = view.getUint16(at + 2, LITTLE) & 0x3fff;
    if (len < 4 || at + len > to) return undefined;
    if (type === NLMSGERR_ATTR_MSG) {
      const text = bytes.subarray(at + 4, at + len);
      const end = text.indexOf(0);
      return new TextDecoder().decode(end < 0 ? text : text.subarray(0, end));
    }
    at += align(len);
  }
  return undefined;
}

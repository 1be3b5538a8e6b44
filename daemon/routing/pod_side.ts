/**
 * The pod side of a local endpoint, checked and repaired from the daemon: inside the pod's
 * namespace, ADD made a permanent neighbour entry `169.254.1.1 → host veth MAC`, the route
 * `169.254.1.1 dev IFNAME scope link` and the default route via it (`configurePod` in
 * `src/pod_links.ts`). The host veth has no address and answers no ARP for the gateway, so a pod
 * that loses the entry loses its gateway; kubelet never calls CNI CHECK, which would report it.
 * {@linkcode podSideRepairs} compares a dump of the pod's routes and neighbours with that, purely;
 * {@linkcode checkPodSide} runs the check on one rtnetlink socket made in the pod's namespace for
 * the check and closed after it. Only what tern made is touched: the gateway's entry on the
 * pod's interface, the gateway's route on it, and a default route only when the pod has none at
 * all (one someone else set stays).
 * @module
 */
import { GATEWAY_IP } from "../../src/names.ts";
import { ENODEV, NetlinkError, type RouteSocket } from "../../src/rtnetlink.ts";
import {
  type Answer,
  MAIN_TABLE,
  NEIGHBOUR_PERMANENT,
  neighbourDumpRequest,
  neighbourReplaceRequest,
  routeAddRequest,
  routeDumpRequest,
} from "../../src/rtnetlink_message.ts";

/** errno 2: the namespace file is gone (the pod is). */
const ENOENT = 2;
/** errno 17: added meanwhile; what was wanted is there. */
const EEXIST = 17;

/** The kinds of pod-side objects, as the repair metrics label them. */
export type PodSideObject = "pod_neighbour" | "pod_route";

/** One missing or wrong pod-side object, and the request that puts it back. */
export interface PodSideRepair {
  object: PodSideObject;
  /** What is put back, `ip` style (`neigh replace 169.254.1.1 lladdr … dev eth0 nud permanent`). */
  what: string;
  request: Uint8Array;
}

/**
 * The repairs the pod's interface `link` (index and name in the pod's namespace) needs, given
 * the routes and neighbour entries of its namespace (`answers`, dumps) and the MAC of the host
 * veth; empty when all is as ADD made it. Pure.
 */
export function podSideRepairs(
  answers: readonly Answer[],
  link: { index: number; ifname: string; hostMac: string },
): PodSideRepair[] {
  const repairs: PodSideRepair[] = [];
  const hostMac = link.hostMac.toLowerCase();
  const entry = answers.find((a) =>
    a.kind === "neighbour" && a.index === link.index && a.dst === GATEWAY_IP
  );
  if (
    entry?.kind !== "neighbour" || (entry.state & NEIGHBOUR_PERMANENT) === 0 ||
    entry.mac !== hostMac
  ) {
    repairs.push({
      object: "pod_neighbour",
      what: `neigh replace ${GATEWAY_IP} lladdr ${hostMac} dev ${link.ifname} nud permanent`,
      request: neighbourReplaceRequest(link.index, GATEWAY_IP, hostMac),
    });
  }
  const main = answers.filter((a) => a.kind === "route" && a.table === MAIN_TABLE);
  const gatewayRoute = main.some((r) =>
    r.kind === "route" && r.dst === GATEWAY_IP && r.prefix === 32 && r.oif === link.index &&
    r.gateway === undefined
  );
  if (!gatewayRoute) {
    repairs.push({
      object: "pod_route",
      what: `route add ${GATEWAY_IP}/32 dev ${link.ifname} scope link`,
      request: routeAddRequest(link.index, { dst: GATEWAY_IP, prefix: 32 }),
    });
  }
  if (!main.some((r) => r.kind === "route" && r.prefix === 0)) {
    repairs.push({
      object: "pod_route",
      what: `route add default via ${GATEWAY_IP} dev ${link.ifname}`,
      request: routeAddRequest(link.index, { dst: "0.0.0.0", prefix: 0, via: GATEWAY_IP }),
    });
  }
  return repairs;
}

/** Makes a socket in a pod's namespace for the length of a check (`Rtnetlink`; tests: a fake). */
export interface PodNamespaces {
  /**
   * Runs `fn` with a socket made in the namespace at `netns`, closed after. Throws
   * `NetlinkError` (ENOENT when the namespace is gone) or `NetnsStrandedError`.
   */
  withSocket<T>(netns: string, fn: (socket: RouteSocket) => T): T;
}

/** What a check of one endpoint found. */
export type PodSideResult =
  /** Checked: `repaired` lists what was put back (empty when nothing had drifted). */
  | { kind: "checked"; repaired: PodSideRepair[] }
  /** The namespace or the pod's interface is gone: the pod is, nothing to do. */
  | { kind: "gone" };

/**
 * Checks and repairs the pod side of one endpoint: its namespace `netns`, interface `ifname`,
 * and `hostMac`, the MAC its host veth has now (read from the node, never derived from the
 * veth's name: a veth made another way keeps the MAC the kernel gave it, and its pod's entry
 * points there). A repair that finds its object made meanwhile is success. Throws
 * `NetlinkError` on other failures, and `NetnsStrandedError` (which the caller must end the
 * process on) unchanged.
 */
export function checkPodSide(
  namespaces: PodNamespaces,
  ep: { netns: string; ifname: string; hostMac: string },
): PodSideResult {
  const where = `${ep.ifname} in ${ep.netns}`;
  try {
    return namespaces.withSocket(ep.netns, (pod): PodSideResult => {
      const index = pod.linkIndex(ep.ifname);
      if (index === undefined) return { kind: "gone" };
      const answers = [
        ...pod.dump(`Cannot list the routes of ${where}`, routeDumpRequest()),
        ...pod.dump(`Cannot list the neighbour entries of ${where}`, neighbourDumpRequest()),
      ];
      const repairs = podSideRepairs(answers, { index, ifname: ep.ifname, hostMac: ep.hostMac });
      for (const repair of repairs) {
        try {
          pod.request(`Cannot ${repair.what} in ${ep.netns}`, repair.request);
        } catch (err) {
          if (!(err instanceof NetlinkError && err.errno === EEXIST)) throw err;
        }
      }
      return { kind: "checked", repaired: repairs };
    });
  } catch (err) {
    if (err instanceof NetlinkError && (err.errno === ENOENT || err.errno === ENODEV)) {
      return { kind: "gone" };
    }
    throw err;
  }
}

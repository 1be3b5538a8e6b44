/**
 * A pod's network namespace in memory, for the pod-side tests: dumps list what it holds and
 * requests add to it, decoded with the real message parser.
 * @module
 */
import { GATEWAY_IP, hostVethMac } from "../../src/names.ts";
import { NetlinkError, type RouteSocket } from "../../src/rtnetlink.ts";
import {
  type Answer,
  type LinkAnswer,
  neighbourReplaceRequest,
  parseAnswers,
  routeAddRequest,
  RTM_GETROUTE,
  setSequence,
} from "../../src/rtnetlink_message.ts";
import type { PodNamespaces } from "./pod_side.ts";
import type { HostLinks } from "./pod_side_guard.ts";

/** The host veth of the fake endpoint. */
export const HOST_VETH = "tern0123456789a";
/** Its MAC, as ADD derives it. */
export const HOST_MAC = hostVethMac(HOST_VETH);
/** The index of the pod's interface. */
export const INDEX = 2;

/** What a request built by `src/rtnetlink_message.ts` adds, read back as a dump would list it. */
export function decoded(request: Uint8Array): Answer {
  const copy = request.slice();
  setSequence(copy, 1);
  const [answer] = parseAnswers(copy, 1);
  if (answer === undefined) throw new Error("Cannot decode the request");
  return answer;
}

/** The pod side exactly as ADD makes it, plus the local table's entries. */
export function asAdded(): Answer[] {
  return [
    decoded(routeAddRequest(INDEX, { dst: GATEWAY_IP, prefix: 32 })),
    decoded(routeAddRequest(INDEX, { dst: "0.0.0.0", prefix: 0, via: GATEWAY_IP })),
    { kind: "route", table: 255, dst: "10.244.1.5", prefix: 32, scope: 254, type: 2, oif: INDEX },
    decoded(neighbourReplaceRequest(INDEX, GATEWAY_IP, HOST_MAC)),
  ];
}

/** A pod's namespace in memory: dumps list `objects`; requests add to them. */
export class FakePod implements RouteSocket {
  /** What the namespace holds. */
  objects: Answer[];
  /** What each request was for. */
  requests: string[] = [];
  /** `ifname` is the pod's interface (its index is {@linkcode INDEX}). */
  constructor(objects: Answer[], readonly ifname = "eth0") {
    this.objects = objects;
  }
  request(what: string, request: Uint8Array): void {
    this.requests.push(what);
    const added = decoded(request);
    if (added.kind === "neighbour") {
      this.objects = this.objects.filter((o) =>
        !(o.kind === "neighbour" && o.index === added.index && o.dst === added.dst)
      );
    }
    this.objects.push(added);
  }
  requestAsync(what: string, request: Uint8Array): Promise<void> {
    this.request(what, request);
    return Promise.resolve();
  }
  linkIndex(name: string): number | undefined {
    return this.link(name)?.index;
  }
  link(name: string): LinkAnswer | undefined {
    return name === this.ifname ? { kind: "link", index: INDEX } : undefined;
  }
  dump(_what: string, request: Uint8Array): Answer[] {
    const type = new DataView(request.buffer).getUint16(4, true);
    return this.objects.filter((
      o,
    ) => (type === RTM_GETROUTE ? o.kind === "route" : o.kind === "neighbour"));
  }
  close(): void {}
}

/** The node's links: the host veth of the fake endpoint with {@linkcode HOST_MAC}, and `more`. */
export function hostLinks(more: Record<string, string> = {}): HostLinks {
  const macs: Record<string, string> = { [HOST_VETH]: HOST_MAC, ...more };
  return { linkMac: (name) => macs[name] };
}

/** Namespaces by path; a path not in `pods` is gone (ENOENT). `opened` records each. */
export function namespaces(pods: Record<string, FakePod>, opened: string[] = []): PodNamespaces {
  return {
    withSocket<T>(netns: string, fn: (socket: RouteSocket) => T): T {
      opened.push(netns);
      const pod = pods[netns];
      if (pod === undefined) throw new NetlinkError(`Cannot open network namespace ${netns}`, 2);
      return fn(pod);
    },
  };
}

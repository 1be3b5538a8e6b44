/**
 * The host side of every endpoint, through `Ip` from `src/ip.ts`: the `podIP/32` route to the
 * host veth, marked with tern's route protocol, and the veth's removal on release. Route sync is
 * compute, diff, apply: {@linkcode planRoutes} is pure, {@linkcode Dataplane.syncRoutes} lists
 * what the kernel has and applies the difference. It only ever lists, replaces or deletes routes
 * carrying tern's protocol, and only deletes links whose name carries tern's prefix.
 * @module
 */
import type { Endpoint } from "../src/api.ts";
import { type Ip, type IpRoute, renderHostRoute } from "../src/ip.ts";
import { hostVethName, VETH_PREFIX } from "../src/names.ts";
import { CommandError } from "../src/runner.ts";

/** Default path of the IPv4 forwarding switch (per network namespace). */
export const IP_FORWARD_PATH = "/proc/sys/net/ipv4/ip_forward";

/** What the API handler needs of the host side; tests pass a fake. */
export interface HostDataplane {
  /** Installs (replaces) the endpoint's host route; `ep.hostVeth` must be set. */
  programEndpoint(ep: Endpoint): Promise<void>;
  /** Deletes the endpoint's host route and host veth; what is already gone is success. */
  removeEndpoint(ep: Endpoint): Promise<void>;
}

/** A host route tern wants: `ip/32 dev dev`. */
export interface HostRoute {
  ip: string;
  dev: string;
}

/** What {@linkcode planRoutes} decided. */
export interface RoutePlan {
  /** Routes to install or replace (missing, or on the wrong device). */
  install: HostRoute[];
  /** Owned host routes that belong to no endpoint. */
  remove: HostRoute[];
}

/** What a route sync changed, and what it could not. */
export interface RouteSyncResult extends RoutePlan {
  /** One message per change that failed; the next sync retries it. */
  failed: string[];
}

/** The veth name of an endpoint: recorded when programmed, else derived from its identity. */
export async function endpointVeth(ep: Endpoint): Promise<string> {
  return ep.hostVeth !== "" ? ep.hostVeth : await hostVethName(ep.containerID, ep.ifname);
}

/** Whether an owned route is a pod host route (a /32 straight to a device) rather than, say, a peer route. */
function isHostRoute(route: IpRoute): route is IpRoute & { dev: string } {
  return route.dev !== undefined && route.gateway === undefined &&
    (!route.dst.includes("/") || route.dst.endsWith("/32"));
}

/**
 * Pure: given tern's routes in the kernel (`have`, already filtered by protocol), the endpoints
 * and the host veths that exist, which host routes to install and which to delete. Programmed
 * endpoints whose veth exists get `ip/32 dev veth`; owned host routes to an address that no
 * endpoint holds are deleted; routes to an address that an endpoint holds are otherwise left.
 */
export function planRoutes(
  have: readonly IpRoute[],
  options: { endpoints: readonly Endpoint[]; veths: ReadonlySet<string> },
): RoutePlan {
  const current = new Map<string, string>();
  for (const route of have) {
    if (isHostRoute(route)) current.set(route.dst.replace(/\/32$/, ""), route.dev);
  }
  const held = new Set(options.endpoints.map((ep) => ep.ip));
  const install: HostRoute[] = [];
  for (const ep of options.endpoints) {
    if (ep.state !== "programmed" || !options.veths.has(ep.hostVeth)) continue;
    if (current.get(ep.ip) !== ep.hostVeth) install.push({ ip: ep.ip, dev: ep.hostVeth });
  }
  const remove: HostRoute[] = [];
  for (const [ip, dev] of current) if (!held.has(ip)) remove.push({ ip, dev });
  return { install, remove };
}

/** The host side of the node, on an {@linkcode Ip}. */
export class Dataplane implements HostDataplane {
  readonly #ip: Ip;
  readonly #proto: number;
  readonly #ipForwardPath: string;

  /**
   * `options.routeProtocol` marks tern's routes; `options.ipForwardPath` (default
   * {@linkcode IP_FORWARD_PATH}) is injectable so tests never touch the real switch.
   */
  constructor(ip: Ip, options: { routeProtocol: number; ipForwardPath?: string }) {
    this.#ip = ip;
    this.#proto = options.routeProtocol;
    this.#ipForwardPath = options.ipForwardPath ?? IP_FORWARD_PATH;
  }

  /** `ip route replace <ip>/32 dev <veth> scope link proto <proto>`. */
  async programEndpoint(ep: Endpoint): Promise<void> {
    if (ep.hostVeth === "") {
      throw new TypeError(`Cannot program endpoint ${ep.ip}: no host veth recorded`);
    }
    await this.#ip.batch([renderHostRoute(ep.ip, ep.hostVeth, this.#proto)]);
  }

  /**
   * Deletes tern's route to the endpoint's address (never a route of another protocol) and its
   * host veth; both "not found" outcomes are success.
   */
  async removeEndpoint(ep: Endpoint): Promise<void> {
    await this.#routeDel(ep.ip);
    const veth = await endpointVeth(ep);
    // Defence in depth: never delete a link that tern did not name.
    if (veth.startsWith(VETH_PREFIX)) await this.#ip.linkDelIfExists(veth);
  }

  /** Names of the links that carry tern's prefix. */
  async hostVeths(): Promise<Set<string>> {
    const links = await this.#ip.json<{ ifname: string }>(["link", "show"]);
    return new Set(links.map((l) => l.ifname).filter((n) => n.startsWith(VETH_PREFIX)));
  }

  /**
   * Lists tern's routes, plans with {@linkcode planRoutes} and applies each change on its own,
   * so that one failure does not block the rest; failures are returned, not thrown.
   * `options.veths` saves listing links when the caller already has them.
   */
  async syncRoutes(
    endpoints: readonly Endpoint[],
    options: { veths?: ReadonlySet<string> } = {},
  ): Promise<RouteSyncResult> {
    const have = await this.#ip.routesByProto(this.#proto);
    const veths = options.veths ?? await this.hostVeths();
    const plan = planRoutes(have, { endpoints, veths });
    const failed: string[] = [];
    for (const route of plan.install) {
      try {
        await this.#ip.batch([renderHostRoute(route.ip, route.dev, this.#proto)]);
      } catch (err) {
        failed.push(`install ${route.ip}/32 dev ${route.dev}: ${String(err)}`);
      }
    }
    for (const route of plan.remove) {
      try {
        await this.#routeDel(route.ip, route.dev);
      } catch (err) {
        failed.push(`remove ${route.ip}/32 dev ${route.dev}: ${String(err)}`);
      }
    }
    return { ...plan, failed };
  }

  /** Writes 1 to the IPv4 forwarding switch unless it is already on; true when it changed it. */
  async enableIpForward(): Promise<boolean> {
    const current = (await Deno.readTextFile(this.#ipForwardPath)).trim();
    if (current === "1") return false;
    await Deno.writeTextFile(this.#ipForwardPath, "1\n");
    return true;
  }

  async #routeDel(ip: string, dev?: string): Promise<void> {
    const args = ["route", "del", `${ip}/32`];
    if (dev !== undefined) args.push("dev", dev);
    args.push("proto", String(this.#proto));
    const result = await this.#ip.raw(args);
    if (result.code === 0) return;
    if (/No such process|Cannot find device/i.test(result.stderr)) return;
    throw new CommandError([...this.#ip.argv(), ...args], result);
  }
}

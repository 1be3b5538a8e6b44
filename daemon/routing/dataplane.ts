/**
 * The host side of every endpoint, through `Ip` from `src/ip.ts`, on the plugin's critical path:
 * programming turns on strict reverse-path filtering on the host veth, then installs the
 * `podIP/32` route to the host veth and the endpoint's RPDB rules (a pod bound to an egress table
 * has some; most pods none) in one `ip -batch`, so they are in place before ADD returns; removal
 * deletes them and the host veth.
 * Everything carries tern's route protocol, and only links whose name carries tern's prefix are
 * ever deleted. The endpoint is registered in {@linkcode LocalEndpoints} before the kernel is
 * touched and forgotten before it is torn down, and from then on the reconciler owns its routes
 * and rules: it puts back whatever goes missing.
 * @module
 */
import { VethSightings } from "../../src/ipam/veth_sightings.ts";
import type { Endpoint } from "../../src/api.ts";
import type { Ip } from "../../src/ip.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { hostVethName, VETH_PREFIX } from "../../src/names.ts";
import { applyLines, type ApplyResult } from "../../src/batch_apply.ts";
import type { HostNetlink } from "../../src/host_netlink.ts";
import { type LocalEndpoint, LocalEndpoints, toLocalEndpoint } from "../../src/local_endpoints.ts";
import type { EchoFilter } from "./monitor_echo.ts";
import { desiredHostRoutes } from "../../src/routing/host_routes.ts";
import { parseRoutes } from "../../src/routing/parse.ts";
import {
  FROM_POD_PRIORITY,
  MAIN_TABLE,
  type Rule,
  TO_POD_PRIORITY,
} from "../../src/routing/model.ts";
import {
  renderRouteDel,
  renderRouteReplace,
  renderRuleAdd,
  renderRuleDel,
} from "../../src/routing/render.ts";

/** Default path of the IPv4 forwarding switch (per network namespace). */
export const IP_FORWARD_PATH = "/proc/sys/net/ipv4/ip_forward";

/** The per-interface IPv4 settings of the node's network namespace (`<dir>/<veth>/rp_filter`). */
export const IPV4_CONF_DIR = "/proc/sys/net/ipv4/conf";

/** What the API handler needs of the host side; tests pass a fake. */
export interface HostDataplane {
  /** Installs (replaces) the endpoint's host route and rules; `ep.hostVeth` must be set. */
  programEndpoint(ep: Endpoint): Promise<void>;
  /**
   * Deletes the endpoint's host route, rules and host veth (not the veth with
   * `options.keepVeth`: an ADD undoing its own work, whose plugin owns the veth); what is
   * already gone is success.
   */
  removeEndpoint(ep: Endpoint, options?: { keepVeth?: boolean }): Promise<void>;
}

/** The veth name of an endpoint: recorded when programmed, else derived from its identity. */
export async function endpointVeth(ep: Endpoint): Promise<string> {
  return ep.hostVeth !== "" ? ep.hostVeth : await hostVethName(ep.containerID, ep.ifname);
}

/**
 * The `ip -batch` lines that remove an endpoint's host route and its own rules (any table), those
 * whose selector is its address; a rule already gone is success. The node-wide `to <CIDR>` rules
 * stay: the reconciler removes them when the last binding goes. Pure.
 */
export function renderEndpointRemoval(ip: string, protocol: number): string[] {
  const host = `${ip}/32`;
  return [
    renderRuleDel({ priority: TO_POD_PRIORITY, dst: host, table: 0 }, protocol),
    renderRuleDel({ priority: FROM_POD_PRIORITY, src: host, table: 0 }, protocol),
    renderRouteDel({ table: MAIN_TABLE, dst: host }, protocol),
  ];
}

/** The host side of the node, on an {@linkcode Ip}. */
/**
 * The endpoint's host veth does not exist: the plugin makes the veth pair before it asks for the
 * endpoint to be programmed, so either the pod went meanwhile or the request names another veth.
 */
export class VethMissingError extends Error {
  constructor(readonly ip: string, readonly hostVeth: string) {
    super(
      `Cannot program endpoint ${ip}: no host veth ${hostVeth} on this node: make the veth pair before asking for the endpoint`,
    );
    this.name = "VethMissingError";
  }
}

export class Dataplane implements HostDataplane {
  readonly #ip: Ip;
  readonly #proto: number;
  readonly #ipForwardPath: string;
  readonly #endpoints: LocalEndpoints;
  readonly #rulesFor: (ep: LocalEndpoint) => Rule[];
  readonly #echo: EchoFilter | undefined;
  readonly #rpFilterDir: string | undefined;
  readonly #perPodRules: boolean;
  readonly #netlink: HostNetlink | undefined;
  readonly #unsettled: () => void;
  /** When each tern veth was first listed by {@linkcode Dataplane.hostVeths} (ipam check's grace). */
  readonly vethSightings: VethSightings = new VethSightings();

  /**
   * `options.routeProtocol` marks tern's routes and rules; `options.endpoints` (default: a
   * registry of its own) learns of every endpoint programmed or removed; `options.rulesFor`
   * (default: none) gives the rules an endpoint needs before ADD returns; `options.echo`
   * learns what is applied, so that `ip monitor` echoes trigger no pass; `options.ipForwardPath` (default {@linkcode IP_FORWARD_PATH}) is injectable so tests never
   * touch the real switch; `options.rpFilterDir` (the daemon passes {@linkcode IPV4_CONF_DIR};
   * default: none, nothing written) is where each programmed veth gets strict reverse-path
   * filtering; `options.perPodRules` (default true) is false when no pod can have rules (no
   * egress tables), so that a release after the veth is gone runs no `ip` at all;
   * `options.netlink` (default: none, everything through `ip`) writes the host route of an
   * endpoint without rules in-process, saving ADD an exec; `options.unsettled` (default: nobody)
   * is told when a change failed and may have left the kernel half done, for the reconciler to
   * settle (an endpoint change that succeeded needs no pass: see `src/routing/dataplane_settles.ts`).
   */
  constructor(
    ip: Ip,
    options: {
      routeProtocol: number;
      endpoints?: LocalEndpoints;
      rulesFor?: (ep: LocalEndpoint) => Rule[];
      echo?: EchoFilter;
      ipForwardPath?: string;
      rpFilterDir?: string;
      perPodRules?: boolean;
      netlink?: HostNetlink;
      unsettled?: () => void;
    },
  ) {
    this.#ip = ip;
    this.#proto = options.routeProtocol;
    this.#ipForwardPath = options.ipForwardPath ?? IP_FORWARD_PATH;
    this.#endpoints = options.endpoints ?? new LocalEndpoints();
    this.#echo = options.echo;
    this.#rpFilterDir = options.rpFilterDir;
    this.#rulesFor = options.rulesFor ?? (() => []);
    this.#perPodRules = options.perPodRules ?? true;
    this.#netlink = options.netlink;
    this.#unsettled = options.unsettled ?? (() => {});
  }

  /** The registry of programmed endpoints this dataplane keeps up to date. */
  get endpoints(): LocalEndpoints {
    return this.#endpoints;
  }

  /**
   * One batch: `route replace <ip>/32 dev <veth> scope link` and `rule add` for each of the
   * endpoint's rules (a rule already there is fine, e.g. a pod CIDR's that another bound pod
   * needs too), all with tern's protocol. On failure what did apply is removed again (unless the
   * endpoint was programmed before: a repeated ADD keeps its old state) and the error names each
   * failed line with `ip`'s message.
   */
  async programEndpoint(ep: Endpoint): Promise<void> {
    if (ep.hostVeth === "") {
      throw new TypeError(`Cannot program endpoint ${ep.ip}: no host veth recorded`);
    }
    // Strict reverse-path filtering on the host veth: a packet from the pod must carry the
    // pod's own address (the only one routed back to this veth), so policy, which trusts source
    // addresses, cannot be fooled by a spoofed one. Before the endpoint counts as programmed.
    let exists: boolean;
    try {
      exists = await this.setRpFilter(ep.hostVeth);
    } catch (err) {
      throw new Error(
        `Cannot program endpoint ${ep.ip}: cannot set rp_filter on ${ep.hostVeth}: ${
          errorMessage(err)
        }`,
      );
    }
    if (!exists) throw new VethMissingError(ep.ip, ep.hostVeth);
    const local = toLocalEndpoint(ep);
    const previous = this.#endpoints.upsert(local);
    try {
      await this.#install(ep, local, previous);
    } catch (err) {
      // A pass settles whatever the failure or its rollback left half done.
      this.#unsettled();
      throw err;
    }
  }

  async #install(ep: Endpoint, local: LocalEndpoint, previous: LocalEndpoint | undefined) {
    const routes = desiredHostRoutes([local]).map((r) => renderRouteReplace(r, this.#proto));
    const rules = this.#rulesFor(local).map((r) => renderRuleAdd(r, this.#proto));
    const lines = [...routes, ...rules];
    const { failed } = this.#netlink !== undefined && rules.length === 0
      ? this.#replaceRoute(ep, routes)
      : await this.#apply(lines);
    if (failed.length === 0) return;
    if (previous === undefined) {
      // Roll back what did apply (the lines run on past a failure); the reconciler would
      // remove it too, but ADD leaves nothing behind on its own.
      this.#endpoints.remove(ep);
      await this.#apply(renderEndpointRemoval(ep.ip, this.#proto)).catch(() => {});
    } else {
      this.#endpoints.upsert(previous);
    }
    throw new Error(
      `Cannot program endpoint ${ep.ip}: ${failed.map((f) => `${f.line}: ${f.error}`).join("; ")}`,
    );
  }

  /**
   * Forgets the endpoint, then deletes tern's route and rules for its address (never those of
   * another protocol) and its host veth, unless `options.keepVeth`; "not found" outcomes are
   * success.
   */
  async removeEndpoint(ep: Endpoint, options: { keepVeth?: boolean } = {}): Promise<void> {
    this.#endpoints.remove(ep);
    try {
      await this.#uninstall(ep, options);
    } catch (err) {
      this.#unsettled();
      throw err;
    }
  }

  async #uninstall(ep: Endpoint, options: { keepVeth?: boolean }): Promise<void> {
    const veth = await endpointVeth(ep);
    // A CNI DEL has deleted the veth already (its sysctl directory is gone too): the kernel took
    // the host route with it, and without egress tables there were no rules: no `ip` exec.
    const vethGone = veth.startsWith(VETH_PREFIX) && !await this.#mayExist(veth);
    // Deleting the veth takes its host route with it: without per-pod rules, a veth this call
    // deletes over rtnetlink needs no `ip` exec either.
    const deletesVeth = !vethGone && !options.keepVeth && veth.startsWith(VETH_PREFIX) &&
      this.#netlink !== undefined;
    if ((!vethGone && !deletesVeth) || this.#perPodRules) {
      const { failed } = await this.#apply(renderEndpointRemoval(ep.ip, this.#proto));
      if (failed.length > 0) {
        throw new Error(
          `Cannot remove endpoint ${ep.ip}: ${
            failed.map((f) => `${f.line}: ${f.error}`).join("; ")
          }`,
        );
      }
    }
    // Defence in depth: never delete a link that tern did not name.
    if (veth.startsWith(VETH_PREFIX) && !vethGone && !options.keepVeth) {
      // In-process, this answers once the kernel has unlisted the veth (its route with it),
      // 15-25 ms before `ip link del` would return.
      if (this.#netlink !== undefined) await this.#netlink.deleteLink(veth);
      else await this.#ip.linkDelIfExists(veth);
    }
  }

  /**
   * False when link `veth` surely does not exist in this namespace: its directory under
   * `rpFilterDir` (`/proc/sys/net/ipv4/conf`, which shows the reading process's namespace) is
   * missing. True without `rpFilterDir`, or when that cannot be told.
   */
  // Synchronous, as setRpFilter: a procfs stat is microseconds, and the caller holds the lock.
  // deno-lint-ignore require-await
  async #mayExist(veth: string): Promise<boolean> {
    if (this.#rpFilterDir === undefined) return true;
    try {
      Deno.statSync(`${this.#rpFilterDir}/${veth}`);
      return true;
    } catch (err) {
      return !(err instanceof Deno.errors.NotFound);
    }
  }

  /**
   * Turns on strict reverse-path filtering on tern's veth `veth` (`rp_filter = 1`); false when
   * there is no such interface. Does nothing (true) without `rpFilterDir` or for a name without
   * tern's prefix. The daemon also calls it at start-up for the endpoints it restores.
   */
  // Synchronous on purpose: a procfs write is microseconds, while an async file op yields to the
  // event loop with the dataplane lock held, and in a burst of ADDs every other request's work
  // ran before the next step (the lock's queue grew to ~45 ms p50 in a burst of 30).
  // deno-lint-ignore require-await
  async setRpFilter(veth: string): Promise<boolean> {
    if (this.#rpFilterDir === undefined || !veth.startsWith(VETH_PREFIX)) return true;
    try {
      Deno.writeTextFileSync(`${this.#rpFilterDir}/${veth}/rp_filter`, "1\n");
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  }

  /** Names of the links that carry tern's prefix; each listing is told to `vethSightings`. */
  async hostVeths(): Promise<Set<string>> {
    const links = await this.#ip.json<{ ifname: string }>(["link", "show"]);
    const veths = new Set(links.map((l) => l.ifname).filter((n) => n.startsWith(VETH_PREFIX)));
    this.vethSightings.observe(veths, Date.now());
    return veths;
  }

  /** The endpoint's host route over rtnetlink, reported as {@linkcode applyLines} would. */
  #replaceRoute(ep: Endpoint, lines: string[]): Pick<ApplyResult, "failed"> {
    this.#echo?.expect(lines);
    try {
      this.#netlink!.replaceHostRoute(ep.ip, ep.hostVeth, this.#proto);
      return { failed: [] };
    } catch (err) {
      this.#echo?.forget(lines);
      return { failed: [{ index: 0, line: lines[0] ?? "", error: errorMessage(err) }] };
    }
  }

  /**
   * tern's host routes: `<ip>/32 dev <tern veth>` with tern's protocol in the main table, as the
   * kernel has them now (for `tern ipam check`).
   */
  async hostRoutes(): Promise<{ ip: string; dev: string }[]> {
    const json = await this.#ip.json([
      "-4",
      "route",
      "show",
      "proto",
      String(this.#proto),
      "table",
      "main",
    ]);
    return parseRoutes(json, { protocol: this.#proto })
      .filter((r) => r.dst.endsWith("/32") && r.via === undefined && r.dev?.startsWith(VETH_PREFIX))
      .map((r) => ({ ip: r.dst.slice(0, -3), dev: r.dev! }));
  }

  /** Deletes tern's link `veth` (never one without tern's prefix); false when it was gone. */
  async deleteVeth(veth: string): Promise<boolean> {
    if (!veth.startsWith(VETH_PREFIX)) {
      throw new TypeError(`Refusing to delete ${veth}: not a tern veth`);
    }
    return await this.#ip.linkDelIfExists(veth);
  }

  async #apply(lines: string[]): Promise<ApplyResult> {
    this.#echo?.expect(lines);
    const result = await applyLines(this.#ip, lines);
    this.#echo?.forget(result.failed.map((f) => f.line));
    return result;
  }

  /**
   * Puts back the sysctls tern set that someone turned off since: IPv4 forwarding, and strict
   * `rp_filter` on each programmed endpoint's veth (a veth gone meanwhile is skipped). Returns
   * the sysctls it repaired, `net.ipv4.…` style; empty when nothing had drifted. Neither change
   * raises a netlink event the monitor follows, so the daemon runs this on its periodic pass.
   */
  async repairSysctls(): Promise<string[]> {
    const repaired: string[] = [];
    if (await this.enableIpForward()) repaired.push("net.ipv4.ip_forward");
    if (this.#rpFilterDir === undefined) return repaired;
    for (const ep of this.#endpoints.list()) {
      const veth = ep.hostVeth;
      if (!veth.startsWith(VETH_PREFIX)) continue;
      const path = `${this.#rpFilterDir}/${veth}/rp_filter`;
      const current = await Deno.readTextFile(path).catch(() => undefined);
      if (current === undefined || current.trim() === "1") continue;
      if (await this.setRpFilter(veth)) repaired.push(`net.ipv4.conf.${veth}.rp_filter`);
    }
    return repaired;
  }

  /** Writes 1 to the IPv4 forwarding switch unless it is already on; true when it changed it. */
  async enableIpForward(): Promise<boolean> {
    const current = (await Deno.readTextFile(this.#ipForwardPath)).trim();
    if (current === "1") return false;
    await Deno.writeTextFile(this.#ipForwardPath, "1\n");
    return true;
  }
}

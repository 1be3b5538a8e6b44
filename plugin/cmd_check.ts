/**
 * CNI CHECK: compares what is in place with what ADD set up and with the runtime's cached
 * prevResult, through `ip -json` queries on both sides. Every difference is collected, so one
 * error names all of them. The host route is checked by destination, device and scope; its
 * protocol number is the daemon's business (configurable there) and its reconciler repairs it.
 * @module
 */
import type { Endpoint } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import type { IpAddrInfo, IpLink, IpNeigh, IpRoute } from "../src/ip.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { GATEWAY_IP, hostVethName } from "../src/names.ts";
import { CommandError } from "../src/runner.ts";
import type { CommandContext } from "./_context.ts";
import { daemonFailure } from "./daemon_failure.ts";
import type { AddCheckEnv } from "./env.ts";
import type { CniResult } from "./result.ts";

/** An address entry with its link fields, as `ip -json addr show dev X` prints it. */
type LinkWithAddrs = IpAddrInfo & IpLink;

function reason(err: unknown): string {
  if (err instanceof CommandError) return err.result.stderr.trim() || `exit ${err.result.code}`;
  return errorMessage(err);
}

function missingDevice(err: unknown): boolean {
  return err instanceof CommandError &&
    /does not exist|Cannot find device/i.test(err.result.stderr);
}

/**
 * Runs CHECK. Throws {@linkcode CniError}: 3 when the daemon does not know the attachment or the
 * netns is gone, 7 naming every difference, 11 when the daemon cannot be reached.
 * `options.netnsExists` (default: always true) tells whether `CNI_NETNS` still exists.
 */
export async function cmdCheck(
  ctx: CommandContext<AddCheckEnv>,
  options: { netnsExists?: (path: string) => boolean } = {},
): Promise<void> {
  const { env, conf, ip, daemon, log } = ctx;
  const id = { containerID: env.containerId, ifname: env.ifname };
  const who = `${env.containerId}/${env.ifname}`;
  let ep: Endpoint | undefined;
  try {
    ep = await daemon.endpoint(id);
  } catch (err) {
    throw daemonFailure(err, "look up the attachment");
  }
  if (ep === undefined) {
    throw new CniError(CniCode.UnknownContainer, `Attachment unknown to the daemon: ${who}`);
  }
  if (!(options.netnsExists?.(env.netns) ?? true)) {
    throw new CniError(CniCode.UnknownContainer, `Network namespace does not exist: ${env.netns}`);
  }

  const problems: string[] = [];
  const hostVeth = await hostVethName(env.containerId, env.ifname);
  const podAddr = `${ep.ip}/32`;
  const dev = env.ifname;
  const inPod = { netns: env.netns };

  if (ep.state !== "programmed") {
    problems.push(`the daemon has not programmed it (state ${JSON.stringify(ep.state)})`);
  } else if (ep.hostVeth !== hostVeth) {
    problems.push(`the daemon records host veth ${ep.hostVeth}, expected ${hostVeth}`);
  }
  if (ep.network !== conf.name) {
    problems.push(`the daemon records network ${ep.network}, expected ${conf.name}`);
  }

  // Host side: the veth and the route to the pod.
  let hostMac: string | undefined;
  try {
    const link = await ip.link(hostVeth);
    if (link === undefined) problems.push(`host veth ${hostVeth} is missing`);
    else {
      hostMac = link.address?.toLowerCase();
      if (!link.flags?.includes("UP")) problems.push(`host veth ${hostVeth} is down`);
      if (link.mtu !== conf.mtu) {
        problems.push(`host veth ${hostVeth} has mtu ${link.mtu}, expected ${conf.mtu}`);
      }
    }
  } catch (err) {
    problems.push(`cannot query host veth ${hostVeth}: ${reason(err)}`);
  }
  try {
    const routes = await ip.json<IpRoute>(["route", "show", podAddr]);
    const route = routes.find((r) => r.dst === ep.ip || r.dst === podAddr);
    if (route === undefined) problems.push(`host route ${podAddr} dev ${hostVeth} is missing`);
    else if (route.dev !== hostVeth) {
      problems.push(`host route ${podAddr} goes to dev ${route.dev}, expected ${hostVeth}`);
    } else if (route.scope !== "link") {
      problems.push(`host route ${podAddr} has scope ${route.scope}, expected link`);
    }
  } catch (err) {
    problems.push(`cannot query host route ${podAddr}: ${reason(err)}`);
  }

  // Pod side: the interface, its /32, the gateway routes and the gateway's neighbour entry.
  let podPresent = false;
  try {
    const [link] = await ip.json<LinkWithAddrs>(["addr", "show", "dev", dev], inPod);
    if (link === undefined) throw new Error(`no output for ${dev}`);
    podPresent = true;
    if (ep.podMac !== "" && link.address?.toLowerCase() !== ep.podMac.toLowerCase()) {
      problems.push(`${dev} has MAC ${link.address}, expected ${ep.podMac}`);
    }
    if (!link.flags?.includes("UP")) problems.push(`${dev} is down`);
    if (link.mtu !== conf.mtu) problems.push(`${dev} has mtu ${link.mtu}, expected ${conf.mtu}`);
    const has = link.addr_info.filter((a) => a.family === "inet").map((a) =>
      `${a.local}/${a.prefixlen}`
    );
    if (!has.includes(podAddr)) {
      problems.push(`${dev} lacks ${podAddr} (has ${has.length ? has.join(", ") : "none"})`);
    }
  } catch (err) {
    problems.push(
      missingDevice(err)
        ? `${dev} is missing in ${env.netns}`
        : `cannot query ${dev} in ${env.netns}: ${reason(err)}`,
    );
  }
  if (podPresent) {
    try {
      const routes = await ip.json<IpRoute>(["route", "show", "dev", dev], inPod);
      if (!routes.some((r) => r.dst === GATEWAY_IP && r.scope === "link")) {
        problems.push(`route ${GATEWAY_IP} dev ${dev} scope link is missing in the pod`);
      }
      if (!routes.some((r) => r.dst === "default" && r.gateway === GATEWAY_IP)) {
        problems.push(`default route via ${GATEWAY_IP} dev ${dev} is missing in the pod`);
      }
    } catch (err) {
      problems.push(`cannot query the pod's routes: ${reason(err)}`);
    }
    try {
      const neighs = await ip.json<IpNeigh>(["neigh", "show", GATEWAY_IP, "dev", dev], inPod);
      const neigh = neighs.find((n) => n.dst === GATEWAY_IP);
      if (neigh === undefined) {
        problems.push(`neighbour entry ${GATEWAY_IP} dev ${dev} is missing in the pod`);
      } else {
        if (!neigh.state?.includes("PERMANENT")) {
          problems.push(
            `neighbour entry ${GATEWAY_IP} is not permanent (state ${
              (neigh.state ?? []).join(",") || "none"
            })`,
          );
        }
        if (hostMac !== undefined && neigh.lladdr?.toLowerCase() !== hostMac) {
          problems.push(
            `neighbour entry ${GATEWAY_IP} points to ${neigh.lladdr}, expected host veth MAC ${hostMac}`,
          );
        }
      }
    } catch (err) {
      problems.push(`cannot query the pod's neighbour entries: ${reason(err)}`);
    }
  }

  if (conf.prevResult !== undefined) problems.push(...comparePrevResult(conf.prevResult, ep, dev));

  if (problems.length > 0) {
    log.warn("Check failed", { containerID: env.containerId, ifname: dev, problems });
    throw new CniError(
      CniCode.InvalidConfig,
      `Attachment ${who} is not as expected: ${problems.join("; ")}`,
    );
  }
  log.debug("Checked", { containerID: env.containerId, ifname: dev });
}

/**
 * Differences between the runtime's cached result and the daemon's record: the pod interface's
 * addresses must be exactly the endpoint's /32, and its MAC the recorded one. Pure.
 */
export function comparePrevResult(prev: CniResult, ep: Endpoint, ifname: string): string[] {
  const problems: string[] = [];
  const want = `${ep.ip}/32`;
  const podIndexes = new Set<number>();
  prev.interfaces.forEach((iface, i) => {
    if (iface.name !== ifname || iface.sandbox === undefined) return;
    podIndexes.add(i);
    if (
      iface.mac !== undefined && ep.podMac !== "" &&
      iface.mac.toLowerCase() !== ep.podMac.toLowerCase()
    ) {
      problems.push(`prevResult gives ${ifname} MAC ${iface.mac}, the daemon records ${ep.podMac}`);
    }
  });
  const ips = prev.ips
    .filter((a) => a.interface === undefined || podIndexes.has(a.interface))
    .map((a) => a.address);
  if (!ips.includes(want)) {
    problems.push(
      `prevResult lacks ${want} (lists ${
        ips.length ? ips.join(", ") : "no address"
      } for ${ifname})`,
    );
  }
  const extra = ips.filter((a) => a !== want);
  if (extra.length > 0) {
    problems.push(`prevResult lists ${extra.join(", ")} for ${ifname}, which tern did not assign`);
  }
  return problems;
}

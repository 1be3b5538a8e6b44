/**
 * CNI ADD: one rtnetlink request in the node's namespace creates the veth pair with its pod end
 * already in the pod's namespace (both ends or neither); then one request to the daemon claims the
 * pod's address and programs the host side (host route, policy, ready mark, one durable commit);
 * then requests on a socket in the pod's namespace configure the /32, the gateway routes and the
 * gateway's permanent neighbour entry. No subprocess. A failure undoes, in reverse order, only
 * what this ADD created, so a retry succeeds; an interface that already exists is an error and is
 * left alone.
 * @module
 */
import type { AddRequest, AddResponse } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { errorMessage } from "../src/lib/errors.ts";
import type { Logger } from "../src/log.ts";
import { GATEWAY_IP, hostVethMac, hostVethName } from "../src/names.ts";
import type { PodLink, PodLinks } from "../src/pod_links.ts";
import { EEXIST, NetlinkError } from "../src/rtnetlink.ts";
import type { CommandContext } from "./_context.ts";
import { daemonFailure } from "./daemon_failure.ts";
import type { AddCheckEnv } from "./env.ts";
import { randomPodMac } from "./pod_mac.ts";
import type { CniResult } from "./result.ts";

/** One step to undo on failure. */
interface Undo {
  what: string;
  run: () => Promise<unknown>;
}

/**
 * Runs ADD and returns the result (version-neutral; the caller shapes it for the config).
 * `options.podMac` fixes the pod MAC (tests); by default it is random.
 */
export async function cmdAdd(
  ctx: CommandContext<AddCheckEnv>,
  options: { podMac?: string } = {},
): Promise<CniResult> {
  const { env, conf, links, daemon, log } = ctx;
  const started = performance.now();
  const hostVeth = await hostVethName(env.containerId, env.ifname);
  const hostMac = hostVethMac(hostVeth);
  const podMac = options.podMac ?? randomPodMac();
  const fields = { containerID: env.containerId, ifname: env.ifname, hostVeth };
  const veth = { hostVeth, hostMac, ifname: env.ifname, podMac, netns: env.netns, mtu: conf.mtu };
  const phases: Record<string, number> = {};

  // The veth pair first: the daemon's one request programs its host end. Its libc and socket
  // set-up is synchronous, then the kernel makes it on a worker thread; meanwhile this thread
  // opens the request's connection and arms its timeout (opened before, their completion waited
  // after the veth pair: the request took 0.5-0.9 ms longer, the veth pair 0.3 ms less).
  let t = performance.now();
  const making = links.addVeth(veth);
  daemon.connectAhead?.();
  try {
    await making;
  } catch (err) {
    throw await vethFailure(err, links, veth);
  }
  phases.vethMs = round(performance.now() - t);
  const undo: Undo[] = [{
    what: `delete ${hostVeth}`,
    run: () => links.deleteHostVeth(hostVeth),
  }];

  const request: AddRequest = {
    network: conf.name,
    containerID: env.containerId,
    ifname: env.ifname,
    netns: env.netns,
    hostVeth,
    podMac,
  };
  if (env.args.podNamespace !== undefined) request.podNamespace = env.args.podNamespace;
  if (env.args.podName !== undefined) request.podName = env.args.podName;
  t = performance.now();
  let added: AddResponse;
  try {
    added = await daemon.add(request);
  } catch (err) {
    // The daemon undid its side of a refused request; the veth is this ADD's to delete.
    await rollback(undo, log, fields);
    throw daemonFailure(err, "add the endpoint");
  }
  phases.endpointMs = round(performance.now() - t);
  log.debug("Added endpoint", { ...fields, ip: added.ip, created: added.created });
  if (added.created) {
    // Undone after the veth, as DEL does.
    undo.unshift({
      what: `release ${added.ip}`,
      run: () =>
        daemon.release({ containerID: env.containerId, ifname: env.ifname, network: conf.name }),
    });
  }

  const link: PodLink = { ...veth, ip: added.ip };
  t = performance.now();
  try {
    await links.configurePod(link);
  } catch (err) {
    await rollback(undo, log, fields);
    throw new CniError(
      CniCode.IoFailure,
      `Cannot configure ${env.ifname} in ${env.netns}: ${errorMessage(err)}`,
    );
  }
  phases.podMs = round(performance.now() - t);
  // addMs: the whole command, the part of a CNI call after start-up (the bench reads it).
  phases.addMs = round(performance.now() - started);
  log.info("Added", { ...fields, ip: added.ip, netns: env.netns, ...phases });

  return {
    interfaces: [
      { name: hostVeth, mac: hostMac, mtu: conf.mtu },
      { name: env.ifname, mac: podMac, mtu: conf.mtu, sandbox: env.netns },
    ],
    ips: [{ address: `${added.ip}/32`, gateway: GATEWAY_IP, interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: GATEWAY_IP }],
    dns: conf.dns ? { ...conf.dns } : {},
  };
}

/** Milliseconds to a tenth. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * What a failed veth creation means for CNI. EEXIST: the host veth or the pod's interface
 * already exists, and is left alone (the runtime must DEL first).
 */
async function vethFailure(
  err: unknown,
  links: PodLinks,
  link: Omit<PodLink, "ip">,
): Promise<unknown> {
  if (!(err instanceof NetlinkError)) return err;
  if (err.errno === EEXIST) return await existsError(links, link);
  return new CniError(CniCode.IoFailure, err.message);
}

/** Which interface already exists, as a CNI error (code 4: the attachment's identity is taken). */
async function existsError(links: PodLinks, link: Omit<PodLink, "ip">): Promise<CniError> {
  let hostExists: boolean | undefined;
  try {
    hostExists = await links.hostLinkExists(link.hostVeth);
  } catch {
    hostExists = undefined;
  }
  const hint = "DEL the attachment before adding it again";
  if (hostExists === true) {
    return new CniError(
      CniCode.InvalidEnvironment,
      `Attachment already exists: host veth ${link.hostVeth} for CNI_CONTAINERID and CNI_IFNAME ${link.ifname} is present`,
      hint,
    );
  }
  if (hostExists === false) {
    return new CniError(
      CniCode.InvalidEnvironment,
      `Interface already exists: CNI_IFNAME ${link.ifname} is present in ${link.netns}`,
      hint,
    );
  }
  return new CniError(
    CniCode.InvalidEnvironment,
    `Interface already exists: host veth ${link.hostVeth} or ${link.ifname} in ${link.netns}`,
    hint,
  );
}

/** Runs `undo` in reverse order; a failing step is logged and the rest still run. */
async function rollback(undo: Undo[], log: Logger, fields: Record<string, unknown>) {
  for (const step of [...undo].reverse()) {
    try {
      await step.run();
      log.info("Rolled back", { ...fields, step: step.what });
    } catch (err) {
      log.error("Cannot roll back", {
        ...fields,
        step: step.what,
        error: errorMessage(err),
      });
    }
  }
}

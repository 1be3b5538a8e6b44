/**
 * CNI ADD: one request to the daemon makes the veth pair (host end up in the node's namespace,
 * pod end straight in the pod's: both or neither) while it claims the pod's address and commits
 * it, then programs the host side (host route, policy, ready mark); then requests on a socket in
 * the pod's namespace configure the /32, the gateway routes and the gateway's permanent neighbour
 * entry. A daemon that cannot make the pair (older, or one that does not see the namespace's
 * path) gets the earlier sequence: the pair made here, then its one request. No subprocess. A
 * failure undoes, in reverse order, only what this ADD created, so a retry succeeds; an interface
 * that already exists is an error and is left alone.
 * @module
 */
import type { AddRequest, AddResponse } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { DaemonApiError, isUnknownPath } from "../src/daemon_client.ts";
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

  // One request: the daemon makes the veth pair while it claims the address and commits it,
  // then programs the host side. A daemon that cannot (older, or one that does not see the
  // namespace's path) is asked the way earlier plugins did, with the veth pair made here.
  let t = performance.now();
  let added: AddResponse | undefined;
  let undo: Undo[] = [];
  if (daemon.attach !== undefined) {
    try {
      // libc and the socket in the pod's namespace (~2 ms) while the daemon works.
      added = await daemon.attach({ ...request, mtu: conf.mtu }, {
        whileWaiting: () => links.preparePod?.(env.netns),
      });
    } catch (err) {
      if (!attachRefused(err)) throw daemonFailure(err, "add the endpoint");
      log.debug("Daemon does not make the veth pair: making it here", {
        ...fields,
        error: errorMessage(err),
      });
    }
    if (added !== undefined) {
      phases.attachMs = round(performance.now() - t);
      undo = added.created
        // The daemon deletes the veth before it frees the address.
        ? [{ what: `release ${added.ip}`, run: () => daemon.release(releaseRequest(request)) }]
        // The address was the attachment's before this ADD: only the veth is this ADD's.
        : [{ what: `delete ${hostVeth}`, run: () => links.deleteHostVeth(hostVeth) }];
    }
  }
  if (added === undefined) {
    ({ added, undo } = await addHere(ctx, request, veth, phases, fields));
  }
  log.debug("Added endpoint", { ...fields, ip: added.ip, created: added.created });

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

/** The daemon cannot make the veth pair: it is older than attach, or says so (`unsupported`). */
function attachRefused(err: unknown): boolean {
  return isUnknownPath(err) || (err instanceof DaemonApiError && err.reason === "unsupported");
}

/** The release of `request`'s attachment. */
function releaseRequest(request: AddRequest) {
  return { containerID: request.containerID, ifname: request.ifname, network: request.network };
}

/**
 * ADD as earlier plugins did it, for a daemon that cannot make the veth pair: the pair here (the
 * request's connection opened meanwhile), then the daemon's one request. Returns the endpoint and
 * what undoes this ADD, in order.
 */
async function addHere(
  ctx: CommandContext<AddCheckEnv>,
  request: AddRequest,
  veth: Omit<PodLink, "ip">,
  phases: Record<string, number>,
  fields: Record<string, unknown>,
): Promise<{ added: AddResponse; undo: Undo[] }> {
  const { links, daemon, log } = ctx;
  // Its libc and socket set-up is synchronous, then the kernel makes it on a worker thread;
  // meanwhile this thread opens the request's connection and arms its timeout.
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
    what: `delete ${veth.hostVeth}`,
    run: () => links.deleteHostVeth(veth.hostVeth),
  }];
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
  if (added.created) {
    // Undone after the veth, as DEL did.
    undo.unshift({
      what: `release ${added.ip}`,
      run: () => daemon.release(releaseRequest(request)),
    });
  }
  return { added, undo };
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

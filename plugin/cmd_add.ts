/**
 * CNI ADD: the daemon allocates the pod's address, one `ip -batch` in the node's namespace
 * creates the veth pair with its pod end already in the pod's namespace, one `ip -batch` in the
 * pod's namespace configures the /32, the gateway routes and the gateway's permanent neighbour
 * entry, then the daemon programs the host side. Two subprocesses on success. A failure undoes,
 * in reverse order, only what this ADD created, so a retry succeeds; an interface that already
 * exists is an error and is left alone.
 * @module
 */
import type { AllocateRequest, AllocateResponse } from "../src/api.ts";
import { CniCode, CniError } from "../src/cni_error.ts";
import { type Ip, type PodLink, renderPodSide, renderVethAdd } from "../src/ip.ts";
import { errorMessage } from "../src/lib/errors.ts";
import type { Logger } from "../src/log.ts";
import { GATEWAY_IP, hostVethMac, hostVethName } from "../src/names.ts";
import { CommandError } from "../src/runner.ts";
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

/** The line number in `ip -batch`'s "Command failed -:N", or undefined when it printed none. */
export function failedBatchLine(stderr: string): number | undefined {
  const m = /Command failed [^:\n]*:(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

function stderrOf(err: unknown): string {
  if (err instanceof CommandError) {
    return err.result.stderr.replace(/Command failed [^\n]*\n?/g, "").trim() ||
      `exit ${err.result.code}`;
  }
  return errorMessage(err);
}

/**
 * Runs ADD and returns the result (version-neutral; the caller shapes it for the config).
 * `options.podMac` fixes the pod MAC (tests); by default it is random.
 */
export async function cmdAdd(
  ctx: CommandContext<AddCheckEnv>,
  options: { podMac?: string } = {},
): Promise<CniResult> {
  const { env, conf, ip, daemon, log } = ctx;
  const hostVeth = await hostVethName(env.containerId, env.ifname);
  const hostMac = hostVethMac(hostVeth);
  const podMac = options.podMac ?? randomPodMac();
  const fields = { containerID: env.containerId, ifname: env.ifname, hostVeth };

  const request: AllocateRequest = {
    network: conf.name,
    containerID: env.containerId,
    ifname: env.ifname,
    netns: env.netns,
  };
  if (env.args.podNamespace !== undefined) request.podNamespace = env.args.podNamespace;
  if (env.args.podName !== undefined) request.podName = env.args.podName;
  const t0 = performance.now();
  let alloc: AllocateResponse;
  try {
    alloc = await daemon.allocate(request);
  } catch (err) {
    throw daemonFailure(err, "allocate an address");
  }
  log.debug("Allocated", { ...fields, ip: alloc.ip, created: alloc.created });

  const undo: Undo[] = [];
  if (alloc.created) {
    undo.push({
      what: `release ${alloc.ip}`,
      run: () =>
        daemon.release({ containerID: env.containerId, ifname: env.ifname, network: conf.name }),
    });
  }
  const link: PodLink = {
    hostVeth,
    hostMac,
    ifname: env.ifname,
    podMac,
    netns: env.netns,
    ip: alloc.ip,
    mtu: conf.mtu,
  };
  const phases: Record<string, number> = { allocateMs: Math.round(performance.now() - t0) };
  try {
    let t = performance.now();
    await createVeth(ip, link, undo);
    phases.vethMs = Math.round(performance.now() - t);
    t = performance.now();
    try {
      await ip.batch(renderPodSide(link), { netns: env.netns });
      phases.podMs = Math.round(performance.now() - t);
      t = performance.now();
    } catch (err) {
      throw new CniError(
        CniCode.IoFailure,
        `Cannot configure ${env.ifname} in ${env.netns}: ${stderrOf(err)}`,
      );
    }
    try {
      await daemon.program({
        network: conf.name,
        containerID: env.containerId,
        ifname: env.ifname,
        netns: env.netns,
        hostVeth,
        podMac,
        ip: alloc.ip,
      });
    } catch (err) {
      throw daemonFailure(err, "program the host side");
    }
    phases.programMs = Math.round(performance.now() - t);
  } catch (err) {
    await rollback(undo, log, fields);
    throw err;
  }
  log.info("Added", { ...fields, ip: alloc.ip, netns: env.netns, ...phases });

  return {
    interfaces: [
      { name: hostVeth, mac: hostMac, mtu: conf.mtu },
      { name: env.ifname, mac: podMac, mtu: conf.mtu, sandbox: env.netns },
    ],
    ips: [{ address: `${alloc.ip}/32`, gateway: GATEWAY_IP, interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: GATEWAY_IP }],
    dns: conf.dns ? { ...conf.dns } : {},
  };
}

/**
 * Creates the veth pair. Registers its deletion in `undo` once the pair exists (including when
 * the batch failed after its first line). "File exists" on the first line means the host veth
 * or the pod's interface already exists: that is reported, and nothing is registered, so the
 * existing interface survives.
 */
async function createVeth(ip: Ip, link: PodLink, undo: Undo[]): Promise<void> {
  const deleteVeth: Undo = {
    what: `delete ${link.hostVeth}`,
    run: () => ip.linkDelIfExists(link.hostVeth),
  };
  try {
    await ip.batch(renderVethAdd(link));
    undo.push(deleteVeth);
    return;
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    const line = failedBatchLine(err.result.stderr);
    // Without a line number, ip stopped while parsing: the link was not created by this batch.
    if (line !== undefined && line > 1) undo.push(deleteVeth);
    else if (line === 1 && /File exists/i.test(err.result.stderr)) {
      throw await existsError(ip, link);
    }
    throw new CniError(
      CniCode.IoFailure,
      `Cannot create veth pair ${link.hostVeth}/${link.ifname}: ${stderrOf(err)}`,
    );
  }
}

/** Which interface already exists, as a CNI error (code 4: the attachment's identity is taken). */
async function existsError(ip: Ip, link: PodLink): Promise<CniError> {
  let hostExists: boolean | undefined;
  try {
    hostExists = (await ip.link(link.hostVeth)) !== undefined;
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

/**
 * Keeps the pod side of every local endpoint as ADD made it (the gateway's permanent neighbour
 * entry, its link-scope route, the default route via it: `pod_side.ts`), every
 * `reconcile.interval` beside the routing reconciler's periodic pass, and once at start-up for
 * the endpoints restored from the store. Nothing inside a pod's namespace raises an event the
 * daemon follows, so only a periodic check finds it. Each check makes one rtnetlink socket in the
 * pod's namespace (the daemon's thread enters it around `socket()` only) and closes it after: no
 * socket is kept per pod. Each repair is logged as a warning and counted. If the thread cannot
 * come back from a pod's namespace, everything the daemon does next would happen inside the pod:
 * the guard logs it as an error and ends the process at once, so that its supervisor (systemd,
 * the DaemonSet) starts a sound one.
 * @module
 */
import { type Clock, realClock } from "../../src/clock.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { Scheduler } from "../../src/lib/scheduler.ts";
import type { LocalEndpoint } from "../../src/local_endpoints.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { NetnsStrandedError } from "../../src/rtnetlink.ts";
import { checkPodSide, type PodNamespaces, type PodSideObject } from "./pod_side.ts";

/** Exit status when the daemon's thread is stranded in a pod's namespace (EX_SOFTWARE). */
export const STRANDED_EXIT_CODE = 70;

/** What one pass of the guard did. */
export interface PodSidePass {
  /** Endpoints whose namespace was checked. */
  checked: number;
  /** Endpoints whose namespace, interface or host veth was gone. */
  gone: number;
  /** Endpoints left to an ADD that changed them less than `settleMs` ago. */
  settling: number;
  /** Repairs made, by kind of object. */
  repaired: Partial<Record<PodSideObject, number>>;
  /** Endpoints whose check failed (logged). */
  failed: number;
  durationMs: number;
}

/** The node's links, as the guard reads the host veths' MACs (`RtnetlinkHost`; tests: a fake). */
export interface HostLinks {
  /** The MAC of link `name` in the node's namespace, or undefined when there is none. */
  linkMac(name: string): string | undefined;
}

/** Options of {@linkcode podSidePass} and {@linkcode startPodSideGuard}. */
export interface PodSideGuardOptions {
  log?: Logger;
  /** Told of each repair (the metrics' `repairs` counter). Default: nobody. */
  onRepair?: (object: PodSideObject) => void;
  /** Ends the process; called after a stranded thread is logged. Default: `Deno.exit`. */
  exit?: (code: number) => never;
  /** True for an endpoint whose ADD may still be setting up its pod side. Default: none. */
  settling?: (ep: LocalEndpoint) => boolean;
}

/** How long after an endpoint changed the guard leaves its pod side to the ADD. */
export const POD_SIDE_SETTLE_MS = 3_000;

/**
 * One pass over `endpoints`: each one's pod side checked and repaired. A failure is logged and
 * the pass goes on; a stranded thread ends the process through `options.exit`.
 */
export function podSidePass(
  namespaces: PodNamespaces,
  hostLinks: HostLinks,
  endpoints: readonly LocalEndpoint[],
  options: PodSideGuardOptions = {},
): PodSidePass {
  const log = options.log ?? silentLogger;
  const started = performance.now();
  const pass: PodSidePass = {
    checked: 0,
    gone: 0,
    settling: 0,
    repaired: {},
    failed: 0,
    durationMs: 0,
  };
  for (const ep of endpoints) {
    if (ep.netns === undefined || ep.netns === "") continue;
    if (options.settling?.(ep)) {
      pass.settling++;
      continue;
    }
    const fields = { containerID: ep.containerID, ifname: ep.ifname, netns: ep.netns };
    try {
      // The pod's entry must name the host veth's MAC as it is now; without the veth (a DEL
      // under way, or the host side's own repair to come) there is nothing to point it at.
      const hostMac = hostLinks.linkMac(ep.hostVeth);
      if (hostMac === undefined) {
        pass.gone++;
        continue;
      }
      const result = checkPodSide(namespaces, { netns: ep.netns, ifname: ep.ifname, hostMac });
      if (result.kind === "gone") {
        pass.gone++;
        continue;
      }
      pass.checked++;
      for (const repair of result.repaired) {
        pass.repaired[repair.object] = (pass.repaired[repair.object] ?? 0) + 1;
        options.onRepair?.(repair.object);
        log.warn("Repaired the pod side of an endpoint", { ...fields, repaired: repair.what });
      }
    } catch (err) {
      if (err instanceof NetnsStrandedError) {
        log.error("Stranded in a pod's network namespace: exiting at once", {
          ...fields,
          error: errorMessage(err),
        });
        (options.exit ?? Deno.exit)(STRANDED_EXIT_CODE);
      }
      // A DEL deletes the pair while the check runs (the pod's interface goes down first).
      if (hostLinks.linkMac(ep.hostVeth) === undefined) {
        pass.gone++;
        continue;
      }
      pass.failed++;
      log.warn("Cannot check the pod side of an endpoint", { ...fields, error: errorMessage(err) });
    }
  }
  pass.durationMs = performance.now() - started;
  return pass;
}

/** Starts the periodic guard (first pass now); `stop()` ends it and waits for a pass. */
export function startPodSideGuard(
  namespaces: PodNamespaces,
  hostLinks: HostLinks,
  endpoints: () => readonly LocalEndpoint[],
  options: PodSideGuardOptions & {
    intervalMs: number;
    clock?: Clock;
    onPass?: (pass: PodSidePass) => void;
    /** When an endpoint last changed (`LocalEndpoints.changedAt`); default: long ago. */
    changedAt?: (ep: LocalEndpoint) => number | undefined;
    /** Default {@linkcode POD_SIDE_SETTLE_MS}. */
    settleMs?: number;
  },
): { stop(): Promise<void> } {
  const clock = options.clock ?? realClock;
  const settleMs = options.settleMs ?? POD_SIDE_SETTLE_MS;
  const changedAt = options.changedAt;
  const settling = changedAt === undefined ? undefined : (ep: LocalEndpoint) => {
    const at = changedAt(ep);
    return at !== undefined && clock.now() - at < settleMs;
  };
  const scheduler = new Scheduler(() => {
    const pass = podSidePass(namespaces, hostLinks, endpoints(), {
      ...options,
      ...(settling !== undefined ? { settling } : {}),
    });
    options.onPass?.(pass);
    return Promise.resolve();
  }, { intervalMs: options.intervalMs, clock });
  scheduler.start();
  scheduler.request("start");
  return { stop: () => scheduler.stop() };
}

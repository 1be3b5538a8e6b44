/**
 * Where the node's pod CIDRs come from. `podCIDRs` in the config wins when given; with a cluster
 * source, this node's Node (`spec.podCIDRs`, or `spec.podCIDR`) must then agree, or start-up
 * stops with an error naming both. Without `podCIDRs`, they are learned from the Node, and
 * start-up waits for it — bounded, and logged — since a Node is often created, or given its
 * range, a moment after the machine boots. {@linkcode resolvePodCIDRs} decides (pure);
 * {@linkcode waitForPodCIDRs} waits on a `ClusterState`.
 * @module
 */
import type { ClusterState } from "../../src/cluster/state.ts";
import type { Node } from "../../src/cluster/types.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { ipv4Set } from "../../src/routing/desired_state.ts";

/** The node's pod CIDRs and where they came from. */
export interface PodCIDRs {
  /** Empty in `ipam.mode: blocks`, where the node's blocks change as they are claimed. */
  podCIDRs: string[];
  from: "config" | "node" | "blocks";
}

/** The config and the Node disagree, or the Node never got a pod CIDR: start-up stops. */
export class PodCIDRError extends Error {
  /** The message is for the operator. */
  constructor(message: string) {
    super(message);
    this.name = "PodCIDRError";
  }
}

/**
 * Decides from the configured CIDRs and this node's Node (undefined when the source has none):
 * the CIDRs to use, or `{ waiting }` saying what is missing. Throws {@linkcode PodCIDRError}
 * when both are given and differ (IPv4, in any order). Pure.
 */
export function resolvePodCIDRs(
  configured: readonly string[],
  node: Node | undefined,
  options: { nodeName: string; source: string; configFile: string },
): PodCIDRs | { waiting: string } {
  const theirs = node === undefined ? [] : ipv4Set(node.podCIDRs);
  if (configured.length > 0) {
    const ours = ipv4Set(configured);
    if (theirs.length > 0 && theirs.join(",") !== ours.join(",")) {
      throw new PodCIDRError(
        `Pod CIDRs disagree: podCIDRs in ${options.configFile} is ${
          ours.join(", ")
        } but Node ${options.nodeName} in ${options.source} has ${
          theirs.join(", ")
        }: remove podCIDRs from the config to use the Node's, or fix the Node`,
      );
    }
    return { podCIDRs: [...configured], from: "config" };
  }
  if (node === undefined) {
    return { waiting: `no Node named ${options.nodeName} in ${options.source}` };
  }
  if (theirs.length === 0) {
    return {
      waiting: `Node ${options.nodeName} in ${options.source} has no IPv4 pod CIDR (spec.podCIDRs)`,
    };
  }
  // Keep the Node's order: the first CIDR is the one handed out first.
  const inOrder = node.podCIDRs.flatMap((c) => ipv4Set([c]));
  return { podCIDRs: [...new Set(inOrder)], from: "node" };
}

/**
 * Resolves the pod CIDRs from `state`, waiting for changes until `options.timeoutMs` has passed
 * (logging what is missing at the start and every `options.logEveryMs`, default 10 s). Rejects
 * with {@linkcode PodCIDRError} on disagreement or timeout, and with the signal's reason when
 * `options.signal` aborts.
 */
export function waitForPodCIDRs(
  state: ClusterState,
  options: {
    nodeName: string;
    configured: readonly string[];
    source: string;
    configFile: string;
    timeoutMs: number;
    logEveryMs?: number;
    log?: Logger;
    signal?: AbortSignal;
  },
): Promise<PodCIDRs> {
  const log = options.log ?? silentLogger;
  const decide = () => resolvePodCIDRs(options.configured, state.node(options.nodeName), options);
  const first = decide();
  if (!("waiting" in first)) return Promise.resolve(first);

  const started = Date.now();
  log.info("Waiting for this node's pod CIDR", {
    why: first.waiting,
    timeoutMs: options.timeoutMs,
  });
  const { promise, resolve, reject } = Promise.withResolvers<PodCIDRs>();
  let waiting = first.waiting;
  const check = () => {
    try {
      const now = decide();
      if ("waiting" in now) waiting = now.waiting;
      else finish(() => resolve(now));
    } catch (err) {
      finish(() => reject(err));
    }
  };
  const unsubscribe = state.subscribe(check);
  const reminder = setInterval(() => {
    log.info("Still waiting for this node's pod CIDR", {
      why: waiting,
      waitedMs: Date.now() - started,
    });
  }, options.logEveryMs ?? 10_000);
  const timeout = setTimeout(() => {
    finish(() =>
      reject(
        new PodCIDRError(
          `No pod CIDR for this node after ${options.timeoutMs} ms: ${waiting}: give the Node spec.podCIDRs, or set podCIDRs in ${options.configFile}`,
        ),
      )
    );
  }, options.timeoutMs);
  const onAbort = () => finish(() => reject(options.signal!.reason));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  function finish(settle: () => void) {
    unsubscribe();
    clearInterval(reminder);
    clearTimeout(timeout);
    options.signal?.removeEventListener("abort", onAbort);
    settle();
  }
  if (options.signal?.aborted) onAbort();
  return promise;
}

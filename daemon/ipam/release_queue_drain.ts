/**
 * Drains the durable DEL queue (`src/release_queue.ts`): the releases the plugin left while the
 * daemon was down. Run under the dataplane lock at start-up, before the API takes requests, and
 * at the start of every sweep. An address is released only when its attachment still exists,
 * belongs to the queued network, is older than the queued DEL (a later ADD of the same identity
 * is left alone) and its host veth is absent; the host route and rules are removed before the
 * address is freed, as a live DEL does. Each file is removed once handled; a failed release
 * keeps its file for the next sweep. {@linkcode planDrain} decides, purely.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { type QueueEntry, readQueuedReleases } from "../../src/release_queue.ts";
import { type Dataplane, endpointVeth } from "../routing/dataplane.ts";
import type { Ipam } from "./ipam.ts";

/** What the drain saw of one queued release. */
export interface QueuedObserved {
  entry: QueueEntry;
  /** The attachment the record names, undefined when KV holds none. */
  endpoint: Endpoint | undefined;
  /** Whether the attachment's host veth exists. */
  veth: boolean;
}

/** What to do with one file of the queue. */
export type DrainDecision =
  | { entry: QueueEntry; action: "release"; endpoint: Endpoint }
  | { entry: QueueEntry; action: "drop"; why: string };

/** Pure: which queued releases to carry out, and which files to drop, and why. */
export function planDrain(observed: readonly QueuedObserved[]): DrainDecision[] {
  return observed.map(({ entry, endpoint, veth }): DrainDecision => {
    const record = entry.record;
    if (record === undefined) return { entry, action: "drop", why: "not a queued release" };
    if (endpoint === undefined) return { entry, action: "drop", why: "already released" };
    if (endpoint.network !== record.network) {
      return { entry, action: "drop", why: `the attachment is on network ${endpoint.network}` };
    }
    if (endpoint.createdAt > record.queuedAt) {
      return { entry, action: "drop", why: "the attachment was added again after the DEL" };
    }
    if (veth) return { entry, action: "drop", why: "its host veth exists" };
    return { entry, action: "release", endpoint };
  });
}

/** What one drain did. */
export interface DrainResult {
  released: Endpoint[];
  dropped: number;
  failed: number;
}

/** Reads the queue in `dir` and carries it out; the caller holds the dataplane lock. */
export async function drainReleaseQueue(
  dir: string,
  deps: {
    ipam: Pick<Ipam, "get" | "release">;
    dataplane: Pick<Dataplane, "hostVeths" | "removeEndpoint">;
    log?: Logger;
  },
): Promise<DrainResult> {
  const log = deps.log ?? silentLogger;
  const result: DrainResult = { released: [], dropped: 0, failed: 0 };
  const entries = await readQueuedReleases(dir);
  if (entries.length === 0) return result;
  const veths = await deps.dataplane.hostVeths();
  const observed: QueuedObserved[] = [];
  for (const entry of entries) {
    const endpoint = entry.record === undefined ? undefined : await deps.ipam.get(entry.record);
    observed.push({
      entry,
      endpoint,
      veth: endpoint !== undefined && veths.has(await endpointVeth(endpoint)),
    });
  }
  for (const decision of planDrain(observed)) {
    const { entry } = decision;
    if (decision.action === "drop") {
      result.dropped++;
      log.info("Dropped queued release", { file: entry.path, why: decision.why });
    } else {
      const ep = decision.endpoint;
      try {
        await deps.dataplane.removeEndpoint(ep);
        if (await deps.ipam.release(ep, { network: ep.network })) {
          result.released.push(ep);
          log.info("Released address", {
            ip: ep.ip,
            containerID: ep.containerID,
            ifname: ep.ifname,
            reason: "CNI DEL queued while the daemon was down",
          });
        }
      } catch (err) {
        result.failed++;
        log.warn("Cannot release queued address", {
          ip: ep.ip,
          containerID: ep.containerID,
          ifname: ep.ifname,
          error: errorMessage(err),
        });
        continue; // the file stays: the next sweep tries again
      }
    }
    await Deno.remove(entry.path).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) {
        log.warn("Cannot remove queued release", { file: entry.path, error: errorMessage(err) });
      }
    });
  }
  return result;
}

/**
 * The periodic sweep, also run once at start-up. Under the dataplane lock it releases
 * attachments whose pod is gone (host routes and rules of the rest are the reconciler's, see
 * `reconciler.ts`). An attachment is gone when its netns file and its host veth have both been
 * missing for the grace period, or when it is stuck `allocated` (its ADD died midway) with no
 * veth for longer than the grace period. {@linkcode planSweep} decides, purely; the
 * {@linkcode Sweeper} observes, applies and logs each release.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { type Dataplane, endpointVeth } from "../routing/dataplane.ts";
import type { Ipam } from "./ipam.ts";
import type { Mutex } from "../../src/lib/mutex.ts";

/** What the sweep saw of one endpoint. */
export interface Observed {
  endpoint: Endpoint;
  /** Whether the netns file exists. */
  netns: boolean;
  /** Whether the host veth exists. */
  veth: boolean;
}

/** An endpoint to release, and why. */
export interface Release {
  endpoint: Endpoint;
  reason: string;
}

function idKey(ep: Endpoint): string {
  return `${ep.containerID}\0${ep.ifname}`;
}

/**
 * Pure: which endpoints to release now. `goneSince` maps an identity to when it was first seen
 * with neither netns nor veth; the returned map replaces it (identities seen alive again, or no
 * longer in KV, are dropped).
 */
export function planSweep(
  observed: readonly Observed[],
  options: { now: number; gracePeriodMs: number; goneSince: ReadonlyMap<string, number> },
): { release: Release[]; goneSince: Map<string, number> } {
  const { now, gracePeriodMs } = options;
  const release: Release[] = [];
  const goneSince = new Map<string, number>();
  for (const { endpoint, netns, veth } of observed) {
    const key = idKey(endpoint);
    if (!netns && !veth) {
      const since = options.goneSince.get(key) ?? now;
      if (now - since >= gracePeriodMs) {
        release.push({ endpoint, reason: "netns and host veth gone" });
      } else {
        goneSince.set(key, since);
      }
      continue;
    }
    if (endpoint.state === "allocated" && !veth && now - endpoint.updatedAt >= gracePeriodMs) {
      release.push({ endpoint, reason: "stuck allocated with no host veth (ADD died midway)" });
    }
  }
  return { release, goneSince };
}

/** What the sweeper needs of the host side; {@linkcode Dataplane} fits. */
export type SweepDataplane = Pick<Dataplane, "hostVeths" | "removeEndpoint">;

/** What one sweep did. */
export interface SweepResult {
  /** Endpoints in KV before the sweep. */
  endpoints: number;
  released: Release[];
  /** Releases that failed; the next sweep retries them. */
  failed: string[];
}

/** Whether a file exists; an error other than "not found" counts as existing (never release on doubt). */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}

/** Runs sweeps on demand ({@linkcode Sweeper.sweepOnce}) or every interval ({@linkcode Sweeper.start}). */
export class Sweeper {
  readonly #ipam: Ipam;
  readonly #dataplane: SweepDataplane;
  readonly #lock: Mutex;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #netnsExists: (path: string) => Promise<boolean>;
  readonly #gracePeriodMs: number;
  readonly #intervalMs: number;
  #goneSince = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #stopped = false;
  readonly #beforeSweep: (() => Promise<unknown>) | undefined;

  /**
   * `options.gracePeriodMs` and `options.intervalMs` come from the config (`gc.*`);
   * `options.now` (default `Date.now`) and `options.netnsExists` (default {@linkcode fileExists})
   * are injectable for tests.
   */
  constructor(
    deps: {
      ipam: Ipam;
      dataplane: SweepDataplane;
      lock: Mutex;
      log?: Logger;
      /** Runs first in every sweep, under the lock: the durable DEL queue's drain. */
      beforeSweep?: () => Promise<unknown>;
    },
    options: {
      gracePeriodMs: number;
      intervalMs: number;
      now?: () => number;
      netnsExists?: (path: string) => Promise<boolean>;
    },
  ) {
    this.#ipam = deps.ipam;
    this.#dataplane = deps.dataplane;
    this.#lock = deps.lock;
    this.#log = deps.log ?? silentLogger;
    this.#beforeSweep = deps.beforeSweep;
    this.#now = options.now ?? Date.now;
    this.#netnsExists = options.netnsExists ?? fileExists;
    this.#gracePeriodMs = options.gracePeriodMs;
    this.#intervalMs = options.intervalMs;
  }

  /** One sweep: observe, then release what is gone. */
  sweepOnce(): Promise<SweepResult> {
    const run = this.#lock.run(() => this.#sweep());
    this.#running = run.catch(() => {});
    return run;
  }

  async #sweep(): Promise<SweepResult> {
    await this.#beforeSweep?.();
    const endpoints = await this.#ipam.list();
    const veths = await this.#dataplane.hostVeths();
    const observed: Observed[] = [];
    for (const endpoint of endpoints) {
      observed.push({
        endpoint,
        netns: await this.#netnsExists(endpoint.netns),
        veth: veths.has(await endpointVeth(endpoint)),
      });
    }
    const plan = planSweep(observed, {
      now: this.#now(),
      gracePeriodMs: this.#gracePeriodMs,
      goneSince: this.#goneSince,
    });
    this.#goneSince = plan.goneSince;
    const released: Release[] = [];
    const failed: string[] = [];
    for (const item of plan.release) {
      const ep = item.endpoint;
      try {
        await this.#dataplane.removeEndpoint(ep);
        if (await this.#ipam.release(ep, { network: ep.network })) {
          released.push(item);
          this.#log.info("Released address", {
            ip: ep.ip,
            containerID: ep.containerID,
            ifname: ep.ifname,
            reason: item.reason,
          });
        }
      } catch (err) {
        failed.push(
          `${ep.ip} (containerID ${ep.containerID}, ifname ${ep.ifname}): ${String(err)}`,
        );
        this.#log.warn("Cannot release address", {
          ip: ep.ip,
          containerID: ep.containerID,
          ifname: ep.ifname,
          reason: item.reason,
          error: String(err),
        });
      }
    }
    return { endpoints: endpoints.length, released, failed };
  }

  /** Sweeps every interval until {@linkcode Sweeper.stop}; sweeps never overlap. */
  start(): void {
    this.#stopped = false;
    const tick = () => {
      this.#timer = undefined;
      if (this.#stopped) return;
      this.sweepOnce()
        .catch((err) => this.#log.error("Sweep failed", { error: String(err) }))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#intervalMs);
        });
    };
    this.#timer = setTimeout(tick, this.#intervalMs);
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}

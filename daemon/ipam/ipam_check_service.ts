/**
 * The daemon's side of `tern ipam check`: gathers the facts that `src/ipam/ipam_check.ts` judges
 * (the kernel's tern veths and host routes first, then both kinds of KV record, then the cluster's
 * pods and blocks) and applies the repairs it judged safe. Both run under the dataplane lock, so
 * no program, release or sweep of the daemon interleaves.
 *
 * Why the kernel is read before KV: DEL deletes the veth before it releases the address, so every
 * veth in the kernel listing that DEL is taking away has its allocation in the KV listing read
 * after it. ADD makes its veth pair a few milliseconds before its one request claims the address
 * (`POST /v1/endpoints/add`), so a veth that no allocation names may be an ADD in flight: it is
 * judged only once the daemon has listed it for `gc.gracePeriod` (`VethSightings`, told by every
 * listing of the dataplane, the periodic sweep among them). The other way round is covered by the
 * grace period too: an allocation read without its veth is judged only once it is older than it.
 *
 * A repair never trusts an older report: `repair()` gathers and judges again under the lock and
 * acts on that judgement only, each action in a KV commit that checks the records it read.
 * @module
 */
import type { Endpoint } from "../../src/api.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import type { Mutex } from "../../src/lib/mutex.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import {
  type BlockFact,
  checkIpam,
  type IpamCheckReport,
  type IpamFacts,
  type IpamProblem,
  type IpamRepairOutcome,
  type IpamRepairResponse,
} from "../../src/ipam/ipam_check.ts";
import { type Dataplane, endpointVeth } from "../routing/dataplane.ts";
import type { LocalEndpoints } from "../../src/local_endpoints.ts";
import type { ClusterPart } from "../cluster/start_cluster.ts";
import type { DaemonConfig } from "../config.ts";
import type { Ipam } from "./ipam.ts";
import type { IpamPart } from "./start_ipam.ts";

/** Where the facts come from; the daemon passes its parts, tests pass fakes. */
export interface IpamFactSources {
  node: string;
  mode: "node-cidr" | "blocks";
  /** Allocations younger than this are not judged (the daemon's `gc.gracePeriod`). */
  graceMs: number;
  ipam: Pick<
    Ipam,
    | "records"
    | "pools"
    | "release"
    | "restoreAddressRecord"
    | "releaseDuplicate"
    | "dropAddressRecord"
  >;
  dataplane: {
    hostVeths(): Promise<Set<string>>;
    hostRoutes(): Promise<{ ip: string; dev: string }[]>;
    removeEndpoint(ep: Endpoint): Promise<void>;
    deleteVeth(veth: string): Promise<boolean>;
    /** The registry the reconciler routes from: a duplicate released leaves it too. */
    forget(ep: Endpoint): void;
    /** When the daemon first listed veth `name` (`VethSightings`); default: never. */
    vethFirstSeen?(name: string): number | undefined;
  };
  /** This node's pods (`namespace/name`), or undefined without a (synced) cluster source. */
  pods(): string[] | undefined;
  /** Blocks mode: the cluster's IPAMBlocks, or undefined before their first list. */
  blocks(): BlockFact[] | undefined;
  /** Default: `Date.now`. */
  now?: () => number;
}

/** Gathers the facts: kernel first, then KV, then the cluster (see the module's note). */
export async function gatherIpamFacts(sources: IpamFactSources): Promise<IpamFacts> {
  const veths = await sources.dataplane.hostVeths();
  const routes = await sources.dataplane.hostRoutes();
  const { owners, addresses } = await sources.ipam.records();
  const facts: IpamFacts = {
    node: sources.node,
    mode: sources.mode,
    now: (sources.now ?? Date.now)(),
    graceMs: sources.graceMs,
    pools: sources.ipam.pools,
    owners: await Promise.all(
      owners.map(async (endpoint) => ({ endpoint, veth: await endpointVeth(endpoint) })),
    ),
    addresses,
    veths: [...veths].sort(),
    routes,
  };
  const firstSeen = sources.dataplane.vethFirstSeen;
  if (firstSeen !== undefined) {
    const seen: Record<string, number> = {};
    for (const veth of veths) {
      const at = firstSeen(veth);
      if (at !== undefined) seen[veth] = at;
    }
    facts.vethFirstSeen = seen;
  }
  const pods = sources.pods();
  if (pods !== undefined) facts.pods = pods;
  const blocks = sources.blocks();
  if (blocks !== undefined) facts.blocks = blocks;
  return facts;
}

/** `tern ipam check` and its repairs, under the dataplane lock. */
export class IpamCheckService {
  readonly #sources: IpamFactSources;
  readonly #lock: Mutex;
  readonly #log: Logger;

  constructor(sources: IpamFactSources, lock: Mutex, log: Logger = silentLogger) {
    this.#sources = sources;
    this.#lock = lock;
    this.#log = log;
  }

  /** The facts judged now. */
  check(): Promise<IpamCheckReport> {
    return this.#lock.run(async () => checkIpam(await gatherIpamFacts(this.#sources)));
  }

  /** Judges again, applies every repair judged safe, then judges once more. */
  repair(): Promise<IpamRepairResponse> {
    return this.#lock.run(async () => {
      const facts = await gatherIpamFacts(this.#sources);
      const before = checkIpam(facts);
      const repairs: IpamRepairOutcome[] = [];
      for (const problem of before.problems) {
        if (problem.repair === "none") continue;
        let outcome: IpamRepairOutcome;
        try {
          const done = await this.#apply(problem, facts);
          outcome = { problem, result: done ? "repaired" : "skipped" };
        } catch (err) {
          outcome = { problem, result: "failed", error: errorMessage(err) };
        }
        repairs.push(outcome);
        const fields = {
          kind: problem.kind,
          repair: problem.repair,
          ip: problem.ip,
          containerID: problem.containerID,
          ifname: problem.ifname,
          veth: problem.veth,
          result: outcome.result,
          error: outcome.error,
        };
        if (outcome.result === "failed") this.#log.warn("IPAM repair failed", fields);
        else this.#log.info("IPAM repair", fields);
      }
      const after = checkIpam(await gatherIpamFacts(this.#sources));
      return { before, repairs, after };
    });
  }

  async #apply(problem: IpamProblem, facts: IpamFacts): Promise<boolean> {
    const { ipam, dataplane } = this.#sources;
    const endpoint = (): Endpoint => {
      const found = facts.owners.find((o) =>
        o.endpoint.containerID === problem.containerID && o.endpoint.ifname === problem.ifname
      );
      if (found === undefined) throw new Error(`No allocation for ${problem.containerID}`);
      return found.endpoint;
    };
    const id = () => ({ containerID: problem.containerID!, ifname: problem.ifname! });
    switch (problem.repair) {
      case "release": {
        const ep = endpoint();
        // As DEL does: rules and route (already gone) and veth (gone), then the address.
        await dataplane.removeEndpoint(ep);
        return (await ipam.release(ep, { network: ep.network })) !== undefined;
      }
      case "restore_address_record":
        return await ipam.restoreAddressRecord(id(), problem.ip!);
      case "release_duplicate": {
        const ep = endpoint();
        const done = await ipam.releaseDuplicate(id(), problem.ip!);
        // Not removeEndpoint: the route to the address is the holder's.
        if (done) dataplane.forget(ep);
        return done;
      }
      case "drop_address_record":
        return await ipam.dropAddressRecord(problem.ip!, id());
      case "delete_veth":
        return await dataplane.deleteVeth(problem.veth!);
      case "none":
        return false;
    }
  }
}

/** The daemon's sources: its config, parts and registry of endpoints. */
export function daemonIpamCheck(
  config: Pick<DaemonConfig, "nodeName" | "ipam" | "gc">,
  parts: {
    ipam: IpamPart;
    dataplane: Dataplane;
    endpoints: LocalEndpoints;
    cluster: Pick<ClusterPart, "state" | "source" | "status">;
    log: Logger;
  },
): IpamCheckService {
  const { ipam, dataplane, endpoints, cluster } = parts;
  const node = config.nodeName;
  return new IpamCheckService(
    {
      node,
      mode: config.ipam.mode,
      graceMs: config.gc.gracePeriodMs,
      ipam: ipam.ipam,
      dataplane: {
        hostVeths: () => dataplane.hostVeths(),
        hostRoutes: () => dataplane.hostRoutes(),
        removeEndpoint: (ep) => dataplane.removeEndpoint(ep),
        deleteVeth: (veth) => dataplane.deleteVeth(veth),
        forget: (ep) => void endpoints.remove(ep),
        vethFirstSeen: (veth) => dataplane.vethSightings.firstSeen(veth),
      },
      pods: () => {
        // Without a source, or before its first lists, no pod is known to be gone.
        if (cluster.source === undefined || cluster.status()?.synced === false) return undefined;
        return cluster.state.podsOnNode(node).filter((p) => !p.hostNetwork).map((p) =>
          `${p.namespace}/${p.name}`
        );
      },
      blocks: () => {
        const view = ipam.blockView;
        if (view === undefined || !view.status().synced) return undefined;
        return view.blocks().map((b) => ({ cidr: b.cidr, node: b.node, createdAt: b.createdAt }));
      },
    },
    ipam.lock,
    parts.log,
  );
}

/**
 * The daemon's policy part: the whole `inet tern` table applied before the API answers (so no
 * ADD can beat it), then kept equal to the cluster state, `policy.dir` and this node's endpoints
 * by the {@linkcode PolicyManager}; with `reconcile.monitor`, nftables commits are followed
 * (`src/nft_generation.ts`), so a change someone else makes is checked at once. Not
 * `nft monitor`: nftables 1.0.6's crashes after ordinary transactions and was down most of the
 * time. With `policy.enabled` false the part only deletes a table left by an earlier daemon.
 * @module
 */
import type { PolicyEnforcement } from "../../src/api.ts";
import { affectsPolicy, PolicyLabelKeys } from "./policy_triggers.ts";
import { ClusterState } from "../../src/cluster/state.ts";
import { PolicyChanges } from "../../src/policy/policy_changes.ts";
import { FilesSource } from "../../src/cluster/files_source.ts";
import type { HostNetlink } from "../../src/host_netlink.ts";
import type { Ip } from "../../src/ip.ts";
import type { Logger } from "../../src/log.ts";
import type { Nft } from "../../src/nft.ts";
import { type GenerationWatch, NftGeneration } from "../../src/nft_generation.ts";
import { CleanupStack } from "../../src/lib/cleanup_stack.ts";
import type { DaemonConfig } from "../config.ts";
import type { DaemonOptions } from "../daemon_options.ts";
import type { DaemonPart } from "../daemon_part.ts";
import type { LocalEndpoints } from "../../src/local_endpoints.ts";
import { PolicyManager, type PolicyManagerDeps } from "./policy_manager.ts";
import { managedPolicy, type PolicyService } from "./policy_service.ts";
import { readLogger, startFeed } from "../cluster/start_cluster.ts";
import { IpVethGroups, NetlinkVethGroups } from "./veth_groups.ts";

/**
 * A cluster or `policy.dir` change asks for a policy run this soon: its source already waited
 * for the writes to end and hands over all the changes of one read together, and a change that
 * arrives during a run is taken by the next one, so waiting longer only adds latency.
 */
const SOURCE_POLICY_DELAY_MS = 0;

/** The running policy part; `status()` is undefined when policy is disabled. */
export interface PolicyPart extends DaemonPart<string | undefined> {
  /** What the API asks of policy; undefined when policy is disabled. */
  readonly service: PolicyService | undefined;
  /** The manager's enforcement state (the metrics); absent when policy is disabled. */
  readonly enforcement?: () => PolicyEnforcement;
}

/** Applies the whole table and starts following the inputs, or deletes the table when disabled. */
export async function startPolicy(
  config: DaemonConfig,
  context: {
    ip: Ip;
    /** Sets the ready marks in-process; default: through `ip`. */
    netlink?: HostNetlink | undefined;
    nft: Nft;
    endpoints: LocalEndpoints;
    /** The cluster state, when a cluster source is configured. */
    cluster: ClusterState | undefined;
    options: DaemonOptions;
    log: Logger;
    /** Told of every policy run (the metrics). Default: nobody. */
    onApply?: PolicyManagerDeps["onApply"];
  },
): Promise<PolicyPart> {
  const { ip, nft, endpoints, cluster, log } = context;
  if (!config.policy.enabled) {
    try {
      if (await nft.deleteTableIfExists("inet", "tern")) {
        log.info("Policy disabled: deleted table inet tern");
      }
    } catch (err) {
      log.warn("Policy disabled: cannot check for table inet tern", { error: String(err) });
    }
    return { service: undefined, stop: () => Promise.resolve(), status: () => undefined };
  }
  const parts = new CleanupStack();
  try {
    let policyDir: ClusterState | undefined;
    if (config.policy.dir !== undefined) {
      policyDir = new ClusterState();
      const files = config.cluster?.source === "files" ? config.cluster : undefined;
      const watch = files !== undefined
        ? { settleMs: files.settleMs, debounceMs: files.debounceMs }
        : {};
      const source = new FilesSource(config.policy.dir, {
        ...watch,
        onRead: readLogger(log, config.policy.dir),
      });
      parts.push(await startFeed(source, policyDir, log));
    }
    const generation = config.reconcile.monitor
      ? generationReader(context.options, parts, log)
      : undefined;
    // Every change, also those that ask for no run: the compiler's kept peers follow them all.
    const changes = new PolicyChanges();
    cluster?.subscribe((change) => changes.observe(change));
    policyDir?.subscribe((change) => changes.observe(change));
    const manager = new PolicyManager({
      nft,
      delta: () => changes.take(),
      groups: context.netlink !== undefined
        ? new NetlinkVethGroups(new IpVethGroups(ip), context.netlink)
        : new IpVethGroups(ip),
      ...(generation !== undefined ? { generation } : {}),
      ...(context.onApply !== undefined ? { onApply: context.onApply } : {}),
      log,
      inputs: () => ({
        cluster,
        policyDir,
        endpoints: endpoints.list(),
        nodeName: config.nodeName,
      }),
    }, { logRate: config.policy.logRate, intervalMs: config.reconcile.intervalMs });
    endpoints.subscribe(() => manager.request("endpoints"));
    // A pod's change that no policy input shows (annotations, labels no selector reads) asks
    // for no run: at 150 000 pods such changes are most of a cluster's events.
    const labelKeys = new PolicyLabelKeys([
      () => cluster?.others() ?? [],
      () => policyDir?.others() ?? [],
    ]);
    const keys = () => labelKeys.keys();
    cluster?.subscribe((change) => {
      labelKeys.observe(change);
      if (affectsPolicy(change, keys)) manager.request("cluster", SOURCE_POLICY_DELAY_MS);
    });
    policyDir?.subscribe((change) => {
      labelKeys.observe(change);
      if (affectsPolicy(change, keys)) manager.request("policy", SOURCE_POLICY_DELAY_MS);
    });
    await manager.start();
    parts.push(manager);
    return {
      service: managedPolicy(manager, {
        pendingWaitMs: config.policy.pendingWaitMs,
        manifestErrors: () => [...(cluster?.errors() ?? []), ...(policyDir?.errors() ?? [])],
      }),
      enforcement: () => manager.status(),
      stop: () => parts.unwind((err) => log.error("Cleanup failed", { error: String(err) })),
      status: () => {
        const model = manager.model;
        return `${model?.pods.length ?? 0} pods, ${model?.pending.length ?? 0} held`;
      },
    };
  } catch (err) {
    await parts.unwind((e) => log.error("Cleanup failed", { error: String(e) }));
    throw err;
  }
}

/**
 * The generation id and its commits: the injected ones, or an {@linkcode NftGeneration} of the
 * daemon's namespace, closed with the part. Undefined (said once) when FFI or the sockets are
 * unavailable: then only the periodic check finds changes made by others.
 */
function generationReader(
  options: DaemonOptions,
  parts: CleanupStack,
  log: Logger,
): GenerationWatch | undefined {
  if (options.nftGeneration !== undefined) return options.nftGeneration;
  try {
    const reader = new NftGeneration();
    parts.defer(() => reader.close());
    return reader;
  } catch (err) {
    log.warn("Cannot watch the nftables generation; only the periodic check finds changes", {
      error: String(err),
    });
    return undefined;
  }
}

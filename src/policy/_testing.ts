/**
 * Test support for `src/policy`: builds a cluster state from the manifests in
 * `testdata/policy/` and this node's endpoints as the daemon would know them (host veth names
 * derived from the published container ids). Reads files, so tests only.
 * @module
 */
import { parseManifests } from "../cluster/manifest.ts";
import { ClusterState } from "../cluster/state.ts";
import type { Snapshot } from "../cluster/types.ts";
import { hostVethName } from "../names.ts";
import { compilePolicy } from "./compile.ts";
import type { LocalEndpoint, PolicyModel } from "./model.ts";

/** `testdata/policy/`. */
export const TESTDATA = new URL("../../testdata/policy/", import.meta.url);

/** Text that builds a cluster from manifests; any manifest error fails the test. */
export function clusterFromText(...texts: string[]): ClusterState {
  const snapshot: Snapshot = {
    resourceVersion: "1",
    nodes: [],
    pods: [],
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: [],
  };
  texts.forEach((text, i) => {
    const parsed = parseManifests(text, { file: `text-${i}` });
    if (parsed.errors.length > 0) {
      throw new Error(`Bad test manifest: ${parsed.errors.map((e) => e.message).join("; ")}`);
    }
    for (const r of parsed.resources) {
      if (r.kind === "Node") snapshot.nodes.push(r);
      else if (r.kind === "Pod") snapshot.pods.push(r);
      else if (r.kind === "Namespace") snapshot.namespaces.push(r);
      else if (r.kind === "NodeEndpoints") snapshot.nodeEndpoints.push(r);
      else snapshot.others.push(r);
    }
  });
  const state = new ClusterState();
  state.reset(snapshot);
  return state;
}

/** The test cluster (`cluster.yaml`) plus the manifests of `files` in `testdata/policy/`. */
export async function loadCluster(...files: string[]): Promise<ClusterState> {
  const texts = await Promise.all(
    ["cluster.yaml", ...files].map((f) => Deno.readTextFile(new URL(f, TESTDATA))),
  );
  return clusterFromText(...texts);
}

/** Extra manifests as YAML text, added to the test cluster. */
export async function clusterWith(...texts: string[]): Promise<ClusterState> {
  return clusterFromText(await Deno.readTextFile(new URL("cluster.yaml", TESTDATA)), ...texts);
}

/** The endpoints `node` published, with the host veth names the plugin gave them. */
export async function localEndpoints(
  state: ClusterState,
  node = "node-1",
): Promise<LocalEndpoint[]> {
  const published = state.nodeEndpoints().find((e) => e.node === node)?.endpoints ?? [];
  return await Promise.all(published.map(async (ep) => ({
    namespace: ep.podNamespace!,
    name: ep.podName!,
    ifname: await hostVethName(ep.containerID, ep.ifname),
    ip: ep.ip,
  })));
}

/** The model node-1 compiles for the test cluster plus `files`. */
export async function compileScenario(...files: string[]): Promise<PolicyModel> {
  const state = await loadCluster(...files);
  return compilePolicy(state, { endpoints: await localEndpoints(state) });
}

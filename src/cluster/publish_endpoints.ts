/**
 * Publication of a node's own endpoints for the other nodes, in the `files` source: one
 * `tern.dev/v1alpha1` `NodeEndpoints` manifest per node, `endpoints-<node>.yaml`, in the shared
 * manifests directory, which every node's files source parses back. Each node writes only its
 * own file, so writers never contend; the file is written to a hidden temporary name, flushed
 * and renamed into place, so a reader never sees half of it. An unchanged list is not rewritten,
 * so the other nodes' watches stay quiet.
 * @module
 */
import { stringify } from "yaml";
import { TERN_API_VERSION } from "./manifest.ts";
import type { PublishedEndpoint } from "./types.ts";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The file name a node publishes under: `endpoints-<node>.yaml`. Throws on a bad node name. */
export function endpointsFileName(nodeName: string): string {
  if (nodeName.length > 253 || !DNS_SUBDOMAIN.test(nodeName)) {
    throw new TypeError(
      `Invalid node name: ${JSON.stringify(nodeName)}: lowercase letters, digits, "-" and "."`,
    );
  }
  return `endpoints-${nodeName}.yaml`;
}

/**
 * The manifest text (pure). Endpoints are sorted by pod, then containerID and ifname, so the
 * same set always renders the same bytes.
 */
export function renderNodeEndpoints(
  nodeName: string,
  endpoints: readonly PublishedEndpoint[],
): string {
  const sorted = [...endpoints].sort((a, b) => compare(sortKey(a), sortKey(b)));
  const doc = {
    apiVersion: TERN_API_VERSION,
    kind: "NodeEndpoints",
    metadata: { name: nodeName },
    spec: {
      endpoints: sorted.map((e) => ({
        ...(e.podNamespace !== undefined ? { podNamespace: e.podNamespace } : {}),
        ...(e.podName !== undefined ? { podName: e.podName } : {}),
        containerID: e.containerID,
        ifname: e.ifname,
        ip: e.ip,
      })),
    },
  };
  return `# Written by ternd on ${nodeName}; do not edit: the daemon rewrites it.\n${
    stringify(doc, { lineWidth: 0 })
  }`;
}

/**
 * Writes `<dir>/endpoints-<node>.yaml` atomically (temporary file, flush, rename) unless it
 * already holds exactly this content. Returns true when it wrote.
 */
export async function publishEndpoints(
  dir: string,
  options: { nodeName: string; endpoints: readonly PublishedEndpoint[] },
): Promise<boolean> {
  const file = `${dir}/${endpointsFileName(options.nodeName)}`;
  const text = renderNodeEndpoints(options.nodeName, options.endpoints);
  try {
    if (await Deno.readTextFile(file) === text) return false;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const tmp = `${dir}/.${endpointsFileName(options.nodeName)}.${crypto.randomUUID()}.tmp`;
  try {
    const handle = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let done = 0; done < bytes.length;) done += await handle.write(bytes.subarray(done));
      await handle.syncData();
    } finally {
      handle.close();
    }
    await Deno.rename(tmp, file);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot publish endpoints to ${file}: ${String(err)}`, { cause: err });
  }
  return true;
}

/** Removes the node's file, for a node that leaves; a file already gone is success. */
export async function unpublishEndpoints(dir: string, nodeName: string): Promise<boolean> {
  try {
    await Deno.remove(`${dir}/${endpointsFileName(nodeName)}`);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function sortKey(e: PublishedEndpoint): string {
  return `${e.podNamespace ?? ""}\u0000${e.podName ?? ""}\u0000${e.containerID}\u0000${e.ifname}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

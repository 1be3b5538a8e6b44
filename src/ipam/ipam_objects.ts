/**
 * The tern.dev/v1alpha1 `IPPool` and `IPAMBlock` objects of cluster IPAM (deploy/01-crd-ippools.yaml,
 * deploy/02-crd-ipamblocks.yaml) as tern reads and writes them: their resource types, the
 * trusted shapes kept in memory, and the readers that turn an API object into one — or into a
 * reason to skip it, since one bad object written by hand must not stop a node's IPAM. Pure.
 * @module
 */
import * as z from "../lib/zod.ts";
import { type Cidr, formatCidr, overlaps, parseCidr } from "../cidr.ts";
import type { KubeObject, ResourceType } from "../kube/client.ts";
import { type LabelSelector, labelSelectorSchema } from "../policy/selector.ts";
import { blockCount, blockIndex, blockName, DEFAULT_BLOCK_SIZE } from "./block_cidrs.ts";

/** The `ippools.tern.dev` resource. */
export const IPPOOLS: ResourceType = {
  group: "tern.dev",
  version: "v1alpha1",
  plural: "ippools",
  kind: "IPPool",
  namespaced: false,
};

/** The `ipamblocks.tern.dev` resource. */
export const IPAMBLOCKS: ResourceType = {
  group: "tern.dev",
  version: "v1alpha1",
  plural: "ipamblocks",
  kind: "IPAMBlock",
  namespaced: false,
};

/** A pool as tern uses it. */
export interface IpPool {
  name: string;
  /** Canonical CIDR text. */
  cidr: string;
  /** Parsed `cidr`. */
  range: Cidr;
  /** Prefix length of its blocks. */
  blockSize: number;
  /** The nodes that may claim from it; empty: all. */
  nodeSelector: LabelSelector;
}

/** A block as tern uses it. */
export interface IpamBlock {
  /** The object name, derived from `cidr` ({@linkcode blockName}). */
  name: string;
  /** Canonical CIDR text. */
  cidr: string;
  pool: string;
  /** The owning node. */
  node: string;
  /** `status.allocated` as last written (0 when absent). */
  allocated: number;
  /** `status.releasing`. */
  releasing: boolean;
  uid: string;
  resourceVersion: string;
  /** `metadata.creationTimestamp` in ms since the epoch (0 when absent). */
  createdAt: number;
}

const poolSpec = z.object({
  cidr: z.string(),
  blockSize: z.number().int().min(1).max(32).default(DEFAULT_BLOCK_SIZE),
  nodeSelector: labelSelectorSchema.nullish(),
});

const blockSpec = z.object({
  cidr: z.string(),
  pool: z.string().min(1),
  node: z.string().min(1),
});

const blockStatus = z.object({
  allocated: z.number().int().min(0).optional(),
  releasing: z.boolean().optional(),
}).nullish();

/** Reads an IPPool object: the pool, or `{ error }` saying why it cannot be used. */
export function readPool(object: KubeObject): IpPool | { error: string } {
  const name = object.metadata?.name ?? "";
  const spec = poolSpec.safeParse((object as { spec?: unknown }).spec);
  if (!spec.success) {
    return { error: `IPPool ${name} has an invalid spec: ${spec.error.issues[0]?.message}` };
  }
  let range: Cidr;
  try {
    range = parseCidr(spec.data.cidr);
  } catch (err) {
    return { error: `IPPool ${name} has an invalid spec.cidr: ${(err as Error).message}` };
  }
  try {
    blockCount(range, spec.data.blockSize);
  } catch (err) {
    return { error: `IPPool ${name} has an invalid spec.blockSize: ${(err as Error).message}` };
  }
  return {
    name,
    cidr: formatCidr(range),
    range,
    blockSize: spec.data.blockSize,
    nodeSelector: spec.data.nodeSelector ?? { matchLabels: {}, matchExpressions: [] },
  };
}

/** Reads an IPAMBlock object: the block, or `{ error }` saying why it is not one tern wrote. */
export function readBlock(object: KubeObject): IpamBlock | { error: string } {
  const meta = object.metadata ?? {};
  const name = meta.name ?? "";
  const raw = object as { spec?: unknown; status?: unknown };
  const spec = blockSpec.safeParse(raw.spec);
  if (!spec.success) {
    return { error: `IPAMBlock ${name} has an invalid spec: ${spec.error.issues[0]?.message}` };
  }
  let cidr: string;
  try {
    cidr = formatCidr(parseCidr(spec.data.cidr));
  } catch (err) {
    return { error: `IPAMBlock ${name} has an invalid spec.cidr: ${(err as Error).message}` };
  }
  if (blockName(cidr) !== name) {
    return {
      error: `IPAMBlock ${name} is misnamed: spec.cidr ${cidr} must be named ${blockName(cidr)}`,
    };
  }
  const status = blockStatus.safeParse(raw.status);
  const created = Date.parse(String(meta.creationTimestamp ?? ""));
  return {
    name,
    cidr,
    pool: spec.data.pool,
    node: spec.data.node,
    allocated: status.success ? status.data?.allocated ?? 0 : 0,
    releasing: status.success ? status.data?.releasing ?? false : false,
    uid: String(meta.uid ?? ""),
    resourceVersion: String(meta.resourceVersion ?? ""),
    createdAt: Number.isNaN(created) ? 0 : created,
  };
}

/** The IPAMBlock object that claims `block` of `pool` for `node`. */
export function blockObject(pool: IpPool, block: Cidr, node: string): KubeObject {
  return {
    apiVersion: "tern.dev/v1alpha1",
    kind: "IPAMBlock",
    // No node label: a node name may be longer than a label value (63).
    metadata: { name: blockName(block) },
    spec: { cidr: formatCidr(block), pool: pool.name, node },
    status: { allocated: 0 },
  } as KubeObject;
}

/** Whether `cidr` is one of the pool's blocks (right size, inside it). */
export function isBlockOf(pool: IpPool, cidr: Cidr): boolean {
  return blockIndex(pool.range, pool.blockSize, cidr) !== undefined;
}

/** The pool that `cidr` lies in, if any. */
export function poolOf(pools: readonly IpPool[], cidr: Cidr): IpPool | undefined {
  return pools.find((pool) => overlaps(pool.range, cidr) && cidr.prefix >= pool.range.prefix);
}

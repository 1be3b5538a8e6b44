/**
 * The `routing` section of the daemon's config as a zod schema, ready to be placed in the
 * config's top-level schema (`routing: routingConfigSchema.prefault({})`): the mode between
 * nodes, the node address types to route via, the cluster CIDRs kept on the main table, the
 * egress tables and how pods are bound to them, and the route of last resort for the node's own
 * pod CIDRs. Unknown keys are errors, like everywhere in the
 * config; every message names the value.
 * @module
 */
import * as z from "../lib/zod.ts";
import { formatCidr, isIp, parseCidr } from "../cidr.ts";
import type { EgressBinding, EgressTable } from "./egress_tables.ts";
import type { RoutingMode } from "./peer_routes.ts";

/** The validated section, with defaults applied. */
export interface RoutingConfig {
  /** Default `routes`. */
  mode: RoutingMode;
  /** Node address types to route via, by preference. Default `["InternalIP"]`. */
  addressTypes: string[];
  /** Kept on the main table for pods bound to an egress table (canonical). Default none. */
  clusterCIDRs: string[];
  /** Default none. */
  egressTables: EgressTable[];
  /** Default: annotation and label `tern.dev/egress-table`. */
  egressBinding: EgressBinding;
  /**
   * The route of last resort for this node's own pod CIDRs, behind the pods' `/32` host routes:
   * `unreachable` (senders get "no route to host" at once), `blackhole` (dropped silently) or
   * `none`. Absent: the daemon decides (`unreachable` with a cluster source, `none` without).
   */
  ownPodCIDRRoute?: OwnPodCIDRRoute;
}

/** What {@linkcode RoutingConfig.ownPodCIDRRoute} may be. */
export type OwnPodCIDRRoute = "unreachable" | "blackhole" | "none";

/** The annotation and label that bind a pod to an egress table by default. */
export const DEFAULT_EGRESS_KEY = "tern.dev/egress-table";

const show = (value: unknown) => JSON.stringify(value) ?? String(value);

const IFNAME = /^[^\s/:]{1,15}$/;
const TABLE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RESERVED_TABLES = new Set([0, 253, 254, 255]);

const cidr = z.string().transform((value, ctx) => {
  try {
    return formatCidr(parseCidr(value));
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message.replace(/^Not/, "not") });
    return z.NEVER;
  }
});

const egressTable = z.strictObject({
  name: z.string().superRefine((value, ctx) => {
    if (value.length > 63 || !TABLE_NAME.test(value)) {
      ctx.addIssue({
        code: "custom",
        message: `${
          show(value)
        } is not a valid name: lowercase letters, digits and "-", at most 63`,
      });
    }
  }),
  table: z.unknown().transform((value, ctx) => {
    if (
      typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 0xffffffff ||
      RESERVED_TABLES.has(value)
    ) {
      ctx.addIssue({
        code: "custom",
        message: `${
          show(value)
        } must be a table id 1..252 or 256..4294967295 (253..255 are the kernel's)`,
      });
      return z.NEVER;
    }
    return value;
  }),
  via: z.string().superRefine((value, ctx) => {
    if (!isIp(value)) {
      ctx.addIssue({ code: "custom", message: `${show(value)} is not an IPv4 address` });
    }
  }).optional(),
  dev: z.string().superRefine((value, ctx) => {
    if (!IFNAME.test(value)) {
      ctx.addIssue({ code: "custom", message: `${show(value)} is not an interface name` });
    }
  }).optional(),
}).superRefine((value, ctx) => {
  if (value.via === undefined && value.dev === undefined) {
    ctx.addIssue({ code: "custom", message: "needs via (a gateway) or dev (a device), or both" });
  }
});

/** The schema of the `routing` section. */
export const routingConfigSchema: z.ZodType<RoutingConfig, unknown> = z.strictObject({
  mode: z.enum(["routes", "native"]).default("routes"),
  addressTypes: z.array(z.string().min(1)).min(1).default(["InternalIP"]),
  clusterCIDRs: z.array(cidr).default([]),
  egressTables: z.array(egressTable).default([]),
  egressBinding: z.strictObject({
    annotation: z.string().min(1).optional(),
    label: z.string().min(1).optional(),
  }).default({ annotation: DEFAULT_EGRESS_KEY, label: DEFAULT_EGRESS_KEY }),
  ownPodCIDRRoute: z.enum(["unreachable", "blackhole", "none"]).optional(),
}).superRefine((value, ctx) => {
  const names = new Map<string, number>();
  const ids = new Map<number, number>();
  value.egressTables.forEach((t, i) => {
    const byName = names.get(t.name);
    if (byName !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["egressTables", i, "name"],
        message: `${show(t.name)} is already the name of egressTables[${byName}]`,
      });
    }
    const byId = ids.get(t.table);
    if (byId !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["egressTables", i, "table"],
        message: `${t.table} is already the table of egressTables[${byId}]`,
      });
    }
    names.set(t.name, i);
    ids.set(t.table, i);
  });
}).transform((value): RoutingConfig => ({
  mode: value.mode,
  addressTypes: value.addressTypes,
  clusterCIDRs: value.clusterCIDRs,
  egressTables: value.egressTables.map((t) => {
    const table: EgressTable = { name: t.name, table: t.table };
    if (t.via !== undefined) table.via = t.via;
    if (t.dev !== undefined) table.dev = t.dev;
    return table;
  }),
  egressBinding: {
    ...(value.egressBinding.annotation !== undefined
      ? { annotation: value.egressBinding.annotation }
      : {}),
    ...(value.egressBinding.label !== undefined ? { label: value.egressBinding.label } : {}),
  },
  ...(value.ownPodCIDRRoute !== undefined ? { ownPodCIDRRoute: value.ownPodCIDRRoute } : {}),
}));

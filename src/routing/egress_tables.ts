/**
 * Egress tables: routing tables named in the config, each with a default route via a gateway
 * and/or a device, that pods are bound to by a label or an annotation. This module holds their
 * shape, the pure lookup of the table a pod is bound to, and the routes each table must hold.
 * @module
 */
import { MAIN_TABLE, type Route } from "./model.ts";

/** One egress table from the config. */
export interface EgressTable {
  /** The name pods are bound by (a DNS label). */
  name: string;
  /** The kernel table id: 1..252 or 256 and up (253..255 are the kernel's). */
  table: number;
  /** Gateway of the table's default route. */
  via?: string;
  /** Device of the table's default route; required when there is no gateway. */
  dev?: string;
}

/** Where a pod's binding is read: the value names a table by `name` or by id. */
export interface EgressBinding {
  /** Annotation key, read first (e.g. `tern.dev/egress-table`). */
  annotation?: string;
  /** Label key, read when the annotation is absent. */
  label?: string;
}

/** What a pod's binding resolved to. */
export type EgressLookup =
  | { bound: false }
  | { bound: true; table: EgressTable }
  | { bound: "unknown"; value: string; from: string };

/**
 * The table a pod is bound to, from its annotations then its labels (pure). A value that names
 * no configured table (by name, or by id in decimal) is `unknown`.
 */
export function egressTableOf(
  pod: {
    labels?: Readonly<Record<string, string>>;
    annotations?: Readonly<Record<string, string>>;
  },
  options: { egressTables: readonly EgressTable[]; binding: EgressBinding },
): EgressLookup {
  const { annotation, label } = options.binding;
  let value: string | undefined;
  let from = "";
  if (annotation !== undefined && pod.annotations?.[annotation] !== undefined) {
    value = pod.annotations[annotation];
    from = `annotation ${annotation}`;
  } else if (label !== undefined && pod.labels?.[label] !== undefined) {
    value = pod.labels[label];
    from = `label ${label}`;
  }
  if (value === undefined || value === "") return { bound: false };
  const table = options.egressTables.find((t) => t.name === value || String(t.table) === value);
  return table === undefined ? { bound: "unknown", value, from } : { bound: true, table };
}

/** Each table's default route, via its gateway and/or device, sorted by table id. */
export function desiredTableRoutes(egressTables: readonly EgressTable[]): Route[] {
  return [...egressTables]
    .filter((t) => t.table !== MAIN_TABLE)
    .sort((a, b) => a.table - b.table)
    .map((t) => {
      const route: Route = { table: t.table, dst: "0.0.0.0/0" };
      if (t.via !== undefined) route.via = t.via;
      if (t.dev !== undefined) route.dev = t.dev;
      return route;
    });
}

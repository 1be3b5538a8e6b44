/**
 * `tern ipam ls --cluster` as text: the pools (blocks claimed of all, addresses in use of those
 * claimed), then each node's blocks and their use, then what could not be read. Pure.
 * @module
 */
import type { ClusterReport } from "../src/ipam/cluster_report.ts";
import { renderTable } from "./render.ts";

/** The report as two tables and a list of problems. */
export function renderClusterIpam(report: ClusterReport): string {
  let out = report.pools.length === 0 ? "no IPPools: create one (docs/ipam.md)\n" : renderTable(
    ["POOL", "CIDR", "BLOCK", "BLOCKS CLAIMED", "ALLOCATED"],
    report.pools.map((p) => [
      p.name,
      p.cidr,
      `/${p.blockSize}`,
      `${p.claimed} of ${p.blocks}`,
      `${p.allocated} of ${p.capacity}`,
    ]),
  );
  out += "\n";
  out += report.nodes.length === 0 ? "no blocks claimed\n" : renderTable(
    ["NODE", "BLOCK", "POOL", "ALLOCATED"],
    report.nodes.flatMap((n) =>
      n.blocks.map((b, i) => [
        i === 0 ? n.node : "",
        b.cidr,
        b.pool,
        `${b.allocated} of ${b.capacity}`,
      ])
    ),
  );
  if (report.problems.length > 0) {
    out += "\nproblems:\n" + report.problems.map((p) => `  ${p}\n`).join("");
  }
  return out;
}

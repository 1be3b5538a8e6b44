/**
 * `tern purge`: removes tern's kernel objects from the node once no pod uses them — the nftables
 * table `inet tern`, and every route and `ip rule` carrying tern's route protocol, in any table.
 * `install.sh --uninstall --purge` runs it after stopping ternd. It refuses, changing nothing,
 * while tern veths exist (pods still wired by tern: taking their routes would cut them off), and
 * while a daemon answers on the socket (it would put everything back).
 *
 * Veths are not deleted (they are the pods'; their runtime's DEL deletes them), and nothing else
 * carries a mark of tern's: the ready mark is an interface group of tern veths, gone with them,
 * and `net.ipv4.ip_forward` is left on, since other software on a node depends on it too.
 * {@linkcode planPurge} decides (pure); {@linkcode runPurge} reads the kernel and applies.
 * @module
 */
import { parseDocument } from "yaml";
import { applyLines } from "../src/batch_apply.ts";
import type { Ip } from "../src/ip.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { DEFAULT_ROUTE_PROTOCOL, VETH_PREFIX } from "../src/names.ts";
import type { Nft } from "../src/nft.ts";
import type { Route, Rule } from "../src/routing/model.ts";
import { parseRoutes, parseRules } from "../src/routing/parse.ts";
import { renderRouteDel, renderRuleDel } from "../src/routing/render.ts";

/** What the kernel holds of tern's, as `tern purge` reads it. */
export interface PurgeFacts {
  /** Links whose name carries tern's prefix. */
  veths: string[];
  routes: Route[];
  rules: Rule[];
  /** Whether `table inet tern` exists. */
  table: boolean;
  /** Whether a daemon answers on the socket. */
  daemonRunning: boolean;
  protocol: number;
}

/** What `tern purge` does, or why it does nothing. */
export interface PurgePlan {
  /** Set when nothing may be removed: what is in the way and what to do. */
  refused?: string;
  deleteTable: boolean;
  /** `ip -batch` lines: route and rule deletions. */
  lines: string[];
  routes: number;
  rules: number;
}

/** Decides what to remove (pure). */
export function planPurge(facts: PurgeFacts, options: { dryRun?: boolean } = {}): PurgePlan {
  const plan: PurgePlan = {
    deleteTable: facts.table,
    lines: [
      ...facts.rules.map((r) => renderRuleDel(r, facts.protocol)),
      ...facts.routes.map((r) => renderRouteDel(r, facts.protocol)),
    ],
    routes: facts.routes.length,
    rules: facts.rules.length,
  };
  if (facts.veths.length > 0) {
    const shown = facts.veths.slice(0, 5).join(", ") + (facts.veths.length > 5 ? ", …" : "");
    const pods = facts.veths.length === 1
      ? "1 pod still uses"
      : `${facts.veths.length} pods still use`;
    plan.refused =
      `Cannot purge: ${pods} tern's network (veths ${shown}): delete them first (kubectl drain the node, or crictl rmp the pods), then purge again`;
  } else if (facts.daemonRunning && !options.dryRun) {
    plan.refused =
      "Cannot purge: ternd is running and would put everything back: stop it first (systemctl stop ternd)";
  }
  return plan;
}

/** `tern purge`'s report, as `--json` prints it. */
export interface PurgeReport {
  protocol: number;
  dryRun: boolean;
  refused?: string;
  table: "deleted" | "absent" | "kept";
  routes: number;
  rules: number;
  failed: string[];
}

/**
 * The route protocol of the config at `path` (`routeProtocol`), or tern's default when the file
 * does not exist or does not set it. Throws when the file is unreadable or the value is wrong.
 */
export async function readRouteProtocol(path: string): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return DEFAULT_ROUTE_PROTOCOL;
    throw new Error(`Cannot read the config: ${path}: ${errorMessage(err)}`);
  }
  const value = (parseDocument(text).toJS() as Record<string, unknown> | null)?.routeProtocol;
  if (value === undefined) return DEFAULT_ROUTE_PROTOCOL;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 5 || value > 255) {
    throw new Error(
      `Invalid config ${path}: routeProtocol: must be an integer 5..255: got ${String(value)}`,
    );
  }
  return value;
}

/** Reads what tern owns in the kernel. */
export async function readPurgeFacts(
  ip: Ip,
  nft: Nft,
  options: { protocol: number; daemonRunning: boolean },
): Promise<PurgeFacts> {
  const { protocol } = options;
  const links = await ip.json<{ ifname: string }>(["link", "show"]);
  const routes = parseRoutes(
    await ip.json(["-4", "-N", "route", "show", "proto", String(protocol), "table", "all"]),
    { protocol },
  );
  const rules = parseRules(await ip.json(["-4", "-N", "rule", "show"]), { protocol });
  return {
    veths: links.map((l) => l.ifname).filter((n) => n.startsWith(VETH_PREFIX)),
    routes,
    rules,
    table: (await nft.listTableJson("inet", "tern")) !== undefined,
    daemonRunning: options.daemonRunning,
    protocol,
  };
}

/** Reads, plans and (unless `dryRun` or refused) removes. */
export async function runPurge(
  ip: Ip,
  nft: Nft,
  options: { protocol: number; daemonRunning: boolean; dryRun: boolean },
): Promise<PurgeReport> {
  const facts = await readPurgeFacts(ip, nft, options);
  const plan = planPurge(facts, { dryRun: options.dryRun });
  const report: PurgeReport = {
    protocol: options.protocol,
    dryRun: options.dryRun,
    table: plan.deleteTable ? "kept" : "absent",
    routes: plan.routes,
    rules: plan.rules,
    failed: [],
  };
  if (plan.refused !== undefined) report.refused = plan.refused;
  if (plan.refused !== undefined || options.dryRun) return report;
  if (plan.deleteTable) {
    report.table = (await nft.deleteTableIfExists("inet", "tern")) ? "deleted" : "absent";
  }
  const { failed } = await applyLines(ip, plan.lines);
  report.failed = failed.map((f) => `${f.line}: ${f.error}`);
  return report;
}

/** The report as text. */
export function renderPurge(report: PurgeReport): string {
  if (report.refused !== undefined) return `${report.refused}\n`;
  const verb = report.dryRun ? "would remove" : "removed";
  const table = report.dryRun
    ? (report.table === "kept" ? "table inet tern" : "no table (inet tern is absent)")
    : (report.table === "deleted" ? "table inet tern" : "no table (inet tern was absent)");
  let text = `${verb}: ${table}, ${report.routes} route${
    report.routes === 1 ? "" : "s"
  } and ${report.rules} rule${
    report.rules === 1 ? "" : "s"
  } of route protocol ${report.protocol}\n`;
  for (const f of report.failed) text += `failed: ${f}\n`;
  return text;
}

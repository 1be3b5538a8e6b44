/**
 * One reconcile pass's plan, pure: the route and rule differences between what the kernel has
 * (tern's entries only) and what is wanted, as an ordered list of `ip -batch` lines, each a
 * separate item that can fail, be retried and be reported on its own. Order: routes added or
 * replaced, rules added (a changed rule's new side first, so a pod is never without its rule),
 * rules deleted, routes deleted.
 * @module
 */
import { type Diff, diffRoutes, diffRules } from "./diff.ts";
import type { Route, Rule } from "./model.ts";
import { renderRouteDel, renderRouteReplace, renderRuleAdd, renderRuleDel } from "./render.ts";

/** What an item does. */
export type ItemAction = "add" | "replace" | "delete";

/** One change: a line of `ip -batch` input. */
export interface PlanItem {
  what: "route" | "rule";
  /** A changed rule is two lines, its new side and its old side, both `replace`. */
  action: ItemAction;
  /** The `ip -batch` line; also the item's identity for retries. */
  line: string;
  /** How the number of owned entries changes when the line succeeds: 1, 0 or -1. */
  delta: number;
}

/** The plan of a pass. */
export interface Plan {
  items: PlanItem[];
  routes: Diff<Route>;
  rules: Diff<Rule>;
}

/** Diffs `have` against `want` and renders the changes, every line carrying `protocol`. */
export function planChanges(
  have: { routes: readonly Route[]; rules: readonly Rule[] },
  want: { routes: readonly Route[]; rules: readonly Rule[] },
  options: { protocol: number },
): Plan {
  const { protocol } = options;
  const routes = diffRoutes(have.routes, want.routes);
  const rules = diffRules(have.rules, want.rules);
  const items: PlanItem[] = [];
  const item = (what: "route" | "rule", action: ItemAction, line: string, delta: number) =>
    items.push({ what, action, line, delta });
  for (const r of routes.add) item("route", "add", renderRouteReplace(r, protocol), 1);
  for (const r of routes.replace) item("route", "replace", renderRouteReplace(r.to, protocol), 0);
  for (const r of rules.add) item("rule", "add", renderRuleAdd(r, protocol), 1);
  for (const r of rules.replace) item("rule", "replace", renderRuleAdd(r.to, protocol), 1);
  for (const r of rules.replace) item("rule", "replace", renderRuleDel(r.from, protocol), -1);
  for (const r of rules.del) item("rule", "delete", renderRuleDel(r, protocol), -1);
  for (const r of routes.del) item("route", "delete", renderRouteDel(r, protocol), -1);
  return { items, routes, rules };
}

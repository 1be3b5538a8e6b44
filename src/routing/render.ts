/**
 * Route and rule changes rendered as `ip -batch` lines, every one carrying tern's protocol, as a
 * number: iproute2 caches protocol names inside one batch (a name, a number, then the name again
 * reads as the number), so numbers are the only safe spelling. Routes are written with `route
 * replace`, which changes a route in place; rules have no replace, so a changed rule is added
 * before the old one is deleted and the pod is never without a rule. Additions come before
 * deletions for the same reason. Pure.
 * @module
 */
import type { Diff } from "./diff.ts";
import type { Route, Rule } from "./model.ts";

/** `route replace …` for additions and replacements, then `route del …`. */
export function renderRouteBatch(diff: Diff<Route>, options: { protocol: number }): string[] {
  const { protocol } = options;
  return [
    ...[...diff.add, ...diff.replace.map((r) => r.to)].map((r) => renderRouteReplace(r, protocol)),
    ...diff.del.map((r) => renderRouteDel(r, protocol)),
  ];
}

/** `rule add …` for additions and the new side of replacements, then `rule del …`. */
export function renderRuleBatch(diff: Diff<Rule>, options: { protocol: number }): string[] {
  const { protocol } = options;
  return [
    ...[...diff.add, ...diff.replace.map((r) => r.to)].map((r) => renderRuleAdd(r, protocol)),
    ...[...diff.replace.map((r) => r.from), ...diff.del].map((r) => renderRuleDel(r, protocol)),
  ];
}

/** One `route replace` line. */
export function renderRouteReplace(route: Route, protocol: number): string {
  const parts = ["route", "replace"];
  if (route.type !== undefined && route.type !== "unicast") parts.push(route.type);
  parts.push(route.dst);
  if (route.via !== undefined) parts.push("via", route.via);
  if (route.dev !== undefined) parts.push("dev", route.dev);
  if (route.scope !== undefined) parts.push("scope", route.scope);
  if (route.metric) parts.push("metric", String(route.metric));
  parts.push("table", String(route.table), "proto", String(protocol));
  return parts.join(" ");
}

/** One `route del` line: identity and protocol only, so it never matches a foreign route. */
export function renderRouteDel(route: Route, protocol: number): string {
  const parts = ["route", "del", route.dst, "table", String(route.table)];
  if (route.metric) parts.push("metric", String(route.metric));
  parts.push("proto", String(protocol));
  return parts.join(" ");
}

/** One `rule add` line with selectors, table, priority and protocol. */
export function renderRuleAdd(rule: Rule, protocol: number): string {
  return renderRule("add", rule, protocol);
}

/** One `rule del` line, as specific as the rule, so it removes that rule and no other. */
export function renderRuleDel(rule: Rule, protocol: number): string {
  return renderRule("del", rule, protocol);
}

function renderRule(verb: "add" | "del", rule: Rule, protocol: number): string {
  const parts = ["rule", verb];
  if (rule.src !== undefined) parts.push("from", rule.src);
  if (rule.dst !== undefined) parts.push("to", rule.dst);
  if (rule.extra) parts.push(rule.extra);
  if (rule.table !== 0) parts.push("lookup", String(rule.table));
  parts.push("priority", String(rule.priority), "proto", String(protocol));
  return parts.join(" ");
}

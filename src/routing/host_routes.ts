/**
 * Desired host routes, `podIP/32 dev <veth> scope link`, one per programmed local endpoint, in
 * the same model as peer and table routes, so that one reconciler can own every route carrying
 * tern's protocol (today `daemon/routing/dataplane.ts` syncs these on its own). Pure.
 * @module
 */
import { parseIp } from "../cidr.ts";
import { MAIN_TABLE, type Route } from "./model.ts";

/** The host routes of endpoints that have a host veth, sorted by address. */
export function desiredHostRoutes(
  endpoints: readonly { ip: string; hostVeth: string }[],
): Route[] {
  const routes = new Map<string, Route>();
  for (const ep of endpoints) {
    if (ep.hostVeth === "" || routes.has(ep.ip)) continue;
    routes.set(ep.ip, { table: MAIN_TABLE, dst: `${ep.ip}/32`, dev: ep.hostVeth, scope: "link" });
  }
  return [...routes.entries()].sort(([a], [b]) => parseIp(a) - parseIp(b)).map(([, r]) => r);
}

/**
 * The CNI result: tern's version-neutral shape (the 1.1.0 one) and its conversion to the JSON
 * that a config's `cniVersion` expects. 1.0.0 drops the interfaces' `mtu`; 0.3.0, 0.3.1 and
 * 0.4.0 also carry `version: "4"` on every IP. Pure.
 * @module
 */

/** An interface of the result; `sandbox` is set for interfaces inside the pod. */
export interface CniInterface {
  name: string;
  mac?: string;
  /** 1.1.0 only. */
  mtu?: number;
  sandbox?: string;
}

/** An address, with the index into `interfaces` of the interface that holds it. */
export interface CniIpConfig {
  /** CIDR notation: `10.244.1.7/32`. */
  address: string;
  gateway?: string;
  interface?: number;
}

/** A route the pod was given. */
export interface CniRoute {
  dst: string;
  gw?: string;
}

/** DNS settings, passed through from the network config. */
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in tern's version-neutral shape. */
export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

function isPre1(cniVersion: string): boolean {
  return cniVersion.startsWith("0.");
}

/**
 * The result as JSON for `cniVersion` (one of the supported versions; the caller has checked).
 * Keys come in the spec's order: cniVersion, interfaces, ips, routes, dns.
 */
export function formatResult(result: CniResult, cniVersion: string): Record<string, unknown> {
  const keepMtu = cniVersion === "1.1.0";
  const interfaces = result.interfaces.map((iface) => {
    const out: Record<string, unknown> = { name: iface.name };
    if (iface.mac !== undefined) out.mac = iface.mac;
    if (keepMtu && iface.mtu !== undefined) out.mtu = iface.mtu;
    if (iface.sandbox !== undefined) out.sandbox = iface.sandbox;
    return out;
  });
  const ips = result.ips.map((ip) => {
    const out: Record<string, unknown> = {};
    if (isPre1(cniVersion)) out.version = ip.address.includes(":") ? "6" : "4";
    out.address = ip.address;
    if (ip.gateway !== undefined) out.gateway = ip.gateway;
    if (ip.interface !== undefined) out.interface = ip.interface;
    return out;
  });
  const routes = result.routes.map((route) => {
    const out: Record<string, unknown> = { dst: route.dst };
    if (route.gw !== undefined) out.gw = route.gw;
    return out;
  });
  return { cniVersion, interfaces, ips, routes, dns: { ...result.dns } };
}

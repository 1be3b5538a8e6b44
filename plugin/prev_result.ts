/**
 * Parsing of a config's `prevResult`: the result the runtime cached after ADD, which it hands to
 * CHECK (and DEL) so the plugin can compare it with what is in place. Accepts the result shapes
 * of every supported version (0.3.0 and later); the pre-1.0 `version` field on IPs is dropped.
 * Throws {@linkcode ShapeError}. Pure.
 * @module
 */
import { array, optionalString, parseDns, record, ShapeError, string } from "./_shape.ts";
import type { CniInterface, CniIpConfig, CniResult, CniRoute } from "./result.ts";

/** A prevResult in tern's version-neutral shape. `path` names it in errors. */
export function parsePrevResult(value: unknown, path = "prevResult"): CniResult {
  const obj = record(value, path);
  const interfaces = obj.interfaces === undefined
    ? []
    : array(obj.interfaces, `${path}.interfaces`).map((item, i) =>
      parseInterface(item, `${path}.interfaces[${i}]`)
    );
  const ips = obj.ips === undefined
    ? []
    : array(obj.ips, `${path}.ips`).map((item, i) => parseIpConfig(item, `${path}.ips[${i}]`));
  for (const [i, ip] of ips.entries()) {
    if (ip.interface !== undefined && ip.interface >= interfaces.length) {
      throw new ShapeError(
        `${path}.ips[${i}].interface`,
        `must index one of the ${interfaces.length} interfaces`,
        ip.interface,
      );
    }
  }
  const routes = obj.routes === undefined
    ? []
    : array(obj.routes, `${path}.routes`).map((item, i) =>
      parseRoute(item, `${path}.routes[${i}]`)
    );
  const dns = obj.dns === undefined ? {} : parseDns(obj.dns, `${path}.dns`);
  return { interfaces, ips, routes, dns };
}

function parseInterface(value: unknown, path: string): CniInterface {
  const obj = record(value, path);
  const out: CniInterface = { name: string(obj.name, `${path}.name`) };
  const mac = optionalString(obj.mac, `${path}.mac`);
  if (mac !== undefined) out.mac = mac;
  if (obj.mtu !== undefined) {
    if (!Number.isInteger(obj.mtu)) {
      throw new ShapeError(`${path}.mtu`, "must be an integer", obj.mtu);
    }
    out.mtu = obj.mtu as number;
  }
  const sandbox = optionalString(obj.sandbox, `${path}.sandbox`);
  if (sandbox !== undefined) out.sandbox = sandbox;
  return out;
}

function parseIpConfig(value: unknown, path: string): CniIpConfig {
  const obj = record(value, path);
  const address = string(obj.address, `${path}.address`);
  if (!address.includes("/")) {
    throw new ShapeError(`${path}.address`, "must be in CIDR notation", address);
  }
  const out: CniIpConfig = { address };
  const gateway = optionalString(obj.gateway, `${path}.gateway`);
  if (gateway !== undefined) out.gateway = gateway;
  if (obj.interface !== undefined) {
    if (!Number.isInteger(obj.interface) || (obj.interface as number) < 0) {
      throw new ShapeError(`${path}.interface`, "must be an interface index", obj.interface);
    }
    out.interface = obj.interface as number;
  }
  return out;
}

function parseRoute(value: unknown, path: string): CniRoute {
  const obj = record(value, path);
  const out: CniRoute = { dst: string(obj.dst, `${path}.dst`) };
  const gw = optionalString(obj.gw, `${path}.gw`);
  if (gw !== undefined) out.gw = gw;
  return out;
}

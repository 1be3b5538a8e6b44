/**
 * Names and marks that identify what tern creates in the kernel, shared by the plugin and the
 * daemon: the host veth name derived from an attachment's identity, the link-local gateway and
 * tern's route protocol number.
 * @module
 */

/** Prefix of every host-side interface that tern creates. */
export const VETH_PREFIX = "tern";

/** The link-local gateway every pod routes through; never assigned to any interface. */
export const GATEWAY_IP = "169.254.1.1";

/**
 * The route protocol number that marks tern's routes and rules (116 is ASCII "t").
 * The daemon config may override it (`routeProtocol`).
 */
export const DEFAULT_ROUTE_PROTOCOL = 116;

/**
 * The host-side veth name for an attachment: `tern` + the first 11 hex digits of
 * SHA-256(containerID + "/" + ifname), 15 characters, the kernel's limit.
 */
export async function hostVethName(containerId: string, ifname: string): Promise<string> {
  const data = new TextEncoder().encode(`${containerId}/${ifname}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  let hex = "";
  for (const byte of digest.subarray(0, 6)) hex += byte.toString(16).padStart(2, "0");
  return VETH_PREFIX + hex.slice(0, 11);
}

/**
 * A stable, locally administered unicast MAC for the host veth, derived from its name, so the
 * plugin knows it before the link exists and can write the pod's static neighbour entry in the
 * same batch. Bytes: 0x0e (locally administered, unicast) then 5 bytes from the name's hash.
 */
export function hostVethMac(vethName: string): string {
  const hex = vethName.slice(VETH_PREFIX.length).padEnd(11, "0");
  const bytes = ["0e"];
  for (let i = 0; i < 10; i += 2) bytes.push(hex.slice(i, i + 2));
  return bytes.join(":");
}

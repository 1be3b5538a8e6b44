/**
 * The MAC of a pod's interface: random, locally administered and unicast, so it never collides
 * with a vendor address and never looks like a multicast group.
 * @module
 */

/** Formats six bytes as a MAC, forcing the locally-administered bit on and the multicast bit off. */
export function podMacFrom(bytes: Uint8Array): string {
  if (bytes.length < 6) {
    throw new RangeError(`Cannot make a MAC from ${bytes.length} bytes: need 6`);
  }
  const out: string[] = [];
  for (let i = 0; i < 6; i++) {
    const byte = i === 0 ? (bytes[0]! & 0xfe) | 0x02 : bytes[i]!;
    out.push(byte.toString(16).padStart(2, "0"));
  }
  return out.join(":");
}

/** A fresh random pod MAC. */
export function randomPodMac(): string {
  return podMacFrom(crypto.getRandomValues(new Uint8Array(6)));
}

/**
 * IPv4 address and CIDR arithmetic on unsigned 32-bit integers. Pure: no `Deno.*`.
 * @module
 */

/** A parsed IPv4 CIDR: its network address as an integer and its prefix length. */
export interface Cidr {
  /** Network address (host bits cleared), as an unsigned 32-bit integer. */
  readonly network: number;
  /** Prefix length, 0..32. */
  readonly prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted-quad IPv4 address; throws a `TypeError` naming the bad text. */
export function parseIp(text: string): number {
  const m = IPV4.exec(text);
  if (!m) throw new TypeError(`Not an IPv4 address: "${text}"`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = Number(m[i]);
    if (part > 255 || (m[i]!.length > 1 && m[i]!.startsWith("0"))) {
      throw new TypeError(`Not an IPv4 address: "${text}"`);
    }
    n = n * 256 + part;
  }
  return n;
}

/** Whether `text` is a dotted-quad IPv4 address. */
export function isIp(text: string): boolean {
  try {
    parseIp(text);
    return true;
  } catch {
    return false;
  }
}

/** Formats an unsigned 32-bit integer as a dotted quad. */
export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * Parses `a.b.c.d/len`. Host bits must be zero unless `{ strict: false }`, in which case they
 * are cleared. Throws a `TypeError` naming the bad text.
 */
export function parseCidr(text: string, options: { strict?: boolean } = {}): Cidr {
  const { strict = true } = options;
  const quick = quickCidr(text);
  let addr: number;
  let prefix: number;
  if (quick !== undefined) {
    [addr, prefix] = quick;
  } else {
    const slash = text.indexOf("/");
    if (slash < 0) throw new TypeError(`Not an IPv4 CIDR: "${text}": expected address/prefix`);
    addr = parseIp(text.slice(0, slash));
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) {
      throw new TypeError(`Not an IPv4 CIDR: "${text}": prefix must be 0..32`);
    }
    prefix = Number(lenText);
  }
  const network = (addr & maskOf(prefix)) >>> 0;
  if (strict && network !== addr) {
    throw new TypeError(
      `Not an IPv4 CIDR: "${text}": host bits are set, did you mean ${
        formatCidr({ network, prefix })
      }?`,
    );
  }
  return { network, prefix };
}

/**
 * The common spelling `a.b.c.d/len` (no leading zeros, octets up to 255, prefix up to 32) read
 * character by character, as [address, prefix]: a security group of 10k CIDR rules is read again
 * on each change of it. Undefined for anything else, which `parseCidr`'s general path then reads
 * or refuses with its message.
 */
function quickCidr(text: string): [number, number] | undefined {
  let address = 0;
  let value = 0;
  let digits = 0;
  let part = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else if ((c === 46 && part < 3) || (c === 47 && part === 3)) {
      if (digits === 0) return undefined;
      address = address * 256 + value;
      value = 0;
      digits = 0;
      part++;
    } else {
      return undefined;
    }
  }
  if (part !== 4 || digits === 0 || value > 32) return undefined;
  return [address, value];
}

/** Formats a CIDR as `a.b.c.d/len`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.network)}/${cidr.prefix}`;
}

/** The netmask of a prefix length as an unsigned 32-bit integer. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Number of addresses in the CIDR, network and broadcast included. */
export function sizeOf(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** The broadcast (last) address of the CIDR. */
export function broadcastOf(cidr: Cidr): number {
  return (cidr.network + sizeOf(cidr) - 1) >>> 0;
}

/** Whether address `ip` lies inside `cidr`. */
export function contains(cidr: Cidr, ip: number): boolean {
  return ((ip & maskOf(cidr.prefix)) >>> 0) === cidr.network;
}

/** Whether two CIDRs share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = maskOf(prefix);
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

/**
 * The first and last address that may be handed to a pod: network and broadcast are excluded
 * for prefixes up to /30; a /31 has two usable addresses (RFC 3021) and a /32 one.
 */
export function usableRange(cidr: Cidr): { first: number; last: number } {
  if (cidr.prefix >= 31) return { first: cidr.network, last: broadcastOf(cidr) };
  return { first: cidr.network + 1, last: broadcastOf(cidr) - 1 };
}

/**
 * CIDR spellings shared by the tests of the readers built on `parseCidr` (`src/cidr_test.ts`,
 * `src/policy/ranges_test.ts`), so a case added for one is checked by both. Test data only.
 * @module
 */

/** Well-formed `a.b.c.d/len` (host bits allowed), with the address and prefix they mean. */
export const CIDR_SPELLINGS = [
  ["0.0.0.0/0", "0.0.0.0", 0],
  ["10.200.0.5/32", "10.200.0.5", 32],
  ["10.0.0.1/24", "10.0.0.1", 24],
  ["255.255.255.255/32", "255.255.255.255", 32],
  ["192.168.7.9/08", "192.168.7.9", 8], // a leading zero in the prefix: the general path
  ["172.16.0.0/12", "172.16.0.0", 12],
] as const;

/** Texts that are not an IPv4 CIDR. */
export const MALFORMED_CIDRS = [
  "10.0.0.1",
  "10.0.0/8",
  "01.0.0.0/8",
  "256.0.0.0/8",
  "1.2.3.4/33",
  "1.2.3.4/",
  "a/8",
] as const;

/**
 * zod building blocks shared by the policy resources: label keys and values, ports, IPv4 and
 * IPv6 CIDRs (object and namespace names are in `src/cluster/object_names.ts`). Each
 * refinement's message names the value and what a valid one looks like. Private to `src/policy`.
 * @module
 */
import * as z from "../lib/zod.ts";
import { contains, formatCidr, parseCidr } from "../cidr.ts";
import { isDnsSubdomain } from "../cluster/object_names.ts";
import { formatValue } from "../zod_issues.ts";

const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Whether `key` is a label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

/** Whether `value` is a label value: empty, or at most 63 letters, digits, `-`, `_`, `.`. */
export function isLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && QUALIFIED_NAME.test(value));
}

/** A label key. */
export const labelKey = z.string().superRefine((value, ctx) => {
  if (!isLabelKey(value)) {
    ctx.addIssue({
      code: "custom",
      message: `${
        formatValue(value)
      } is not a valid label key: [prefix/]name, name at most 63 letters, digits, "-", "_", "."`,
    });
  }
});

/** A label value. */
export const labelValue = z.string().superRefine((value, ctx) => {
  if (!isLabelValue(value)) {
    ctx.addIssue({
      code: "custom",
      message: `${
        formatValue(value)
      } is not a valid label value: at most 63 letters, digits, "-", "_", "."`,
    });
  }
});

/** A port number, 1..65535. */
export const portNumber = z.number().int().min(1).max(65535);

/** A parsed CIDR: IPv4 as text without host bits, or an IPv6 one tern accepts but cannot enforce. */
export type ParsedCidr = { family: 4; cidr: string } | { family: 6; cidr: string };

/**
 * An IPv4 or IPv6 CIDR. IPv4 host bits are cleared, as the API server's parser does
 * (`10.0.0.1/24` is `10.0.0.0/24`).
 */
export const anyCidr = z.string().transform((value, ctx): ParsedCidr => {
  const slash = value.indexOf("/");
  if (slash > 0 && value.includes(":")) {
    const prefix = value.slice(slash + 1);
    if (isIpv6(value.slice(0, slash)) && /^\d{1,3}$/.test(prefix) && Number(prefix) <= 128) {
      return { family: 6, cidr: value };
    }
  } else {
    try {
      return { family: 4, cidr: formatCidr(parseCidr(value, { strict: false })) };
    } catch {
      // fall through to the message below
    }
  }
  ctx.addIssue({
    code: "custom",
    message: `${formatValue(value)} is not a CIDR (address/prefix)`,
  });
  return z.NEVER;
});

function isIpv6(text: string): boolean {
  if (/[^0-9a-fA-F:.]/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/** Whether `inner` is a longer prefix inside `outer` (as `ipBlock.except` must be). */
export function cidrStrictlyInside(inner: ParsedCidr, outer: ParsedCidr): boolean {
  if (inner.family !== outer.family) return false;
  const prefixOf = (c: ParsedCidr) => Number(c.cidr.slice(c.cidr.indexOf("/") + 1));
  if (prefixOf(inner) <= prefixOf(outer)) return false;
  if (inner.family === 6) return true; // IPv6 is not enforced: family and length suffice
  return contains(parseCidr(outer.cidr), parseCidr(inner.cidr).network);
}

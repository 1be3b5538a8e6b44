/**
 * The Kubernetes name rules that tern checks at its edges: object names (DNS subdomains),
 * namespace names (DNS labels) and container port names (IANA service names), as predicates and
 * as zod schemas whose messages name the value and what a valid one looks like. Used by the
 * cluster manifests and the policy resources alike. Pure.
 * @module
 */
import * as z from "../lib/zod.ts";
import { formatValue } from "../zod_issues.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `text` is a DNS subdomain: lowercase letters, digits, `-` and `.`, at most 253. */
export function isDnsSubdomain(text: string): boolean {
  return text.length <= 253 && DNS_SUBDOMAIN.test(text);
}

/** Whether `text` is a DNS label: lowercase letters, digits and `-`, at most 63. */
export function isDnsLabel(text: string): boolean {
  return text.length <= 63 && DNS_LABEL.test(text);
}

/** Whether `name` is a port name (IANA_SVC_NAME): at most 15, lowercase, with a letter. */
export function isPortName(name: string): boolean {
  return name.length <= 15 && DNS_LABEL.test(name) && /[a-z]/.test(name) && !name.includes("--");
}

/** A DNS subdomain (an object name). */
export const subdomain = z.string().superRefine((value, ctx) => {
  if (!isDnsSubdomain(value)) {
    ctx.addIssue({
      code: "custom",
      message: `${
        formatValue(value)
      } is not a valid name: lowercase letters, digits, "-" and ".", at most 253`,
    });
  }
});

/** A DNS label (a namespace name). */
export const dnsLabel = z.string().superRefine((value, ctx) => {
  if (!isDnsLabel(value)) {
    ctx.addIssue({
      code: "custom",
      message: `${
        formatValue(value)
      } is not a valid name: lowercase letters, digits and "-", at most 63`,
    });
  }
});

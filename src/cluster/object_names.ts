/**
 * The Kubernetes name rules that tern checks at its edges: object names (DNS subdomains),
 * namespace names (DNS labels), container port names (IANA service names) and labels, as predicates and
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

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Whether `key` is a label key: an optional DNS-subdomain prefix and `/`, then a name of 1..63. */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  return (prefix === undefined || isDnsSubdomain(prefix)) && name.length <= 63 &&
    LABEL_NAME.test(name);
}

/** Whether `value` is a label value: empty, or 1..63 alphanumerics, `-`, `_`, `.` inside. */
export function isLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && LABEL_NAME.test(value));
}

/** A map of labels whose keys and values follow the API server's rules. */
export const labelMap = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    if (!isLabelKey(key)) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `${
          formatValue(key)
        } is not a valid label key: an optional DNS-subdomain prefix and "/", then at most 63 letters, digits, "-", "_" and "."`,
      });
    } else if (!isLabelValue(value)) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `${
          formatValue(value)
        } is not a valid label value: at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit`,
      });
    }
  }
});

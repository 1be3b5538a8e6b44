/**
 * `tern.dev/v1alpha1` SecurityGroup: a cluster-scoped, named group (`metadata.name` is the group
 * id that SecurityGroupPolicies list) with `ingress` and `egress` rules. Each rule has a
 * `priority` (0..65535, default 1000, lower first), an `action` (allow or deny, required), a
 * `protocol` (tcp, udp, sctp, icmp or all, default all), `ports` (numbers and `"8000-8080"`
 * ranges, for tcp/udp/sctp), `icmp` type and code (for icmp) and peers in `from` (ingress) or
 * `to` (egress): a CIDR with exceptions, a security group (its member pods), pod and namespace
 * selectors, or a service account. No peers means any peer. Pure.
 * @module
 */
import * as z from "../lib/zod.ts";
import { dnsLabel, subdomain } from "../cluster/object_names.ts";
import { formatValue } from "../zod_issues.ts";
import { ipv6PeerProblems, type ParseResult, parseWith } from "./_parse.ts";
import { anyCidr, cidrStrictlyInside, type ParsedCidr } from "./_schema.ts";
import type { PolicyRef } from "./model.ts";
import type { Range } from "./ranges.ts";
import { type LabelSelector, labelSelectorSchema } from "./selector.ts";
import type { OtherResource } from "../cluster/types.ts";

/** The apiVersion of SecurityGroup (tern's own). */
export const SECURITY_GROUP_API_VERSION = "tern.dev/v1alpha1";

/** The priority of a rule that does not say. */
export const DEFAULT_PRIORITY = 1000;

/** A peer of a SecurityGroup rule. */
export type SecurityGroupPeer =
  | { type: "cidr"; cidr: ParsedCidr; except: ParsedCidr[] }
  | { type: "securityGroup"; securityGroup: string }
  | {
    type: "pods";
    /** Pods with these labels, in any namespace unless `namespaceSelector` narrows it. */
    podSelector?: LabelSelector;
    namespaceSelector?: LabelSelector;
  }
  | { type: "serviceAccount"; namespace: string; name: string };

/** One rule of a SecurityGroup. */
export interface SecurityGroupRule {
  priority: number;
  action: "allow" | "deny";
  protocol: "tcp" | "udp" | "sctp" | "icmp" | "all";
  /** Destination port ranges; empty: every port. Only for tcp, udp and sctp. */
  ports: Range[];
  /** ICMP type and optional code; absent: every ICMP message. Only for icmp. */
  icmp?: { type: number; code?: number };
  /** Empty: any peer. */
  peers: SecurityGroupPeer[];
  description?: string;
}

/** A validated SecurityGroup. */
export interface SecurityGroup {
  kind: "SecurityGroup";
  /** The group id. */
  name: string;
  description?: string;
  ingress: SecurityGroupRule[];
  egress: SecurityGroupRule[];
}

const PORT_RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;

const portRange = z.union([z.number(), z.string()]).transform((value, ctx): Range => {
  const m = typeof value === "string" ? PORT_RANGE.exec(value) : null;
  const first = typeof value === "number" ? value : m ? Number(m[1]) : NaN;
  const last = typeof value === "number" ? value : m ? Number(m[2] ?? m[1]) : NaN;
  const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!valid(first) || !valid(last) || last < first) {
    ctx.addIssue({
      code: "custom",
      message: `must be a port 1..65535 or a range "first-last": got ${formatValue(value)}`,
    });
    return z.NEVER;
  }
  return [first, last];
});

const peerSchema = z.strictObject({
  cidr: anyCidr.optional(),
  except: z.array(anyCidr).nullish(),
  securityGroup: z.string().min(1).optional(),
  podSelector: labelSelectorSchema.nullish(),
  namespaceSelector: labelSelectorSchema.nullish(),
  serviceAccount: z.strictObject({ name: subdomain, namespace: dnsLabel }).optional(),
}).superRefine((value, ctx) => {
  const forms = [
    value.cidr !== undefined && "cidr",
    value.securityGroup !== undefined && "securityGroup",
    (Boolean(value.podSelector) || Boolean(value.namespaceSelector)) &&
    "podSelector/namespaceSelector",
    value.serviceAccount !== undefined && "serviceAccount",
  ].filter((f): f is string => typeof f === "string");
  if (forms.length === 0) {
    ctx.addIssue({
      code: "custom",
      message: "must specify cidr, securityGroup, podSelector/namespaceSelector or serviceAccount",
    });
  } else if (forms.length > 1) {
    ctx.addIssue({ code: "custom", message: `may specify only one of ${forms.join(", ")}` });
  }
  if (value.except && value.cidr === undefined) {
    ctx.addIssue({ code: "custom", path: ["except"], message: "needs cidr" });
  }
  (value.except ?? []).forEach((except, i) => {
    if (value.cidr !== undefined && !cidrStrictlyInside(except, value.cidr)) {
      ctx.addIssue({
        code: "custom",
        path: ["except", i],
        message: `${formatValue(except.cidr)} must be a strict subset of cidr ${
          formatValue(value.cidr.cidr)
        }`,
      });
    }
  });
}).transform((value): SecurityGroupPeer => {
  if (value.cidr !== undefined) {
    return { type: "cidr", cidr: value.cidr, except: value.except ?? [] };
  }
  if (value.securityGroup !== undefined) {
    return { type: "securityGroup", securityGroup: value.securityGroup };
  }
  if (value.serviceAccount !== undefined) {
    return { type: "serviceAccount", ...value.serviceAccount };
  }
  const peer: SecurityGroupPeer = { type: "pods" };
  if (value.podSelector) peer.podSelector = value.podSelector;
  if (value.namespaceSelector) peer.namespaceSelector = value.namespaceSelector;
  return peer;
});

const ruleFields = {
  priority: z.number().int().min(0).max(65535).nullish(),
  action: z.enum(["allow", "deny"]),
  protocol: z.enum(["tcp", "udp", "sctp", "icmp", "all"]).nullish(),
  ports: z.array(portRange).nullish(),
  icmp: z.strictObject({
    type: z.number().int().min(0).max(255),
    code: z.number().int().min(0).max(255).nullish(),
  }).nullish(),
  description: z.string().nullish(),
};

type RuleInput = z.output<z.ZodObject<typeof ruleFields>>;

function checkRule(value: RuleInput, ctx: z.RefinementCtx): void {
  const protocol = value.protocol ?? "all";
  if (value.ports && value.ports.length > 0 && !["tcp", "udp", "sctp"].includes(protocol)) {
    ctx.addIssue({
      code: "custom",
      path: ["ports"],
      message: `needs protocol tcp, udp or sctp: protocol is ${protocol}`,
    });
  }
  if (value.icmp && protocol !== "icmp") {
    ctx.addIssue({
      code: "custom",
      path: ["icmp"],
      message: `needs protocol icmp: protocol is ${protocol}`,
    });
  }
}

function toRule(
  value: RuleInput,
  peers: SecurityGroupPeer[] | null | undefined,
): SecurityGroupRule {
  const rule: SecurityGroupRule = {
    priority: value.priority ?? DEFAULT_PRIORITY,
    action: value.action,
    protocol: value.protocol ?? "all",
    ports: value.ports ?? [],
    peers: peers ?? [],
  };
  if (value.icmp) {
    rule.icmp = { type: value.icmp.type };
    if (value.icmp.code !== undefined && value.icmp.code !== null) rule.icmp.code = value.icmp.code;
  }
  if (value.description) rule.description = value.description;
  return rule;
}

const ingressRuleSchema = z.strictObject({ ...ruleFields, from: z.array(peerSchema).nullish() })
  .superRefine(checkRule).transform((value) => toRule(value, value.from));

const egressRuleSchema = z.strictObject({ ...ruleFields, to: z.array(peerSchema).nullish() })
  .superRefine(checkRule).transform((value) => toRule(value, value.to));

const schema = z.looseObject({
  metadata: z.looseObject({ name: subdomain, namespace: z.unknown().optional() }).superRefine(
    (value, ctx) => {
      if (value.namespace !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["namespace"],
          message: `SecurityGroup is cluster-scoped: remove the namespace ${
            formatValue(value.namespace)
          }`,
        });
      }
    },
  ),
  spec: z.strictObject({
    description: z.string().nullish(),
    ingress: z.array(ingressRuleSchema).nullish(),
    egress: z.array(egressRuleSchema).nullish(),
  }),
}).transform((value): SecurityGroup => {
  const group: SecurityGroup = {
    kind: "SecurityGroup",
    name: value.metadata.name,
    ingress: value.spec.ingress ?? [],
    egress: value.spec.egress ?? [],
  };
  if (value.spec.description) group.description = value.spec.description;
  return group;
});

/**
 * Validates a kept-aside SecurityGroup. Invalid: one problem per field; valid: the group, with
 * an `unsupported` problem for each IPv6 CIDR peer (which matches nothing).
 */
export function parseSecurityGroup(other: OtherResource): ParseResult<SecurityGroup> {
  const ref: PolicyRef = { kind: "SecurityGroup", name: other.name };
  const result = parseWith(schema, { raw: other.raw, ref });
  if (!result.ok) return result;
  const problems = ipv6PeerProblems(
    ref,
    result.value,
    (peer) => peer.type === "cidr" ? { ...peer.cidr, key: "cidr" } : undefined,
  );
  return { ok: true, value: result.value, problems };
}

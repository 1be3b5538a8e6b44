/**
 * `networking.k8s.io/v1` NetworkPolicy, validated as the API server validates it and read with
 * upstream semantics: `policyTypes` defaults to Ingress, plus Egress when the policy has egress
 * rules; an empty or missing `from`/`to` means every peer and empty or missing `ports` every port;
 * a peer with both `podSelector` and `namespaceSelector` means both; `ipBlock` stands alone;
 * `endPort` needs a numeric `port`; protocol defaults to TCP. IPv6 `ipBlock`s are valid but tern
 * enforces IPv4 only: they are reported as unsupported and match nothing. Pure.
 * @module
 */
import * as z from "../lib/zod.ts";
import { dnsLabel, isPortName, subdomain } from "../cluster/object_names.ts";
import { formatValue } from "../zod_issues.ts";
import { ipv6PeerProblems, type ParseResult, parseWith } from "./_parse.ts";
import { anyCidr, cidrStrictlyInside, type ParsedCidr, portNumber } from "./_schema.ts";
import type { PolicyRef } from "./model.ts";
import { type LabelSelector, labelSelectorSchema } from "./selector.ts";
import type { OtherResource } from "../cluster/types.ts";

/** The apiVersion of NetworkPolicy. */
export const NETWORK_POLICY_API_VERSION = "networking.k8s.io/v1";

/** A peer of a NetworkPolicy rule. */
export type NetworkPolicyPeer =
  | {
    type: "pods";
    /** Pods in the policy's namespace (or in the selected namespaces) with these labels. */
    podSelector?: LabelSelector;
    /** Namespaces; alone it selects all their pods, with `podSelector` both must match. */
    namespaceSelector?: LabelSelector;
  }
  | { type: "ipBlock"; cidr: ParsedCidr; except: ParsedCidr[] };

/** A port of a NetworkPolicy rule: a number (with an optional inclusive `endPort`) or a name. */
export interface NetworkPolicyPort {
  protocol: "TCP" | "UDP" | "SCTP";
  /** A number, a container port name, or absent for every port of the protocol. */
  port?: number | string;
  /** The last port of the range starting at `port` (a number). */
  endPort?: number;
}

/** One rule: traffic from/to any of `peers` (empty: every peer) on any of `ports` (empty: all). */
export interface NetworkPolicyRule {
  peers: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

/** A validated NetworkPolicy. */
export interface NetworkPolicy {
  kind: "NetworkPolicy";
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  /** Explicit, or defaulted as upstream does. */
  policyTypes: Array<"Ingress" | "Egress">;
  ingress: NetworkPolicyRule[];
  egress: NetworkPolicyRule[];
}

const portOrName = z.union([z.number(), z.string()]).superRefine((value, ctx) => {
  if (typeof value === "number" && (!Number.isInteger(value) || value < 1 || value > 65535)) {
    ctx.addIssue({
      code: "custom",
      message: `must be a port 1..65535 or a port name: got ${value}`,
    });
  }
  if (typeof value === "string" && !isPortName(value)) {
    ctx.addIssue({
      code: "custom",
      message: `${
        formatValue(value)
      } is not a valid port name: at most 15 lowercase letters, digits and "-", with a letter`,
    });
  }
});

const portSchema = z.strictObject({
  protocol: z.enum(["TCP", "UDP", "SCTP"]).nullish(),
  port: portOrName.nullish(),
  endPort: portNumber.nullish(),
}).superRefine((value, ctx) => {
  if (value.endPort === undefined || value.endPort === null) return;
  if (typeof value.port !== "number") {
    ctx.addIssue({
      code: "custom",
      path: ["endPort"],
      message: value.port === undefined || value.port === null
        ? "needs a numeric port"
        : `needs a numeric port, not the named port ${formatValue(value.port)}`,
    });
  } else if (value.endPort < value.port) {
    ctx.addIssue({
      code: "custom",
      path: ["endPort"],
      message: `must be at least port ${value.port}: got ${value.endPort}`,
    });
  }
}).transform((value): NetworkPolicyPort => {
  const port: NetworkPolicyPort = { protocol: value.protocol ?? "TCP" };
  if (value.port !== undefined && value.port !== null) port.port = value.port;
  if (value.endPort !== undefined && value.endPort !== null) port.endPort = value.endPort;
  return port;
});

const ipBlockSchema = z.strictObject({
  cidr: anyCidr,
  except: z.array(anyCidr).nullish(),
}).superRefine((value, ctx) => {
  (value.except ?? []).forEach((except, i) => {
    if (!cidrStrictlyInside(except, value.cidr)) {
      ctx.addIssue({
        code: "custom",
        path: ["except", i],
        message: `${formatValue(except.cidr)} must be a strict subset of cidr ${
          formatValue(value.cidr.cidr)
        }`,
      });
    }
  });
});

const peerSchema = z.strictObject({
  podSelector: labelSelectorSchema.nullish(),
  namespaceSelector: labelSelectorSchema.nullish(),
  ipBlock: ipBlockSchema.nullish(),
}).superRefine((value, ctx) => {
  const selectors = Boolean(value.podSelector) || Boolean(value.namespaceSelector);
  const block = Boolean(value.ipBlock);
  if (!selectors && !block) {
    ctx.addIssue({
      code: "custom",
      message: "must specify podSelector, namespaceSelector or ipBlock",
    });
  }
  if (selectors && block) {
    ctx.addIssue({
      code: "custom",
      path: ["ipBlock"],
      message: "may not be combined with podSelector or namespaceSelector",
    });
  }
}).transform((value): NetworkPolicyPeer => {
  if (value.ipBlock) {
    return { type: "ipBlock", cidr: value.ipBlock.cidr, except: value.ipBlock.except ?? [] };
  }
  const peer: NetworkPolicyPeer = { type: "pods" };
  if (value.podSelector) peer.podSelector = value.podSelector;
  if (value.namespaceSelector) peer.namespaceSelector = value.namespaceSelector;
  return peer;
});

const ingressRuleSchema = z.strictObject({
  from: z.array(peerSchema).nullish(),
  ports: z.array(portSchema).nullish(),
}).transform((value): NetworkPolicyRule => ({ peers: value.from ?? [], ports: value.ports ?? [] }));

const egressRuleSchema = z.strictObject({
  to: z.array(peerSchema).nullish(),
  ports: z.array(portSchema).nullish(),
}).transform((value): NetworkPolicyRule => ({ peers: value.to ?? [], ports: value.ports ?? [] }));

const schema = z.looseObject({
  metadata: z.looseObject({ name: subdomain, namespace: dnsLabel.optional() }),
  spec: z.strictObject({
    podSelector: labelSelectorSchema.nullish(),
    policyTypes: z.array(z.enum(["Ingress", "Egress"])).nullish(),
    ingress: z.array(ingressRuleSchema).nullish(),
    egress: z.array(egressRuleSchema).nullish(),
  }).superRefine((value, ctx) => {
    (value.policyTypes ?? []).forEach((type, i) => {
      if (value.policyTypes!.indexOf(type) !== i) {
        ctx.addIssue({
          code: "custom",
          path: ["policyTypes", i],
          message: `${formatValue(type)} is listed twice`,
        });
      }
    });
  }).nullish(),
}).transform((value): NetworkPolicy => {
  const spec = value.spec ?? {};
  const egress = spec.egress ?? [];
  return {
    kind: "NetworkPolicy",
    namespace: value.metadata.namespace ?? "default",
    name: value.metadata.name,
    podSelector: spec.podSelector ?? { matchLabels: {}, matchExpressions: [] },
    policyTypes: spec.policyTypes && spec.policyTypes.length > 0
      ? [...spec.policyTypes]
      : egress.length > 0
      ? ["Ingress", "Egress"]
      : ["Ingress"],
    ingress: spec.ingress ?? [],
    egress,
  };
});

/**
 * Validates a kept-aside `networking.k8s.io/v1` NetworkPolicy. Invalid: rejected with one problem
 * per field; valid: the policy, with an `unsupported` problem for each IPv6 `ipBlock`.
 */
export function parseNetworkPolicy(other: OtherResource): ParseResult<NetworkPolicy> {
  const ref: PolicyRef = {
    kind: "NetworkPolicy",
    namespace: other.namespace ?? "default",
    name: other.name,
  };
  const result = parseWith(schema, { raw: other.raw, ref });
  if (!result.ok) return result;
  const problems = ipv6PeerProblems(
    ref,
    result.value,
    (peer) => peer.type === "ipBlock" ? { ...peer.cidr, key: "ipBlock.cidr" } : undefined,
  );
  return { ok: true, value: result.value, problems };
}

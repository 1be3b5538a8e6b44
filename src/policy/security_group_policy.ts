/**
 * `vpcresources.k8s.aws/v1beta1` SecurityGroupPolicy, the EKS shape unchanged: a namespaced
 * policy that puts the pods of its namespace it selects into security groups. `podSelector`
 * matches pod labels; `serviceAccountSelector` matches the pod's service account (its labels and,
 * with `matchNames`, its name). When both are given a pod must match both, as in EKS; at least
 * one is required; `securityGroups.groupIds` lists 1 to 5 groups. Pure.
 * @module
 */
import * as z from "../lib/zod.ts";
import { dnsLabel, subdomain } from "../cluster/object_names.ts";
import { type ParseResult, parseWith } from "./_parse.ts";
import type { PolicyRef } from "./model.ts";
import {
  type LabelSelector,
  labelSelectorSchema,
  labelSelectorShape,
  toLabelSelector,
} from "./selector.ts";
import type { OtherResource } from "../cluster/types.ts";

/** The apiVersion of SecurityGroupPolicy. */
export const SECURITY_GROUP_POLICY_API_VERSION = "vpcresources.k8s.aws/v1beta1";

/** A service account selector: labels of the ServiceAccount object, and names. */
export interface ServiceAccountSelector {
  selector: LabelSelector;
  /** When given, the service account's name must be one of these. */
  matchNames?: string[];
}

/** A validated SecurityGroupPolicy. */
export interface SecurityGroupPolicy {
  kind: "SecurityGroupPolicy";
  namespace: string;
  name: string;
  podSelector?: LabelSelector;
  serviceAccountSelector?: ServiceAccountSelector;
  /** Group ids (SecurityGroup names), without repeats, in the order given. */
  groupIds: string[];
}

const serviceAccountSelectorSchema = z.strictObject({
  ...labelSelectorShape,
  matchNames: z.array(z.string().min(1)).min(1).nullish(),
}).transform((value): ServiceAccountSelector => {
  const out: ServiceAccountSelector = { selector: toLabelSelector(value) };
  if (value.matchNames) out.matchNames = [...value.matchNames];
  return out;
});

const schema = z.looseObject({
  metadata: z.looseObject({ name: subdomain, namespace: dnsLabel.optional() }),
  spec: z.strictObject({
    podSelector: labelSelectorSchema.nullish(),
    serviceAccountSelector: serviceAccountSelectorSchema.nullish(),
    securityGroups: z.strictObject({
      groupIds: z.array(z.string().min(1)).min(1).max(5),
    }),
  }).superRefine((value, ctx) => {
    if (!value.podSelector && !value.serviceAccountSelector) {
      ctx.addIssue({
        code: "custom",
        message: "needs podSelector or serviceAccountSelector",
      });
    }
  }),
}).transform((value): SecurityGroupPolicy => {
  const policy: SecurityGroupPolicy = {
    kind: "SecurityGroupPolicy",
    namespace: value.metadata.namespace ?? "default",
    name: value.metadata.name,
    groupIds: [...new Set(value.spec.securityGroups.groupIds)],
  };
  if (value.spec.podSelector) policy.podSelector = value.spec.podSelector;
  if (value.spec.serviceAccountSelector) {
    policy.serviceAccountSelector = value.spec.serviceAccountSelector;
  }
  return policy;
});

/** Validates a kept-aside SecurityGroupPolicy; invalid: one problem per field. */
export function parseSecurityGroupPolicy(other: OtherResource): ParseResult<SecurityGroupPolicy> {
  const ref: PolicyRef = {
    kind: "SecurityGroupPolicy",
    namespace: other.namespace ?? "default",
    name: other.name,
  };
  return parseWith(schema, { raw: other.raw, ref });
}

/**
 * Kubernetes label selectors: `matchLabels` and `matchExpressions` (`In`, `NotIn`, `Exists`,
 * `DoesNotExist`), all requirements ANDed, the empty selector matching everything. The schema
 * validates a selector as the API server does; {@linkcode matchesSelector} answers for a set of
 * labels. Pure.
 * @module
 */
import * as z from "../lib/zod.ts";
import { labelKey, labelValue } from "./_schema.ts";

/** One requirement of `matchExpressions`. */
export interface LabelRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  /** Non-empty for `In`/`NotIn`, empty for `Exists`/`DoesNotExist`. */
  values: string[];
}

/** A validated label selector. `{}` (no requirement) matches every object. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelRequirement[];
}

const requirementSchema = z.strictObject({
  key: labelKey,
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
  values: z.array(labelValue).nullish(),
}).superRefine((value, ctx) => {
  const count = value.values?.length ?? 0;
  if ((value.operator === "In" || value.operator === "NotIn") && count === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["values"],
      message: `must be non-empty for operator ${value.operator}`,
    });
  }
  if ((value.operator === "Exists" || value.operator === "DoesNotExist") && count > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["values"],
      message: `must be empty for operator ${value.operator}`,
    });
  }
});

/** The fields of a label selector, for schemas that extend it (a service account selector). */
export const labelSelectorShape = {
  matchLabels: z.record(labelKey, labelValue).nullish(),
  matchExpressions: z.array(requirementSchema).nullish(),
};

/** Builds the validated form from the schema's output. */
export function toLabelSelector(
  value: {
    matchLabels?: Record<string, string> | null | undefined;
    matchExpressions?:
      | Array<{ key: string; operator: string; values?: string[] | null | undefined }>
      | null
      | undefined;
  },
): LabelSelector {
  return {
    matchLabels: { ...value.matchLabels },
    matchExpressions: (value.matchExpressions ?? []).map((r) => ({
      key: r.key,
      operator: r.operator as LabelRequirement["operator"],
      values: [...(r.values ?? [])],
    })),
  };
}

/** A label selector; `null` is read as absent by the fields that allow it. */
export const labelSelectorSchema = z.strictObject(labelSelectorShape).transform(toLabelSelector);

/** Whether `labels` satisfy every requirement of `selector`. */
export function matchesSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  // Asked for every policy of a namespace and every kept selection on each pod event: no array
  // of entries per call (Object.entries made ~170 bytes a call, 0.2 MiB a policy run at 10 000
  // policies).
  const { matchLabels } = selector;
  for (const key in matchLabels) {
    if (Object.hasOwn(matchLabels, key) && labels[key] !== matchLabels[key]) return false;
  }
  for (const { key, operator, values } of selector.matchExpressions) {
    const has = Object.hasOwn(labels, key);
    switch (operator) {
      case "In":
        if (!has || !values.includes(labels[key]!)) return false;
        break;
      case "NotIn":
        if (has && values.includes(labels[key]!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * Whether `labels` satisfy `selector` when only the keys in `known` are certain (an object whose
 * other labels have not arrived yet): `true` or `false` when the requirements on known keys
 * decide it, `undefined` when the answer depends on a key that is not known.
 */
export function matchesSelectorKnowing(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
  known: ReadonlySet<string>,
): boolean | undefined {
  const decided: LabelSelector = { matchLabels: {}, matchExpressions: [] };
  let open = false;
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (known.has(key)) decided.matchLabels[key] = value;
    else open = true;
  }
  for (const requirement of selector.matchExpressions) {
    if (known.has(requirement.key)) decided.matchExpressions.push(requirement);
    else open = true;
  }
  if (!matchesSelector(decided, labels)) return false;
  return open ? undefined : true;
}

/** Whether the selector has no requirement (and so matches everything). */
export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}

/** The selector as kubectl writes it: `app=web,tier in (a,b),!legacy`; `<all>` when empty. */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values } of selector.matchExpressions) {
    if (operator === "In") parts.push(`${key} in (${values.join(",")})`);
    else if (operator === "NotIn") parts.push(`${key} notin (${values.join(",")})`);
    else if (operator === "Exists") parts.push(key);
    else parts.push(`!${key}`);
  }
  return parts.length === 0 ? "<all>" : parts.join(",");
}

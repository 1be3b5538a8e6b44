/**
 * Repeated parts of parsed JSON kept once: the kubernetes source keeps each policy's `spec`
 * whole (the policy layer reads all of it), and NetworkPolicies repeat their small parts over and
 * over (`{ matchLabels: { app: web } }`, a ports list, `policyTypes`, an ipBlock). Each subtree
 * whose JSON text is short is replaced by one deep-frozen copy per distinct text; a longer one
 * stays the caller's, its short parts shared. At kube-scale's 10 000 NetworkPolicies that is most
 * of a policy's ~2 KB of kept JSON (docs/benchmarks.md, "What the daemon keeps per pod"). Pure
 * but for the pool.
 * @module
 */
import type { SharedValues } from "./compact_pod.ts";

/** Subtrees whose JSON text is at most this long are shared (longer ones are rarely repeated). */
const MAX_SHARED_TEXT = 256;

/**
 * `value` (fresh from `JSON.parse`, the caller's to change) with its short subtrees replaced by
 * their shared, deep-frozen copies from `pool`; `value` itself when it is short too. Key order
 * counts: `{a, b}` and `{b, a}` are kept apart. A consumer that tried to change a shared part
 * would throw.
 */
export function shareJson<T>(value: T, pool: SharedValues<unknown>): T {
  return share(value, pool)[0] as T;
}

/** The shared value and its JSON text, or undefined for text past the bound (or not JSON). */
function share(value: unknown, pool: SharedValues<unknown>): [unknown, string | undefined] {
  if (value === null || typeof value !== "object") {
    const text = value === undefined ? undefined : JSON.stringify(value);
    return [value, text !== undefined && text.length <= MAX_SHARED_TEXT ? text : undefined];
  }
  let text: string | undefined;
  if (Array.isArray(value)) {
    text = "[";
    for (let i = 0; i < value.length; i++) {
      const [child, childText] = share(value[i], pool);
      if (child !== value[i]) value[i] = child;
      text = text === undefined || childText === undefined
        ? undefined
        : `${text}${i > 0 ? "," : ""}${childText}`;
      if (text !== undefined && text.length > MAX_SHARED_TEXT) text = undefined;
    }
    if (text !== undefined) text += "]";
  } else {
    if (Object.getPrototypeOf(value) !== Object.prototype) return [value, undefined];
    const object = value as Record<string, unknown>;
    text = "{";
    let first = true;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      const [child, childText] = share(object[key], pool);
      if (child !== object[key]) object[key] = child;
      text = text === undefined || childText === undefined
        ? undefined
        : `${text}${first ? "" : ","}${JSON.stringify(key)}:${childText}`;
      if (text !== undefined && text.length > MAX_SHARED_TEXT) text = undefined;
      first = false;
    }
    if (text !== undefined) text += "}";
  }
  if (text === undefined) return [value, undefined];
  const shared = pool.get(text, value);
  // Its parts are shared (so frozen) already: freezing the new copy itself makes it deep-frozen.
  if (shared === value) Object.freeze(value);
  return [shared, text];
}

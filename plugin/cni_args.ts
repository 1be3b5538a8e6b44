/**
 * Parsing of `CNI_ARGS`, the runtime's extra `K=V;K=V` arguments, with libcni's rules: every
 * pair needs a key and an `=`, and a key tern does not know is an error unless the runtime also
 * sent `IgnoreUnknown=1` (containerd and CRI-O always do). Pure.
 * @module
 */

/** What tern reads from `CNI_ARGS`: the Kubernetes pod identity that kubelet's runtime passes. */
export interface CniArgs {
  /** `K8S_POD_NAMESPACE`. */
  podNamespace?: string;
  /** `K8S_POD_NAME`. */
  podName?: string;
  /** `K8S_POD_UID`. */
  podUid?: string;
  /** `K8S_POD_INFRA_CONTAINER_ID`. */
  podInfraContainerId?: string;
  /** `IgnoreUnknown`: keys tern does not know are skipped instead of rejected. */
  ignoreUnknown: boolean;
}

const FIELDS = {
  K8S_POD_NAMESPACE: "podNamespace",
  K8S_POD_NAME: "podName",
  K8S_POD_UID: "podUid",
  K8S_POD_INFRA_CONTAINER_ID: "podInfraContainerId",
} as const;

/** libcni's UnmarshallableBool: `1`/`true` and `0`/`false`, case-insensitive. */
function parseBool(value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === "1" || lower === "true") return true;
  if (lower === "0" || lower === "false") return false;
  throw new TypeError(`IgnoreUnknown must be 1, true, 0 or false: got ${JSON.stringify(value)}`);
}

/**
 * Parses `CNI_ARGS`. Throws a `TypeError` whose message says what is malformed (without the
 * variable's name, which the caller adds). Empty segments, as left by a trailing `;`, are skipped.
 */
export function parseCniArgs(text: string): CniArgs {
  const out: CniArgs = { ignoreUnknown: false };
  const unknown: string[] = [];
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new TypeError(`pair ${JSON.stringify(pair)} is not KEY=VALUE`);
    }
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key === "IgnoreUnknown") {
      out.ignoreUnknown = parseBool(value);
    } else if (Object.hasOwn(FIELDS, key)) {
      out[FIELDS[key as keyof typeof FIELDS]] = value;
    } else {
      unknown.push(key);
    }
  }
  if (unknown.length > 0 && !out.ignoreUnknown) {
    throw new TypeError(
      `unknown key${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}` +
        " (add IgnoreUnknown=1 to pass keys tern does not read)",
    );
  }
  return out;
}

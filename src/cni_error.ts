/**
 * The CNI spec's error: a code, a message and details, printed as JSON on stdout by the plugin.
 * Codes below 100 are the spec's own; tern uses only those.
 * @module
 */

/** Error codes from the CNI spec (SPEC.md, "Error"). */
export const CniCode = {
  /** Incompatible CNI version. */
  IncompatibleVersion: 1,
  /** Unsupported field in network configuration; the message names the key and value. */
  UnsupportedField: 2,
  /** Container unknown or does not exist. */
  UnknownContainer: 3,
  /** Invalid necessary environment variables; the message names them. */
  InvalidEnvironment: 4,
  /** I/O failure. */
  IoFailure: 5,
  /** Failed to decode content. */
  DecodingFailure: 6,
  /** Invalid network config. */
  InvalidConfig: 7,
  /** Try again later: a transient condition. */
  TryAgainLater: 11,
  /** STATUS: the plugin is not available (the daemon does not answer). */
  PluginNotAvailable: 50,
  /** STATUS: limited connectivity, no IP addresses available. */
  NoAddressesAvailable: 51,
} as const;

/** A CNI error: `code` is one of {@linkcode CniCode}, `details` is optional extra text. */
export class CniError extends Error {
  /** The spec's error code. */
  readonly code: number;
  /** Longer, optional explanation. */
  readonly details: string | undefined;

  /** Creates an error with the spec's `code`, a message for people and optional details. */
  constructor(code: number, message: string, details?: string) {
    super(message);
    this.name = "CniError";
    this.code = code;
    this.details = details;
  }

  /** The spec's JSON error object for the given `cniVersion`. */
  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.message };
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

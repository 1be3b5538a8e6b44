/**
 * The version of tern and the CNI spec versions that the plugin speaks. Kept apart from
 * everything else so that every role can import it without pulling in anything more.
 * @module
 */

/** tern's own version, printed by `tern version` and reported by the daemon. */
export const TERN_VERSION = "0.1.0";

/** CNI spec versions the plugin accepts in a network config and can shape a result for. */
export const SUPPORTED_CNI_VERSIONS: readonly string[] = [
  "0.3.0",
  "0.3.1",
  "0.4.0",
  "1.0.0",
  "1.1.0",
];

/** The newest CNI spec version tern implements; the default when a config names none. */
export const CNI_SPEC_VERSION = "1.1.0";

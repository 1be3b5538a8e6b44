/**
 * CNI VERSION: the spec versions tern speaks. Lenient on purpose: runtimes probe with it, so a
 * missing or unreadable stdin still gets an answer, for the newest version.
 * @module
 */
import { CNI_SPEC_VERSION, SUPPORTED_CNI_VERSIONS } from "../src/version.ts";
import { peekCniVersion } from "./netconf.ts";

/** The VERSION answer for `stdin`: its `cniVersion` (default 1.1.0) and the supported versions. */
export function cmdVersion(stdin: string): { cniVersion: string; supportedVersions: string[] } {
  return {
    cniVersion: peekCniVersion(stdin) ?? CNI_SPEC_VERSION,
    supportedVersions: [...SUPPORTED_CNI_VERSIONS],
  };
}

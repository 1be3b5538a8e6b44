/**
 * What makes a Linux interface name valid for CNI, as libcni's `ValidateInterfaceName` checks it
 * and the kernel enforces it: at most 15 bytes (IFNAMSIZ less the NUL; bytes of UTF-8, not
 * characters), not `.` or `..`, and no `/`, `:` or whitespace. Whitespace is Go's
 * `unicode.IsSpace` (which libcni uses) as well as JavaScript's `\s`: U+0085 (NEL) is space to Go
 * and not to `\s`. Shared by the plugin's environment check and the daemon's API schema. Pure.
 * @module
 */

/** The kernel's IFNAMSIZ less the terminating NUL, in bytes. */
export const MAX_IFNAME_BYTES = 15;

/** Whitespace by either Go's `unicode.IsSpace` or JavaScript's `\s`. */
export const WHITESPACE = /[\s\u0085]/u;

/** Why `name` is not a valid interface name, or undefined when it is. */
export function ifnameProblem(name: string): string | undefined {
  if (new TextEncoder().encode(name).length > MAX_IFNAME_BYTES) {
    return `must be at most ${MAX_IFNAME_BYTES} bytes: got ${JSON.stringify(name)}`;
  }
  if (name === "." || name === "..") {
    return `must not be "." or "..": got ${JSON.stringify(name)}`;
  }
  if (/[/:]/.test(name) || WHITESPACE.test(name)) {
    return `must not contain "/", ":" or whitespace: got ${JSON.stringify(name)}`;
  }
  return undefined;
}

/**
 * Joining byte chunks into one array, as every reader of a stream, socket or stdin ends up doing
 * before it decodes. Pure and tiny, so the plugin may import it at start-up.
 * @module
 */

/** The bytes of `parts`, in order, in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

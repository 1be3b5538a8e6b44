/**
 * The text of a thrown value, for the messages and logs that report it. Anything can be thrown
 * in JavaScript; an `Error` shows its message, anything else its string form. Pure.
 * @module
 */

/** The message of `err` when it is an `Error`, else `String(err)`. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A {@linkcode Logger} for tests that keeps each line as `LEVEL message {fields as JSON}`, so a
 * test can assert what was logged and at which level.
 * @module
 */
import type { Logger } from "../src/log.ts";

/** A logger that appends each line to `lines`: `info Released address {"ip":"10.0.0.2"}`. */
export function recordingLogger(lines: string[]): Logger {
  const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) =>
    void lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

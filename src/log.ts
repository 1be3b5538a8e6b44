/**
 * A small structured logger: one line per event, `time level message key=value…`, to stderr or
 * appended to a file. The plugin must never log to stdout, which belongs to the CNI result.
 * @module
 */

/** Log levels, least to most severe. */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger. `fields` become `key=value` pairs; values are JSON-quoted when they need it. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Renders one log line (pure, for tests). */
export function formatLine(
  level: Level,
  message: string,
  fields: Record<string, unknown> = {},
  now: Date = new Date(),
): string {
  let line = `${now.toISOString()} ${level.toUpperCase()} ${message}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = typeof value === "string" ? value : JSON.stringify(value);
    line += ` ${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return line;
}

/**
 * A logger writing to `options.file` (appended, created if missing) or, by default, stderr.
 * Lines below `options.level` (default `info`) are dropped; `options.component` prefixes each
 * line's fields.
 */
export function createLogger(
  options: { level?: Level; file?: string; component?: string } = {},
): Logger {
  const min = ORDER[options.level ?? "info"];
  const encoder = new TextEncoder();
  const write = (line: string) => {
    const bytes = encoder.encode(line + "\n");
    try {
      if (options.file) Deno.writeFileSync(options.file, bytes, { append: true, create: true });
      else Deno.stderr.writeSync(bytes);
    } catch {
      // Logging must never break the caller; a full disk or closed stderr loses the line.
    }
  };
  const at = (level: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const all = options.component ? { component: options.component, ...fields } : fields;
    write(formatLine(level, message, all));
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that drops everything, for tests. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

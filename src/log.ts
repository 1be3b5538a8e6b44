/**
 * A small structured logger: one line per event, to stderr or appended to a file, either as text
 * (`time LEVEL message key=value…`, for people) or as a JSON object per line (`{"time", "level",
 * "msg", …fields}`, for log collectors). The plugin must never log to stdout, which belongs to the
 * CNI result.
 * @module
 */

/** Log levels, least to most severe. */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The formats, for config validation: `text` (default) or `json` (one object per line). */
export const LOG_FORMATS = ["text", "json"] as const;

/** How lines are written, one of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

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
 * Renders one log line as a JSON object (pure, for tests): `time` (ISO 8601, UTC), `level`
 * (lowercase), `msg`, then the fields in order, undefined ones left out. Values stay JSON
 * (numbers, booleans, arrays, objects); an `Error` becomes its message, a bigint its digits. A
 * field named `time`, `level` or `msg` (or one already written) gets a `_` after its name.
 */
export function formatJsonLine(
  level: Level,
  message: string,
  fields: Record<string, unknown> = {},
  now: Date = new Date(),
): string {
  const out: Record<string, unknown> = { time: now.toISOString(), level, msg: message };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    let name = key;
    while (name in out) name += "_";
    out[name] = value instanceof Error ? value.message : value;
  }
  try {
    return JSON.stringify(out, (_key, value) => typeof value === "bigint" ? String(value) : value);
  } catch {
    // A cycle in a field: keep the line, with each field as text.
    const flat: Record<string, string> = {};
    for (const [key, value] of Object.entries(out)) flat[key] = String(value);
    return JSON.stringify(flat);
  }
}

/**
 * A logger writing to `options.file` (appended, created if missing) or, by default, stderr.
 * Lines below `options.level` (default `info`) are dropped; `options.component` prefixes each
 * line's fields; `options.format` (default `text`) chooses {@linkcode formatLine} or
 * {@linkcode formatJsonLine}.
 */
export function createLogger(
  options: { level?: Level; file?: string; component?: string; format?: LogFormat } = {},
): Logger {
  const format = options.format === "json" ? formatJsonLine : formatLine;
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
    write(format(level, message, all));
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

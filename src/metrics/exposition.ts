/**
 * The Prometheus text exposition format, version 0.0.4, rendered from snapshots of metric
 * families: `# HELP` and `# TYPE` once per family, then one line per sample, label values escaped
 * (`\\`, `\"`, `\n`), values as Go's `strconv.ParseFloat` reads them (`+Inf`, `-Inf`, `NaN`). A
 * histogram is given as its samples already (`_bucket` with `le`, `_sum`, `_count`, see
 * `registry.ts`). No timestamps: the scraper stamps each scrape. Pure.
 * @module
 */

/** The content type of a scrape's answer. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The types the format names in `# TYPE`. */
export type MetricType = "counter" | "gauge" | "histogram" | "untyped";

/** One line of a family: an optional suffix of its name (`_bucket`), labels and the value. */
export interface Sample {
  /** Appended to the family's name: `_bucket`, `_sum`, `_count` of a histogram. Default none. */
  suffix?: string;
  /** Label names and values, in the order they are printed. */
  labels: readonly (readonly [string, string])[];
  value: number;
}

/** A metric family as it is at the moment of a scrape. */
export interface FamilySnapshot {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

/** Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Label names: `[a-zA-Z_][a-zA-Z0-9_]*`; those starting with `__` are reserved. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as it goes between the quotes: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** A help text as it goes after `# HELP name `: backslash and newline escaped. */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that reads back the same. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return Object.is(value, -0) ? "0" : String(value);
}

/** The text of `families`, in the order given, ending with a newline (empty for none). */
export function renderExposition(families: readonly FamilySnapshot[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = sample.labels.length === 0
        ? ""
        : `{${sample.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
      lines.push(
        `${family.name}${sample.suffix ?? ""}${labels} ${formatSampleValue(sample.value)}`,
      );
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/**
 * Reads the Prometheus text exposition format (0.0.4) back, strictly: every sample must follow
 * the `# TYPE` of its family (a histogram's `_bucket`, `_sum` and `_count` included), label
 * values must be quoted and escaped as the format says, and each histogram series must have
 * cumulative buckets ending in `le="+Inf"` equal to its `_count`. The tests read the daemon's
 * scrapes with it, and `tern metrics` filters with it. Pure; throws
 * {@linkcode ExpositionSyntaxError} naming the line.
 * @module
 */
import type { MetricType } from "./exposition.ts";
import { LABEL_NAME, METRIC_NAME } from "./exposition.ts";

/** One sample line, read back. */
export interface ParsedSample {
  /** The full name, with a histogram's suffix (`_bucket`, `_sum`, `_count`). */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line has one. */
  timestamp?: number;
}

/** One family, read back. */
export interface ParsedFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: ParsedSample[];
}

/** The text is not the exposition format: `line` is 1-based. */
export class ExpositionSyntaxError extends Error {
  /** The 1-based line number. */
  readonly line: number;

  /** Names the line and what was wrong with it. */
  constructor(line: number, message: string) {
    super(`Invalid exposition text: line ${line}: ${message}`);
    this.name = "ExpositionSyntaxError";
    this.line = line;
  }
}

const TYPES = new Set<MetricType>(["counter", "gauge", "histogram", "untyped"]);
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: [""],
  gauge: [""],
  untyped: [""],
  histogram: ["_bucket", "_sum", "_count"],
};

/** Parses `text`; families in order of appearance. Throws {@linkcode ExpositionSyntaxError}. */
export function parseExposition(text: string): ParsedFamily[] {
  const families: ParsedFamily[] = [];
  const byName = new Map<string, ParsedFamily>();
  const family = (name: string): ParsedFamily => {
    let f = byName.get(name);
    if (f === undefined) {
      f = { name, help: "", type: "untyped", samples: [] };
      byName.set(name, f);
      families.push(f);
    }
    return f;
  };
  let current: ParsedFamily | undefined;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (m === null) continue; // an ordinary comment
      const [, what, name, rest = ""] = m;
      if (!METRIC_NAME.test(name!)) throw new ExpositionSyntaxError(n, `bad metric name ${name}`);
      const f = family(name!);
      if (f.samples.length > 0) {
        throw new ExpositionSyntaxError(n, `${what} of ${name} after its samples`);
      }
      if (what === "HELP") f.help = unescape(rest, n, false);
      else {
        if (!TYPES.has(rest.trim() as MetricType)) {
          throw new ExpositionSyntaxError(n, `unknown type ${JSON.stringify(rest.trim())}`);
        }
        f.type = rest.trim() as MetricType;
      }
      current = f;
      continue;
    }
    const sample = parseSample(line, n);
    const owner = current !== undefined &&
        SUFFIXES[current.type].some((s) => sample.name === current!.name + s)
      ? current
      : family(sample.name);
    if (owner !== current && owner.samples.length > 0) {
      throw new ExpositionSyntaxError(n, `samples of ${owner.name} are not together`);
    }
    current = owner;
    owner.samples.push(sample);
  }
  for (const f of families) if (f.type === "histogram") checkHistogram(f);
  return families;
}

/** The value of the one sample of `families` named `name` with exactly `labels`; undefined if none. */
export function sampleValue(
  families: readonly ParsedFamily[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = Object.entries(labels).sort();
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const have = Object.entries(s.labels).sort();
      if (
        have.length === want.length &&
        have.every(([k, v], i) => k === want[i]![0] && v === want[i]![1])
      ) {
        return s.value;
      }
    }
  }
  return undefined;
}

function parseSample(line: string, n: number): ParsedSample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (m === null) throw new ExpositionSyntaxError(n, `no metric name: ${line.slice(0, 60)}`);
  const name = m[1]!;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === "{") {
    pos++;
    while (true) {
      while (line[pos] === " ") pos++;
      if (line[pos] === "}") {
        pos++;
        break;
      }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(pos));
      if (lm === null) throw new ExpositionSyntaxError(n, `bad label at column ${pos + 1}`);
      const label = lm[1]!;
      if (!LABEL_NAME.test(label)) throw new ExpositionSyntaxError(n, `bad label name ${label}`);
      if (label in labels) throw new ExpositionSyntaxError(n, `label ${label} twice`);
      pos += lm[0].length;
      let raw = "";
      while (pos < line.length && line[pos] !== '"') {
        if (line[pos] === "\\") {
          raw += line.slice(pos, pos + 2);
          pos += 2;
        } else raw += line[pos++];
      }
      if (line[pos] !== '"') throw new ExpositionSyntaxError(n, `unterminated value of ${label}`);
      pos++;
      labels[label] = unescape(raw, n, true);
      while (line[pos] === " ") pos++;
      if (line[pos] === ",") pos++;
      else if (line[pos] !== "}") {
        throw new ExpositionSyntaxError(n, `expected , or } at column ${pos + 1}`);
      }
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === "") {
    throw new ExpositionSyntaxError(
      n,
      `expected a value and an optional timestamp: ${line.slice(0, 80)}`,
    );
  }
  const value = parseValue(rest[0]!, n);
  const sample: ParsedSample = { name, labels, value };
  if (rest[1] !== undefined) {
    if (!/^-?\d+$/.test(rest[1])) throw new ExpositionSyntaxError(n, `bad timestamp ${rest[1]}`);
    sample.timestamp = Number(rest[1]);
  }
  return sample;
}

function parseValue(text: string, n: number): number {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new ExpositionSyntaxError(n, `bad value ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Undoes the format's escapes: `\\`, `\n`, and in label values `\"`. */
function unescape(text: string, n: number, quoted: boolean): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    if (c === '"' && quoted) return '"';
    throw new ExpositionSyntaxError(n, `bad escape \\${c}`);
  });
}

function checkHistogram(f: ParsedFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  const keyOf = (labels: Record<string, string>) =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== "le").sort());
  for (const s of f.samples) {
    const key = keyOf(s.labels);
    let entry = series.get(key);
    if (entry === undefined) {
      entry = { buckets: [] };
      series.set(key, entry);
    }
    if (s.name.endsWith("_bucket")) {
      const le = s.labels.le;
      if (le === undefined) {
        throw new Error(`Invalid exposition text: histogram ${f.name}: a bucket without le`);
      }
      entry.buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name.endsWith("_count")) entry.count = s.value;
  }
  for (const [key, { buckets, count }] of series) {
    const last = buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) {
      throw new Error(
        `Invalid exposition text: histogram ${f.name} ${key}: no le="+Inf" bucket last`,
      );
    }
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![0] <= buckets[i - 1]![0] || buckets[i]![1] < buckets[i - 1]![1]) {
        throw new Error(
          `Invalid exposition text: histogram ${f.name} ${key}: buckets not increasing and cumulative`,
        );
      }
    }
    if (count !== last[1]) {
      throw new Error(
        `Invalid exposition text: histogram ${f.name} ${key}: _count ${count} is not the +Inf bucket ${
          last[1]
        }`,
      );
    }
  }
}

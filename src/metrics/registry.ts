/**
 * A small metrics registry of our own: counters, gauges and histograms with labels, named and
 * shaped by Prometheus' conventions, rendered in its text format (`exposition.ts`). Code that
 * measures holds a metric and calls `inc`, `set` or `observe`; values kept elsewhere (a part's
 * status, the kernel's counters) are read at scrape time by hooks registered with
 * {@linkcode Registry.onCollect}, which set them just before the text is rendered. Each metric
 * validates its name and labels when it is made, and the label names of every call (a typo is a
 * bug, thrown at once, never a silent new series). No clock, no I/O: pure.
 * @module
 */
import { decadeBuckets } from "./buckets.ts";
import {
  type FamilySnapshot,
  LABEL_NAME,
  METRIC_NAME,
  renderExposition,
  type Sample,
} from "./exposition.ts";

/** Label values by label name. */
export type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** What every metric is made with. */
export interface MetricOptions<L extends string> {
  /** `tern_…`, in base units (`_seconds`, `_bytes`); a counter's ends in `_total`. */
  name: string;
  /** One line: what it counts or measures. */
  help: string;
  /** The label names, in the order they are printed. Default none. */
  labels?: readonly L[];
}

/** A histogram's options: its buckets' upper bounds. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, increasing, finite; `+Inf` is added. Default {@linkcode DEFAULT_BUCKETS}. */
  buckets?: readonly number[];
}

/** The client libraries' default buckets, in seconds: 5 ms to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = decadeBuckets(0.005, 10);

/** Something the registry renders. */
interface Family {
  snapshot(): FamilySnapshot;
}

/** The series of one metric, by their label values. */
abstract class Metric<L extends string, V> implements Family {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly #series = new Map<string, { values: readonly string[]; value: V }>();

  constructor(options: MetricOptions<L>, reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(options.name)) {
      throw new Error(`Invalid metric name: ${JSON.stringify(options.name)}`);
    }
    const labels = options.labels ?? [];
    for (const label of labels) {
      if (!LABEL_NAME.test(label) || label.startsWith("__") || reserved.includes(label)) {
        throw new Error(`Invalid label name of ${options.name}: ${JSON.stringify(label)}`);
      }
    }
    if (new Set(labels).size !== labels.length) {
      throw new Error(`Duplicate label name of ${options.name}: ${labels.join(", ")}`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labels;
  }

  abstract snapshot(): FamilySnapshot;

  /** Forgets the series with these label values (a pool that is gone). */
  remove(labels: LabelValues<L>): void {
    this.#series.delete(this.#key(this.#values(labels)));
  }

  /** Forgets every series (a hook that sets the whole family anew). */
  clear(): void {
    this.#series.clear();
  }

  /** The series, sorted by label values, for rendering. */
  protected entries(): { labels: [string, string][]; value: V }[] {
    return [...this.#series.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map((
      [, s],
    ) => ({ labels: this.labelNames.map((name, i) => [name, s.values[i]!]), value: s.value }));
  }

  /** The series for `labels`, made with `initial()` the first time. */
  protected series(labels: LabelValues<L> | undefined, initial: () => V): { value: V } {
    const values = this.#values(labels ?? ({} as LabelValues<L>));
    const key = this.#key(values);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { values, value: initial() };
      this.#series.set(key, entry);
    }
    return entry;
  }

  #values(labels: LabelValues<L>): string[] {
    const given = Object.keys(labels);
    if (
      given.length !== this.labelNames.length ||
      given.some((k) => !this.labelNames.includes(k as L))
    ) {
      throw new Error(
        `Wrong labels for ${this.name}: got {${given.join(", ")}}, expected {${
          this.labelNames.join(", ")
        }}`,
      );
    }
    return this.labelNames.map((name) => String(labels[name]));
  }

  #key(values: readonly string[]): string {
    return values.join("\u0000");
  }
}

function finite(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new Error(`Not a finite value for ${name}: ${value}`);
}

/** A metric whose series each hold one number: a counter or a gauge. */
abstract class NumberMetric<L extends string> extends Metric<L, number> {
  /** How the family is typed in the exposition. */
  protected abstract readonly type: "counter" | "gauge";

  /** The value of one series; 0 when it was never touched. */
  get(labels?: LabelValues<L>): number {
    return this.series(labels, () => 0).value;
  }

  /** The family as it is now. */
  snapshot(): FamilySnapshot {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: this.entries().map(({ labels, value }) => ({ labels, value })),
    };
  }
}

/** A count that only goes up (or resets, when the process or the kernel's counter does). */
export class Counter<L extends string = never> extends NumberMetric<L> {
  protected readonly type = "counter";

  /** A counter; its name must end in `_total`. */
  constructor(options: MetricOptions<L>) {
    super(options);
    if (!options.name.endsWith("_total")) {
      throw new Error(`Invalid counter name: ${options.name}: must end in _total`);
    }
    if (this.labelNames.length === 0) this.series(undefined, () => 0);
  }

  /** Adds `by` (default 1, never negative). */
  inc(labels?: LabelValues<L>, by = 1): void {
    finite(this.name, by);
    if (by < 0) throw new Error(`A counter only goes up: ${this.name} by ${by}`);
    this.series(labels, () => 0).value += by;
  }

  /** Sets the running total kept elsewhere (a part's status, a kernel counter). */
  set(labels: LabelValues<L> | undefined, total: number): void {
    finite(this.name, total);
    this.series(labels, () => 0).value = total;
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = never> extends NumberMetric<L> {
  protected readonly type = "gauge";

  /** A gauge; without labels its one series starts at 0. */
  constructor(options: MetricOptions<L>) {
    super(options);
    if (this.labelNames.length === 0) this.series(undefined, () => 0);
  }

  /** Sets the value. */
  set(labels: LabelValues<L> | undefined, value: number): void {
    if (Number.isNaN(value)) throw new Error(`Not a value for ${this.name}: NaN`);
    this.series(labels, () => 0).value = value;
  }

  /** Adds `by` (default 1; negative to subtract). */
  inc(labels?: LabelValues<L>, by = 1): void {
    finite(this.name, by);
    this.series(labels, () => 0).value += by;
  }
}

/** Observations counted in buckets; `_bucket` counts are cumulative when rendered. */
interface HistogramSeries {
  /** Observations per bucket (not cumulative); the last is `+Inf`'s own. */
  counts: number[];
  sum: number;
  count: number;
}

/** A distribution of observations (durations in seconds), in fixed buckets. */
export class Histogram<L extends string = never> extends Metric<L, HistogramSeries> {
  /** The upper bounds, without `+Inf`. */
  readonly buckets: readonly number[];

  /** A histogram; `le` is reserved as a label name. */
  constructor(options: HistogramOptions<L>) {
    super(options, ["le"]);
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    if (buckets.length === 0) throw new Error(`No buckets for ${options.name}`);
    for (let i = 0; i < buckets.length; i++) {
      finite(options.name, buckets[i]!);
      if (i > 0 && buckets[i]! <= buckets[i - 1]!) {
        throw new Error(`Buckets of ${options.name} must increase: ${buckets.join(", ")}`);
      }
    }
    this.buckets = [...buckets];
    if (this.labelNames.length === 0) this.series(undefined, () => this.#empty());
  }

  /** Counts `value` (seconds, usually) in its bucket. */
  observe(labels: LabelValues<L> | undefined, value: number): void {
    if (Number.isNaN(value)) throw new Error(`Not a value for ${this.name}: NaN`);
    const s = this.series(labels, () => this.#empty()).value;
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** How many observations one series has. */
  count(labels?: LabelValues<L>): number {
    return this.series(labels, () => this.#empty()).value.count;
  }

  /** The family as it is now: each series' cumulative buckets, `+Inf`, `_sum`, `_count`. */
  snapshot(): FamilySnapshot {
    const samples: Sample[] = [];
    for (const { labels, value } of this.entries()) {
      let cumulative = 0;
      const bounds = [...this.buckets.map(String), "+Inf"];
      for (const [i, le] of bounds.entries()) {
        cumulative += value.counts[i]!;
        samples.push({ suffix: "_bucket", labels: [...labels, ["le", le]], value: cumulative });
      }
      samples.push({ suffix: "_sum", labels, value: value.sum });
      samples.push({ suffix: "_count", labels, value: value.count });
    }
    return { name: this.name, help: this.help, type: "histogram", samples };
  }

  #empty(): HistogramSeries {
    return { counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }
}

/** Told when a collect hook fails; the scrape goes on without what it would have set. */
export type CollectErrorHandler = (error: unknown) => void;

/** The metrics of a process, rendered together. */
export class Registry {
  readonly #families: Family[] = [];
  readonly #names = new Set<string>();
  readonly #hooks: (() => void | Promise<void>)[] = [];

  /** Makes and registers a counter. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.#add(new Counter(options));
  }

  /** Makes and registers a gauge. */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.#add(new Gauge(options));
  }

  /** Makes and registers a histogram. */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.#add(new Histogram(options));
  }

  /**
   * Runs `hook` before every scrape, to set what is read rather than counted. Hooks run side by
   * side; each should set its metrics after its last `await`, so two scrapes never see a family
   * half set.
   */
  onCollect(hook: () => void | Promise<void>): void {
    this.#hooks.push(hook);
  }

  /** Runs the hooks, then snapshots every family in the order they were made. */
  async collect(onError: CollectErrorHandler = () => {}): Promise<FamilySnapshot[]> {
    const results = await Promise.allSettled(this.#hooks.map(async (hook) => await hook()));
    for (const r of results) if (r.status === "rejected") onError(r.reason);
    return this.#families.map((f) => f.snapshot());
  }

  /** The text exposition of every family, after the hooks ran. */
  async expose(onError?: CollectErrorHandler): Promise<string> {
    return renderExposition(await this.collect(onError));
  }

  #add<M extends Metric<string, unknown>>(metric: M): M {
    if (this.#names.has(metric.name)) throw new Error(`Metric registered twice: ${metric.name}`);
    this.#names.add(metric.name);
    this.#families.push(metric);
    return metric;
  }
}

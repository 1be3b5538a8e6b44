/**
 * Runs chaos scenarios one after another, each with its own random stream forked from the run's
 * seed (so `--only x --seed s` replays x exactly as the whole run did), and collects their
 * outcomes. A scenario that throws is reported as failed with its error, and the run goes on.
 * @module
 */
import {
  type ChaosOutcome,
  type ChaosScenario,
  type ChaosSize,
  formatCounts,
  passed,
} from "./scenario.ts";
import { SeededRandom } from "./seeded_random.ts";

/** One scenario's outcome in a run. */
export interface ChaosRunEntry {
  name: string;
  summary: string;
  /** Undefined when the scenario threw. */
  outcome: ChaosOutcome | undefined;
  error: string | undefined;
  passed: boolean;
  ms: number;
}

/** Options of {@linkcode runChaos}. */
export interface RunChaosOptions {
  seed: number;
  size: ChaosSize;
  /** Scenario names to run; empty or undefined: all given. */
  only?: readonly string[];
  minutes?: number;
  /** Progress and result lines. Default: none. */
  log?: (line: string) => void;
}

/** The seed of scenario `name` in a run seeded with `seed`: stable whatever else runs. */
export function scenarioSeed(seed: number, name: string): number {
  let h = seed >>> 0;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Runs the chosen scenarios in order; never throws for a scenario's failure. */
export async function runChaos(
  scenarios: readonly ChaosScenario[],
  options: RunChaosOptions,
): Promise<ChaosRunEntry[]> {
  const log = options.log ?? (() => {});
  const only = options.only ?? [];
  const unknown = only.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown scenario: ${unknown.join(", ")}: known are ${
        scenarios.map((s) => s.name).join(", ")
      }`,
    );
  }
  const chosen = only.length === 0
    ? scenarios.filter((s) => !s.onlyWhenNamed)
    : scenarios.filter((s) => only.includes(s.name));
  const entries: ChaosRunEntry[] = [];
  for (const scenario of chosen) {
    const seed = scenarioSeed(options.seed, scenario.name);
    log(`== ${scenario.name} (${scenario.summary}), seed ${options.seed}`);
    const start = Date.now();
    let outcome: ChaosOutcome | undefined;
    let error: string | undefined;
    try {
      outcome = await scenario.run({
        random: new SeededRandom(seed),
        seed: options.seed,
        size: options.size,
        minutes: options.minutes,
        log: (line) => log(`   ${line}`),
      });
    } catch (err) {
      error = err instanceof Error ? err.stack ?? err.message : String(err);
    }
    const entry: ChaosRunEntry = {
      name: scenario.name,
      summary: scenario.summary,
      outcome,
      error,
      passed: outcome !== undefined && passed(outcome),
      ms: Date.now() - start,
    };
    entries.push(entry);
    log(formatEntry(entry));
  }
  return entries;
}

/** One scenario's result: verdict, counts, then each problem on its own line. */
export function formatEntry(entry: ChaosRunEntry): string {
  const verdict = entry.passed ? "PASS" : "FAIL";
  const head = `${verdict} ${entry.name} (${(entry.ms / 1000).toFixed(1)} s)`;
  if (entry.outcome === undefined) return `${head}: ${entry.error}`;
  const failing = entry.outcome.mustBeZero.filter((n) => (entry.outcome!.counts[n] ?? 0) !== 0);
  return [
    `${head}: ${formatCounts(entry.outcome.counts)}`,
    ...(failing.length ? [`   not 0: ${failing.join(", ")}`] : []),
    ...entry.outcome.problems.slice(0, 40).map((p) => `   ${p}`),
    ...(entry.outcome.problems.length > 40
      ? [`   … and ${entry.outcome.problems.length - 40} more`]
      : []),
  ].join("\n");
}

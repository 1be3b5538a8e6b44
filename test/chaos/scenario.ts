/**
 * What a chaos scenario is: a name, whether it belongs to the suite's fast subset, and a bounded
 * `run` that builds its own sandbox, does its damage, lets tern recover, audits the node and
 * returns its counts. Every count whose name is listed in `mustBeZero` fails the run when it is
 * not 0 (the audit's duplicates, leaks, strays, missing and orphans always are); the others are
 * measurements (operations done, kills, repair times) that are printed and kept in docs.
 * @module
 */
import type { SeededRandom } from "./seeded_random.ts";

/** The counts a scenario reports, by name; integers or milliseconds. */
export type ChaosCounts = Record<string, number>;

/** The result of one scenario. */
export interface ChaosOutcome {
  /** Everything measured, in the order the scenario wants them printed. */
  counts: ChaosCounts;
  /** Names in `counts` that must be 0 for the scenario to pass. */
  mustBeZero: string[];
  /** One line per problem found (what, where), empty when clean. */
  problems: string[];
}

/** How big a run is: `fast` is the suite's subset (seconds), `full` the battery's size. */
export type ChaosSize = "fast" | "full";

/** What a scenario is given. */
export interface ChaosContext {
  /** The scenario's own reproducible random stream. */
  random: SeededRandom;
  /** The seed of the whole run, for messages. */
  seed: number;
  size: ChaosSize;
  /** `--minutes`, for the scenarios that run for a while (soak); undefined: their default. */
  minutes: number | undefined;
  /** Progress lines (to stderr in the runner, dropped in tests unless asked for). */
  log: (line: string) => void;
}

/** One scenario of the battery. */
export interface ChaosScenario {
  /** Short, for `--only` (e.g. `concurrent`, `daemon-kill`). */
  name: string;
  /** The issue's number for it (issue 13's list) and one line on what it proves. */
  summary: string;
  /** In the normal suite's fast subset (`fast` size must then finish in a few seconds). */
  fast: boolean;
  /** Runs only when named with `--only` (the soak: an hour). Default false. */
  onlyWhenNamed?: boolean;
  /** Runs to completion by itself, however it fails; cleans its sandbox up. */
  run(ctx: ChaosContext): Promise<ChaosOutcome>;
}

/** Whether an outcome passes: every count it must keep at 0 is 0. */
export function passed(outcome: ChaosOutcome): boolean {
  return outcome.mustBeZero.every((name) => (outcome.counts[name] ?? 0) === 0);
}

/** The counts as one line, `name=value`, in their order. */
export function formatCounts(counts: ChaosCounts): string {
  return Object.entries(counts).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(1)}`)
    .join(" ");
}

/**
 * `deno task chaos`: issue 13's chaos battery, in network-namespace sandboxes (root needed).
 * Each scenario builds its own sandbox, does its damage, lets tern recover, audits the node and
 * prints its counts; the run exits 1 when any scenario failed.
 *
 *     deno task chaos                       # every scenario at full size, seed 1
 *     deno task chaos --only concurrent --seed 7
 *     deno task chaos --fast                # the suite's sizes, seconds each
 *     deno task chaos --list
 *     deno task soak --minutes 5            # = chaos --only soak
 *
 * Run it alone on a quiet machine: it starts hundreds of plugin processes at once.
 * @module
 */
import { parseArgs } from "node:util";
import { SCENARIOS } from "../test/chaos/catalogue.ts";
import { runChaos } from "../test/chaos/run_chaos.ts";

const USAGE =
  `Usage: deno task chaos [--only NAME[,NAME]] [--seed N] [--fast] [--minutes M] [--list]

  --only NAME    run these scenarios only (repeatable or comma-separated; --list names them)
  --seed N       the random generator's seed (default 1): a failing run is replayed with it
  --fast         the suite's sizes: seconds per scenario instead of minutes
  --minutes M    how long the scenarios that run for a while run (the soak: default 60)
  --list         print the scenarios and exit
  --help         print this and exit`;

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        only: { type: "string", multiple: true },
        seed: { type: "string", default: "1" },
        minutes: { type: "string" },
        fast: { type: "boolean", default: false },
        list: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    Deno.exit(2);
  }
}

if (import.meta.main) {
  const values = parseFlags(Deno.args);
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (values.list) {
    for (const s of SCENARIOS) {
      console.log(`${s.name.padEnd(14)} ${s.fast ? "fast" : "    "} ${s.summary}`);
    }
    Deno.exit(0);
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) {
    console.error(`Bad --seed: an integer is needed: got ${values.seed}`);
    Deno.exit(2);
  }
  const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
  if (minutes !== undefined && !(minutes > 0)) {
    console.error(`Bad --minutes: a positive number is needed: got ${values.minutes}`);
    Deno.exit(2);
  }
  const only = (values.only ?? []).flatMap((o) => o.split(",")).filter(Boolean);
  const entries = await runChaos(SCENARIOS, {
    seed,
    size: values.fast ? "fast" : "full",
    only,
    ...(minutes !== undefined ? { minutes } : {}),
    log: (line) => console.log(line),
  }).catch((err) => {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(2);
  });
  const failed = entries.filter((e) => !e.passed).map((e) => e.name);
  console.log(
    failed.length === 0
      ? `chaos: ${entries.length} scenario(s) passed, seed ${seed}`
      : `chaos: ${failed.length} of ${entries.length} failed (${failed.join(", ")}), seed ${seed}`,
  );
  Deno.exit(failed.length === 0 ? 0 : 1);
}

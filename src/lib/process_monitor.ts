/**
 * Netlink events as a trigger: a long-running monitor process (`ip monitor route rule link` for
 * the reconciler) whose every event line is handed to a callback (which only marks work dirty). If the process dies it is started again after a wait
 * that doubles while it keeps dying quickly, and each restart is reported under the command's
 * own name, since events may have been lost meanwhile. The process is made by an
 * injectable {@linkcode Spawner}, the long-running sibling of `src/runner.ts`'s `Runner`, so
 * tests feed lines without a kernel. {@linkcode ProcessMonitor.ready} says when the first process
 * listens (the real spawner watches its netlink socket join a group: `netlink_listening.ts`),
 * so a caller never races the monitor's start.
 * @module
 */
import { dieWithParentArgv } from "./die_with_parent.ts";
import { realClock, sleep } from "../clock.ts";
import { errorMessage } from "./errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { netlinkListening } from "./netlink_listening.ts";

/** A running child process, seen as the lines of its standard output. */
export interface SpawnedProcess {
  /** Standard output, line by line, until the process ends. */
  lines: AsyncIterable<string>;
  /** The exit code once it ended; rejects only when it could not be started. */
  status: Promise<number>;
  /** The last lines of standard error, once it ended. */
  stderr(): Promise<string>;
  /** Ends the process (SIGTERM); harmless when it already ended. */
  kill(): void;
  /**
   * Resolves once the process listens for events (for a monitor: it subscribed); stays pending
   * when it ends first; never rejects. Absent: taken as listening once started.
   */
  listening?: Promise<void>;
}

/** Starts `argv[0]` with the rest as arguments. May throw when it cannot be started. */
export type Spawner = (argv: readonly string[]) => SpawnedProcess;

/**
 * Splits a text stream into lines, without the line ends. Linear in the input: each chunk is
 * scanned with a cursor and only its unfinished tail is carried over.
 */
export async function* splitLines(stream: AsyncIterable<string>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream) {
    const text = rest + chunk;
    let from = 0;
    let at: number;
    while ((at = text.indexOf("\n", from)) >= 0) {
      yield text.slice(from, at);
      from = at + 1;
    }
    rest = text.slice(from);
  }
  if (rest !== "") yield rest;
}

/** Starts `argv` with its output piped. */
function spawnPiped(argv: readonly string[]): Deno.ChildProcess {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError("Cannot spawn an empty command");
  return new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
}

/**
 * The real spawner, on `Deno.Command`. The process dies with this one (the daemon), even when
 * that is killed with SIGKILL (`die_with_parent.ts`); where util-linux `setpriv` is missing it
 * is started bare.
 */
export const denoSpawner: Spawner = (argv) => {
  let child: Deno.ChildProcess;
  try {
    child = spawnPiped(dieWithParentArgv(argv, Deno.pid));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    child = spawnPiped(argv);
  }
  const stderr = new Response(child.stderr).text().then((t) => t.trim().split("\n").slice(-5))
    .then((l) => l.join("; "), () => "");
  const status = child.status.then((s) => s.code);
  return {
    lines: splitLines(child.stdout.pipeThrough(new TextDecoderStream())),
    status,
    listening: new Promise((resolve) =>
      void netlinkListening(child.pid, { ended: status }).then((ok) => ok && resolve())
    ),
    stderr: () => stderr,
    kill() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already ended.
      }
    },
  };
};

/** What the monitor is doing, for status. */
export type MonitorState = "off" | "running" | "restarting";

/** Knobs; every field documents its default. */
export interface ProcessMonitorOptions {
  /** First wait before a restart. Default 500. */
  restartMinMs?: number;
  /** Longest wait before a restart. Default 30 000. */
  restartMaxMs?: number;
  /** A process that lived this long resets the wait to the minimum. Default 10 000. */
  healthyMs?: number;
  /**
   * More lines than this within `floodWindowMs` is a flood (a monitor stuck printing): the
   * process is ended and restarted like one that died. Default 100 000.
   */
  floodLines?: number;
  /** The window of `floodLines`. Default 10 000. */
  floodWindowMs?: number;
}

/** Lines handled before the loop lets timers and I/O of the rest of the daemon run. */
const LINES_PER_TURN = 500;

/**
 * Runs `argv` (a monitor's command line, such as `ip monitor …` or `nft monitor`) and reports
 * its events until stopped; its log lines name that command.
 */
export class ProcessMonitor {
  readonly #spawn: Spawner;
  readonly #argv: readonly string[];
  readonly #command: string;
  readonly #onEvent: (line: string) => void;
  readonly #onRestart: () => void;
  readonly #log: Logger;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #healthyMs: number;
  readonly #floodLines: number;
  readonly #floodWindowMs: number;
  #state: MonitorState = "off";
  #process: SpawnedProcess | undefined;
  #stopped = true;
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  #ready = Promise.withResolvers<void>();

  /**
   * `deps.onEvent` gets each event line (continuation lines, which start with blanks, are
   * skipped); `deps.onRestart` is called after the process was started again.
   */
  constructor(
    deps: {
      spawn: Spawner;
      argv: readonly string[];
      onEvent: (line: string) => void;
      onRestart?: () => void;
      log?: Logger;
    },
    options: ProcessMonitorOptions = {},
  ) {
    this.#spawn = deps.spawn;
    this.#argv = deps.argv;
    this.#command = deps.argv.join(" ");
    this.#onEvent = deps.onEvent;
    this.#onRestart = deps.onRestart ?? (() => {});
    this.#log = deps.log ?? silentLogger;
    this.#minMs = options.restartMinMs ?? 500;
    this.#maxMs = options.restartMaxMs ?? 30_000;
    this.#healthyMs = options.healthyMs ?? 10_000;
    this.#floodLines = options.floodLines ?? 100_000;
    this.#floodWindowMs = options.floodWindowMs ?? 10_000;
  }

  /** `off` before start and after stop, `running`, or `restarting` while waiting to restart. */
  get state(): MonitorState {
    return this.#state;
  }

  /**
   * Resolves once a process started by {@linkcode ProcessMonitor.start} listens (it subscribed, so
   * no later change escapes it; one that dies later is restarted and `onRestart` told), or when
   * the monitor is stopped.
   */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Starts the process (and keeps it running). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#ready = Promise.withResolvers<void>();
    this.#loop = this.#run();
  }

  /** Ends the process and waits until it is gone. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#process?.kill();
    this.#wake?.();
    await this.#loop;
    this.#state = "off";
    this.#ready.resolve();
  }

  async #run(): Promise<void> {
    let wait = this.#minMs;
    let first = true;
    while (!this.#stopped) {
      const startedAt = Date.now();
      let why: string;
      try {
        const process = this.#spawn(this.#argv);
        this.#process = process;
        this.#state = "running";
        const ready = this.#ready;
        void (process.listening ?? Promise.resolve()).then(() => ready.resolve());
        if (!first) {
          this.#log.info(`Restarted ${this.#command}`);
          this.#onRestart();
        }
        let windowStart = Date.now();
        let inWindow = 0;
        let flood = false;
        for await (const line of process.lines) {
          // A burst of output must not starve the daemon's timers, requests and child
          // processes: every few hundred lines, let the event loop turn.
          if (++inWindow % LINES_PER_TURN === 0) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            const now = Date.now();
            if (now - windowStart > this.#floodWindowMs) {
              windowStart = now;
              inWindow = 0;
            } else if (inWindow > this.#floodLines) {
              flood = true;
              process.kill();
              break;
            }
          }
          if (line.trim() === "" || /^\s/.test(line)) continue;
          this.#onEvent(line);
        }
        const code = await process.status;
        const stderr = await process.stderr();
        why = flood
          ? `more than ${this.#floodLines} lines within ${this.#floodWindowMs} ms (ended it)`
          : `exit ${code}${stderr ? `: ${stderr}` : ""}`;
      } catch (err) {
        why = errorMessage(err);
      } finally {
        this.#process = undefined;
      }
      first = false;
      if (this.#stopped) break;
      wait = Date.now() - startedAt >= this.#healthyMs ? this.#minMs : wait;
      this.#state = "restarting";
      this.#log.warn(`${this.#command} ended; restarting`, { why, restartInMs: wait });
      // stop() wakes the wait: the abort ends the sleep early, which is no error here.
      const woken = new AbortController();
      this.#wake = () => woken.abort();
      await sleep(realClock, wait, woken.signal).catch(() => {});
      this.#wake = undefined;
      wait = Math.min(this.#maxMs, wait * 2);
    }
    this.#state = "off";
  }
}

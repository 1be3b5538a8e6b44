/**
 * The one way tern runs a subprocess. Modules that drive `ip` or `nft` take a {@linkcode Runner}
 * so that tests can pass a fake that checks argv and stdin without root.
 * @module
 */
import { concatBytes } from "./lib/bytes.ts";

/** What a finished command returned. */
export interface RunResult {
  /** Exit code; 0 is success. */
  code: number;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** Runs `argv[0]` with the rest as arguments, feeding `stdin` when given. Never throws on exit code. */
export type Runner = (argv: readonly string[], options?: { stdin?: string }) => Promise<RunResult>;

/** Thrown by callers when a command they ran failed; carries the argv and stderr. */
export class CommandError extends Error {
  /** The command that failed. */
  readonly argv: readonly string[];
  /** Its result. */
  readonly result: RunResult;

  /** Builds the message from the argv, the exit code and stderr. */
  constructor(argv: readonly string[], result: RunResult) {
    const stderr = result.stderr.trim();
    super(`Command failed: ${argv.join(" ")}: exit ${result.code}${stderr ? `: ${stderr}` : ""}`);
    this.name = "CommandError";
    this.argv = argv;
    this.result = result;
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A finished `Deno.Command`'s exit code and output, decoded as UTF-8. */
export function runResultOf(out: Deno.CommandOutput): RunResult {
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** All of a stream's bytes, once it ends. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return concatBytes(parts);
}

/**
 * Spawns `cmd`, writes `input` to its stdin and reads both outputs itself, then takes
 * `child.status`. Not `child.output()`: in Deno 2.9.6 that keeps native memory for good (+225 MiB
 * over 3 000 runs of `cat`), where reading the streams here levels off like `Command.output()`
 * (scripts/runner_rss_probe.ts; docs/testing.md, the soak). The outputs are read while the input
 * is written, so a command that answers before it has read all its input cannot block on a full
 * pipe. A command that exits without reading its input fails the write: its exit code and stderr
 * say why, unless it exited 0, when the write's error is thrown (the input was not all taken).
 */
async function fedOnStdin(cmd: string, args: string[], input: string): Promise<RunResult> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const stdout = drain(child.stdout);
  const stderr = drain(child.stderr);
  const writer = child.stdin.getWriter();
  let writeError: unknown;
  try {
    await writer.write(encoder.encode(input));
    await writer.close();
  } catch (err) {
    writeError = err;
    await writer.abort().catch(() => {});
  }
  const [status, out, err] = await Promise.all([child.status, stdout, stderr]);
  if (writeError !== undefined && status.code === 0) throw writeError;
  return { code: status.code, stdout: decoder.decode(out), stderr: decoder.decode(err) };
}

/** The real runner, on `Deno.Command`. A missing executable is reported as exit code 127. */
export const denoRunner: Runner = async (argv, options = {}) => {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError("Cannot run an empty command");
  try {
    if (options.stdin === undefined) {
      // Command.output(), not spawn().output(): Deno 2.9's streams behind a spawned child's
      // output keep native memory, ~60 MiB per 1 000 runs that never comes back (measured;
      // denoland/deno#33334 fixed output() only). A daemon runs ip on every pass. Commands fed
      // on stdin read the spawned child's streams themselves: see fedOnStdin.
      return runResultOf(
        await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
          .output(),
      );
    }
    return await fedOnStdin(cmd, args, options.stdin);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${cmd}: command not found` };
    }
    throw err;
  }
};

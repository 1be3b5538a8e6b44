/**
 * The one way tern runs a subprocess. Modules that drive `ip` or `nft` take a {@linkcode Runner}
 * so that tests can pass a fake that checks argv and stdin without root.
 * @module
 */

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

/** A finished `Deno.Command`'s exit code and output, decoded as UTF-8. */
export function runResultOf(out: Deno.CommandOutput): RunResult {
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The real runner, on `Deno.Command`. A missing executable is reported as exit code 127. */
export const denoRunner: Runner = async (argv, options = {}) => {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError("Cannot run an empty command");
  try {
    if (options.stdin === undefined) {
      // Command.output(), not spawn().output(): Deno 2.9's streams behind a spawned child's
      // output keep native memory, ~60 MiB per 1 000 runs that never comes back (measured;
      // denoland/deno#33334 fixed output() only). A daemon runs ip on every pass.
      return runResultOf(
        await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
          .output(),
      );
    }
    const child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
    return runResultOf(await child.output());
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${cmd}: command not found` };
    }
    throw err;
  }
};

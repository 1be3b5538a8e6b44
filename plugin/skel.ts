/**
 * The CNI protocol plumbing, in one place, like libcni's `skel`: read the environment and stdin,
 * validate them, dispatch to the command, print the result or the spec's error JSON on stdout
 * and return the exit code. Every edge (env, stdin, stdout, the `ip` runner, the attachment's
 * kernel objects, the daemon client, the netns check, the logger) is injected, so the whole
 * protocol is tested without root.
 * @module
 */
import { CniCode, CniError } from "../src/cni_error.ts";
import type { DaemonApi } from "../src/daemon_client.ts";
import { Ip } from "../src/ip.ts";
import { errorMessage } from "../src/lib/errors.ts";
import type { Level, LogFormat, Logger } from "../src/log.ts";
import type { PodLinks } from "../src/pod_links.ts";
import type { Runner } from "../src/runner.ts";
import { CNI_SPEC_VERSION, SUPPORTED_CNI_VERSIONS } from "../src/version.ts";
import type { CommandContext } from "./_context.ts";
import { cmdAdd } from "./cmd_add.ts";
import { cmdCheck } from "./cmd_check.ts";
import { cmdDel } from "./cmd_del.ts";
import { cmdGc } from "./cmd_gc.ts";
import { cmdStatus } from "./cmd_status.ts";
import { cmdVersion } from "./cmd_version.ts";
import { parseEnv } from "./env.ts";
import { parseNetConf, peekCniVersion } from "./netconf.ts";
import { formatResult } from "./result.ts";

/** The plugin's edges. */
export interface PluginIo {
  /** The process environment (`CNI_*`). */
  env: Readonly<Record<string, string | undefined>>;
  /** All of stdin: its bytes (decoded here, strictly), or text ("" when there is none). */
  readStdin(): Promise<Uint8Array | string>;
  /** Writes to stdout, which carries only the result or the error JSON. */
  writeStdout(text: string): void;
  /** Runs `ip` and `nsenter` (CHECK's queries). */
  runner: Runner;
  /** Makes and removes the attachment's kernel objects (ADD, DEL). */
  podLinks: PodLinks;
  /** A daemon client for the config's socket. */
  daemon(socketPath: string, options: { timeoutMs?: number }): DaemonApi;
  /** Whether a netns path exists. */
  netnsExists(path: string): boolean;
  /** A logger (stderr, or `file`); never stdout. */
  logger(options: { level: Level; file?: string; format?: LogFormat }): Logger;
  /** Fixes the pod MAC of ADD (tests); random by default. */
  podMac?: string;
}

function asCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(
    CniCode.IoFailure,
    `Unexpected failure: ${errorMessage(err)}`,
  );
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/**
 * Stdin as text: bytes are decoded as UTF-8 (a leading byte order mark is dropped, as RFC 8259
 * allows). JSON is UTF-8, so other bytes are refused (code 6) rather than replaced by U+FFFD,
 * which would let a config through that nobody wrote; `text` is the lenient decoding, for VERSION.
 */
export function decodeStdin(input: Uint8Array | string): { text: string; error?: CniError } {
  if (typeof input === "string") return { text: input };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(input) };
  } catch {
    return {
      text: new TextDecoder().decode(input),
      error: new CniError(
        CniCode.DecodingFailure,
        "Cannot decode network config: stdin is not valid UTF-8",
        "the runtime must pass the network config as UTF-8 JSON",
      ),
    };
  }
}

/** Runs one CNI invocation; returns the exit code (0 success, 1 error). */
export async function runSkel(io: PluginIo): Promise<number> {
  let log = io.logger({ level: "info" });
  let errorVersion = CNI_SPEC_VERSION;
  const started = performance.now();
  const command = io.env.CNI_COMMAND;
  try {
    const decoded = decodeStdin(await io.readStdin());
    const stdin = decoded.text;
    const peeked = decoded.error ? undefined : peekCniVersion(stdin);
    if (peeked !== undefined && SUPPORTED_CNI_VERSIONS.includes(peeked)) errorVersion = peeked;

    const env = parseEnv(io.env, { netnsExists: (path) => io.netnsExists(path) });
    if (env.command === "VERSION") {
      io.writeStdout(json(cmdVersion(stdin)));
      return 0;
    }
    if (decoded.error) throw decoded.error;
    const conf = parseNetConf(stdin, env.command);
    errorVersion = conf.cniVersion;
    log = io.logger({
      level: conf.logLevel,
      ...(conf.logFile !== undefined ? { file: conf.logFile } : {}),
      ...(conf.logFormat !== undefined ? { format: conf.logFormat } : {}),
    });
    const daemon = io.daemon(
      conf.daemonSocket,
      conf.daemonTimeoutMs === undefined ? {} : { timeoutMs: conf.daemonTimeoutMs },
    );
    const base = { conf, ip: new Ip(io.runner), links: io.podLinks, daemon, log };
    const ctx = <E>(e: E): CommandContext<E> => ({ ...base, env: e });

    switch (env.command) {
      case "ADD": {
        const result = await cmdAdd(
          ctx(env),
          io.podMac === undefined ? {} : { podMac: io.podMac },
        );
        io.writeStdout(json(formatResult(result, conf.cniVersion)));
        break;
      }
      case "CHECK":
        await cmdCheck(ctx(env), { netnsExists: (path) => io.netnsExists(path) });
        break;
      case "DEL":
        await cmdDel(ctx(env));
        break;
      case "STATUS":
        await cmdStatus(ctx(env));
        break;
      case "GC":
        await cmdGc(ctx(env));
        break;
    }
    log.debug("Done", { command, ms: Math.round(performance.now() - started) });
    return 0;
  } catch (err) {
    const cniErr = asCniError(err);
    log.error("Failed", {
      command,
      containerID: io.env.CNI_CONTAINERID,
      ifname: io.env.CNI_IFNAME,
      code: cniErr.code,
      error: cniErr.message,
      stack: err instanceof CniError ? undefined : (err as Error | undefined)?.stack,
    });
    io.writeStdout(json(cniErr.toJSON(errorVersion)));
    return 1;
  }
}

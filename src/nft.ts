/**
 * The one module that runs `nft`. Every change is one transaction, written whole to a file and
 * loaded with `nft -f FILE` (all of it applies or none does); listings are `nft -j` JSON; `check`
 * asks the kernel to validate a transaction without loading it (`nft -c -f -`).
 *
 * Why a file and not stdin: nft commits whatever it parsed once its input ends, so a writer that
 * dies mid-transaction (the daemon killed with SIGKILL) hands it a shorter input, and when the cut
 * falls between two commands that prefix is a valid transaction of its own: tried with nftables
 * 1.0.6, `table inet tern {}` + `delete table inet tern` followed by the writer's death deleted
 * the table and exited 0 — every pod open. A file is complete before nft starts. Runs through an injectable
 * {@linkcode Runner}, so tests pass a fake that checks argv and stdin, and through
 * `ip netns exec` when a namespace is named (tests and benchmarks; the daemon runs in the node's
 * own namespace and names none).
 * @module
 */
import { CommandError, type Runner } from "./runner.ts";

/** How the names of transaction files begin (`nft-transaction-XXXX.nft`). */
export const TRANSACTION_PREFIX = "nft-transaction-";

/** A table's family, as nft names them. */
export type NftFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

/** Runs `nft` through a {@linkcode Runner}. Methods throw {@linkcode CommandError} on failure. */
export class Nft {
  readonly #run: Runner;
  readonly #argv: string[];
  readonly #dir: string | undefined;

  /**
   * `options.nftPath` defaults to `nft` on PATH; `options.netns` (a name under /run/netns) runs
   * every command inside that namespace through `ip netns exec`. Default: the current namespace.
   * `options.transactionDir` is where transactions are written before nft loads them (the
   * daemon's run directory; default: the system's temporary directory).
   */
  constructor(
    run: Runner,
    options: { nftPath?: string; netns?: string; transactionDir?: string } = {},
  ) {
    this.#run = run;
    const nft = options.nftPath ?? "nft";
    this.#argv = options.netns === undefined ? [nft] : ["ip", "netns", "exec", options.netns, nft];
    this.#dir = options.transactionDir;
  }

  /**
   * Applies `text` as one transaction: written to a file of its own (`nft-transaction-*.nft` in
   * the transaction directory, mode 0600), loaded with `nft -f FILE`, then removed.
   */
  async apply(text: string): Promise<void> {
    const file = await Deno.makeTempFile({
      ...(this.#dir !== undefined ? { dir: this.#dir } : {}),
      prefix: TRANSACTION_PREFIX,
      suffix: ".nft",
    });
    try {
      await Deno.writeTextFile(file, text);
      await this.#must(["-f", file]);
    } finally {
      await Deno.remove(file).catch(() => {});
    }
  }

  /**
   * Removes transaction files a killed daemon left in the transaction directory; returns how
   * many. Call it at start, before any transaction, when no other writer uses the directory.
   */
  async removeLeftovers(): Promise<number> {
    if (this.#dir === undefined) return 0;
    let removed = 0;
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if (!entry.isFile || !entry.name.startsWith(TRANSACTION_PREFIX)) continue;
        await Deno.remove(`${this.#dir}/${entry.name}`).catch(() => {});
        removed++;
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return removed;
  }

  /** Validates `text` as a transaction without loading anything: `nft -c -f -`. */
  async check(text: string): Promise<void> {
    await this.#must(["-c", "-f", "-"], text);
  }

  /**
   * The table as `nft -j list table` prints it, parsed; undefined when there is no such table.
   * `options.numeric` (default true) adds `-n`, so ports, protocols and ICMP types are numbers.
   */
  async listTableJson(
    family: NftFamily,
    name: string,
    options: { numeric?: boolean } = {},
  ): Promise<unknown | undefined> {
    const args = [
      "-j",
      ...(options.numeric === false ? [] : ["-n"]),
      "list",
      "table",
      family,
      name,
    ];
    const argv = [...this.#argv, ...args];
    const result = await this.#run(argv);
    if (result.code !== 0) {
      if (/No such file or directory/.test(result.stderr)) return undefined;
      throw new CommandError(argv, result);
    }
    try {
      return JSON.parse(result.stdout);
    } catch (err) {
      throw new Error(
        `Cannot parse the listing of table ${family} ${name}: ${(err as Error).message}`,
      );
    }
  }

  /** Deletes the table; true when it existed. Tern uses it only on its own table. */
  async deleteTableIfExists(family: NftFamily, name: string): Promise<boolean> {
    const argv = [...this.#argv, "delete", "table", family, name];
    const result = await this.#run(argv);
    if (result.code === 0) return true;
    if (/No such file or directory/.test(result.stderr)) return false;
    throw new CommandError(argv, result);
  }

  async #must(args: string[], stdin?: string): Promise<void> {
    const argv = [...this.#argv, ...args];
    const result = await this.#run(argv, stdin === undefined ? {} : { stdin });
    if (result.code !== 0) throw new CommandError(argv, result);
  }
}

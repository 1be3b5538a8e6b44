/**
 * The one module that runs `nft`. Every change is one transaction fed on stdin to `nft -f -`
 * (all of it applies or none does); listings are `nft -j` JSON; `check` asks the kernel to
 * validate a transaction without loading it (`nft -c -f -`). Runs through an injectable
 * {@linkcode Runner}, so tests pass a fake that checks argv and stdin, and through
 * `ip netns exec` when a namespace is named (tests and benchmarks; the daemon runs in the node's
 * own namespace and names none).
 * @module
 */
import { CommandError, type Runner } from "./runner.ts";

/** A table's family, as nft names them. */
export type NftFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

/** Runs `nft` through a {@linkcode Runner}. Methods throw {@linkcode CommandError} on failure. */
export class Nft {
  readonly #run: Runner;
  readonly #argv: string[];

  /**
   * `options.nftPath` defaults to `nft` on PATH; `options.netns` (a name under /run/netns) runs
   * every command inside that namespace through `ip netns exec`. Default: the current namespace.
   */
  constructor(run: Runner, options: { nftPath?: string; netns?: string } = {}) {
    this.#run = run;
    const nft = options.nftPath ?? "nft";
    this.#argv = options.netns === undefined ? [nft] : ["ip", "netns", "exec", options.netns, nft];
  }

  /** Applies `text` as one transaction: `nft -f -` with the text on stdin. */
  async apply(text: string): Promise<void> {
    await this.#must(["-f", "-"], text);
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

  async #must(args: string[], stdin: string): Promise<void> {
    const argv = [...this.#argv, ...args];
    const result = await this.#run(argv, { stdin });
    if (result.code !== 0) throw new CommandError(argv, result);
  }
}

/**
 * Test support for the daemon's policy: manifest text applied as events, daemon endpoints,
 * and a fake `nft` {@linkcode Runner} that records every transaction, can be told to fail or to
 * hold an apply, and answers listings with what a test gives it. Private to the daemon's tests.
 * @module
 */
import type { ClusterState } from "../../src/cluster/state.ts";
import { hostVethName } from "../../src/names.ts";
import type { GenerationWatch } from "../../src/nft_generation.ts";
import type { Runner, RunResult } from "../../src/runner.ts";
import { manifestResources } from "../../test/cluster_fixtures.ts";
import type { LocalEndpoint } from "../../src/local_endpoints.ts";
import type { VethGroups } from "./veth_groups.ts";

/** Applies the manifests in `text` to `state` as `added`/`modified` events. */
export function applyText(state: ClusterState, text: string): void {
  for (const resource of manifestResources(text, "event")) {
    state.apply({ type: "modified", resource, resourceVersion: String(Date.now()) });
  }
}

/** A Pod manifest on node-1 with labels. */
export function podYaml(namespace: string, name: string, labels: Record<string, string>): string {
  return `{apiVersion: v1, kind: Pod, metadata: {namespace: ${namespace}, name: ${name}, labels: ${
    JSON.stringify(labels)
  }}, spec: {nodeName: node-1}}\n`;
}

/** A daemon endpoint for pod `namespace/name` with its real host veth name. */
export async function endpoint(
  namespace: string,
  name: string,
  ip: string,
): Promise<LocalEndpoint> {
  const containerID = `c-${namespace}-${name}`;
  return {
    containerID,
    ifname: "eth0",
    ip,
    hostVeth: await hostVethName(containerID, "eth0"),
    podNamespace: namespace,
    podName: name,
  };
}

/** A fake `nft`: records transactions, fails or holds them on demand, answers listings. */
export class FakeNft {
  /** Every transaction applied (`nft -f` input), in order, including failed ones. */
  readonly transactions: string[] = [];
  /** Listing commands run. */
  listings = 0;
  /** How many of the next transactions fail, and with what. */
  failNext = 0;
  failWith = "Error: Could not process rule: No such file or directory";
  /** The next transaction waits until this promise resolves. */
  gate: Promise<void> | undefined;
  /** What `nft -j -n list table inet tern` prints; undefined: no such table. */
  listing: unknown | undefined;
  /** The ruleset's generation id: each transaction that succeeds moves it, as the kernel's. */
  generation = 1;
  /** The generation last handed to a `commit()` waiter. */
  #told = 1;
  #wake: (() => void) | undefined;

  /** The runner to give `Nft`. */
  readonly run: Runner = async (argv, options) => {
    const args = argv.slice(argv.indexOf("nft") + 1);
    if (args[0] === "-f") {
      // `nft -f FILE`: the file exists while nft runs; `-f -` reads stdin.
      this.transactions.push(
        args[1] === "-" ? options?.stdin ?? "" : Deno.readTextFileSync(args[1]!),
      );
      const gate = this.gate;
      this.gate = undefined;
      if (gate) await gate;
      if (this.failNext > 0) {
        this.failNext--;
        return result(1, "", this.failWith);
      }
      this.commit();
      return result(0);
    }
    if (args.includes("list")) {
      this.listings++;
      if (this.listing === undefined) {
        return result(1, "", "Error: No such file or directory\nlist table inet tern");
      }
      return result(0, JSON.stringify(this.listing));
    }
    return result(1, "", `fake nft: unsupported: ${argv.join(" ")}`);
  };

  /** A commit: the generation id moves and a waiting `watch.commit()` is told. */
  commit(): void {
    this.generation++;
    this.#wake?.();
  }

  /** The generation id and its commits, as `NftGeneration` gives them. */
  readonly watch: GenerationWatch = {
    read: () => this.generation,
    commit: async (signal) => {
      while (this.generation === this.#told && !signal.aborted) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      if (signal.aborted) return false;
      this.#told = this.generation;
      return true;
    },
  };

  /** The transactions that replaced the whole table. */
  get whole(): string[] {
    return this.transactions.filter((t) => t.includes("delete table inet tern"));
  }
}

function result(code: number, stdout = "", stderr = ""): RunResult {
  return { code, stdout, stderr };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 5 ms until it is true or `ms` passed; returns its last answer. */
export async function eventually(check: () => boolean, ms = 2_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(5);
  }
  return check();
}

/**
 * {@linkcode VethGroups} in memory: the veths it lists are those set so far and `veths()`. Records each `set` with
 * the number of nft transactions that had run by then, so tests see which side of a transaction
 * a mark went on or came off.
 */
export class FakeVethGroups implements VethGroups {
  /** The veths, with their interface group. */
  readonly links = new Map<string, number>();
  /** Every `set` that changed something, in order. */
  readonly sets: { changes: Map<string, number>; afterTransactions: number }[] = [];
  /** A `set` fails with the message this returns for its changes, if any. */
  failIf: ((changes: ReadonlyMap<string, number>) => string | undefined) | undefined;

  /** `veths`: veths that exist besides those set so far (in group 0 until set). */
  constructor(readonly nft?: FakeNft, readonly veths: () => string[] = () => []) {}

  list(): Promise<Map<string, number>> {
    const out = new Map(this.links);
    for (const veth of this.veths()) if (!out.has(veth)) out.set(veth, 0);
    return Promise.resolve(out);
  }

  set(groups: ReadonlyMap<string, number>): Promise<void> {
    if (groups.size === 0) return Promise.resolve();
    const failure = this.failIf?.(groups);
    if (failure !== undefined) return Promise.reject(new Error(failure));
    this.sets.push({
      changes: new Map(groups),
      afterTransactions: this.nft?.transactions.length ?? 0,
    });
    for (const [veth, group] of groups) this.links.set(veth, group);
    return Promise.resolve();
  }
}

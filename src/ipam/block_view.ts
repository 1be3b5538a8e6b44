/**
 * Every node's blocks, as the routing of `ipam.mode: blocks` needs them: a {@linkcode Reflector}
 * on IPAMBlocks (list, then watch), read as "node → its block CIDRs". A block changes hands only
 * through a delete and a create, so each watch event is one route to add or remove. An object
 * tern cannot read is left out (and logged once per version by the reflector's transform).
 * @module
 */
import { compareCidrText } from "./block_cidrs.ts";
import type { Clock } from "../clock.ts";
import { Reflector, type ReflectorClient, type ReflectorStatus } from "../kube/reflector.ts";
import { type Logger, silentLogger } from "../log.ts";
import { type IpamBlock, IPAMBLOCKS, readBlock } from "./ipam_objects.ts";

/** The cluster's blocks by node, kept up to date from the API server. */
export class BlockView {
  readonly #reflector: Reflector<IpamBlock | undefined>;
  readonly #listeners = new Set<() => void>();

  /** Builds the view; nothing is requested until `start()`. */
  constructor(client: ReflectorClient, options: { clock?: Clock; log?: Logger } = {}) {
    const log = options.log ?? silentLogger;
    const reflectorOptions: ConstructorParameters<typeof Reflector<IpamBlock | undefined>>[2] = {
      transform: (object) => {
        const block = readBlock(object);
        if ("error" in block) {
          log.warn("Skipping IPAMBlock", { error: block.error });
          return undefined;
        }
        return block;
      },
      onChange: () => {
        for (const listener of this.#listeners) listener();
      },
      onError: (error, retryInMs) =>
        log.warn("Kubernetes API request failed; retrying", {
          kind: "IPAMBlock",
          error: error instanceof Error ? error.message : String(error),
          retryInMs,
        }),
    };
    if (options.clock !== undefined) reflectorOptions.clock = options.clock;
    this.#reflector = new Reflector(client, IPAMBLOCKS, reflectorOptions);
  }

  /** Starts listing and watching; resolves once the first list is in. */
  async start(): Promise<void> {
    this.#reflector.start();
    await this.#reflector.synced;
  }

  /** Stops watching; the last state stays readable. */
  stop(): Promise<void> {
    return this.#reflector.stop();
  }

  /** Calls `listener` after each change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every readable block. */
  blocks(): IpamBlock[] {
    return this.#reflector.items().filter((b): b is IpamBlock => b !== undefined);
  }

  /** Node name → its block CIDRs, sorted. */
  byNode(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const block of this.blocks()) {
      out.set(block.node, [...(out.get(block.node) ?? []), block.cidr]);
    }
    for (const list of out.values()) list.sort(compareCidrText);
    return out;
  }

  /** The reflector's status, for `tern status`. */
  status(): ReflectorStatus {
    return this.#reflector.status();
  }
}

/**
 * Pod churn as a runtime makes it, for the scenarios that break things meanwhile: workers pick
 * pods at random and ADD the idle ones or DEL the live ones through libcni. A failed ADD is torn
 * down with DEL, as kubelet does with a sandbox that failed; a failed DEL is retried until it
 * succeeds, as kubelet does with a pod stuck in Terminating (each retry counted).
 * @module
 */
import type { Sandbox, SandboxNode, SandboxPod } from "../sandbox.ts";
import type { SeededRandom } from "./seeded_random.ts";

/** What the churn did. */
export interface ChurnCounts {
  adds: number;
  addFailures: number;
  dels: number;
  delRetries: number;
}

/** Options of {@linkcode Churn}. */
export interface ChurnOptions {
  workers: number;
  /** Pause between a worker's operations, ms (0: none). */
  pauseMs?: number;
  /** Pause before a DEL retry, ms. Default 200. */
  retryMs?: number;
  /** Gives up a DEL after this many retries (then counted in `stuck`). Default 600. */
  maxRetries?: number;
}

/** Random ADD/DEL on a fixed set of pods until stopped. */
export class Churn {
  readonly counts: ChurnCounts = { adds: 0, addFailures: 0, dels: 0, delRetries: 0 };
  /** Pods whose ADD succeeded and which were not deleted since. */
  readonly live = new Set<SandboxPod>();
  /** Pods a DEL never succeeded for. */
  readonly stuck = new Set<SandboxPod>();
  /** One line per unexpected failure (other than code 11 while the daemon is down). */
  readonly errors: string[] = [];
  readonly #busy = new Set<SandboxPod>();
  #stopped = false;
  readonly #runs: Promise<void>[] = [];

  constructor(
    readonly sb: Sandbox,
    readonly node: SandboxNode,
    readonly pods: readonly SandboxPod[],
    readonly random: SeededRandom,
    readonly options: ChurnOptions,
  ) {}

  /** Starts the workers. */
  start(): void {
    for (let i = 0; i < this.options.workers; i++) this.#runs.push(this.#work(this.random.fork()));
  }

  /** Stops the workers after their current operation, and waits for them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#runs);
  }

  /** DELs every live pod (retried until it succeeds), leaving none. */
  async drain(): Promise<void> {
    for (const pod of [...this.live]) await this.#del(pod);
  }

  async #work(random: SeededRandom): Promise<void> {
    while (!this.#stopped) {
      const idle = this.pods.filter((p) => !this.#busy.has(p));
      if (idle.length === 0) {
        await sleep(20);
        continue;
      }
      const pod = random.pick(idle);
      this.#busy.add(pod);
      try {
        if (this.live.has(pod)) await this.#del(pod);
        else await this.#add(pod);
      } finally {
        this.#busy.delete(pod);
      }
      if (this.options.pauseMs) await sleep(random.int(0, this.options.pauseMs));
    }
  }

  async #add(pod: SandboxPod): Promise<void> {
    this.counts.adds++;
    try {
      await this.sb.driverAdd(pod);
      this.live.add(pod);
    } catch (err) {
      this.counts.addFailures++;
      const message = err instanceof Error ? err.message : String(err);
      if (!/Daemon unavailable|Daemon failed|not ready|starting or stopping/.test(message)) {
        this.errors.push(`ADD ${pod.name}: ${message}`);
      }
      delete pod.ip;
      this.live.add(pod); // torn down by DEL, as kubelet does
      await this.#del(pod);
    }
  }

  async #del(pod: SandboxPod): Promise<void> {
    this.counts.dels++;
    const max = this.options.maxRetries ?? 600;
    for (let attempt = 0;; attempt++) {
      try {
        await this.sb.driverDel(pod);
        this.live.delete(pod);
        delete pod.ip;
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (!/Daemon unavailable|Daemon failed|not ready|starting or stopping/.test(message)) {
          this.errors.push(`DEL ${pod.name}: ${message}`);
        }
        if (attempt >= max) {
          this.stuck.add(pod);
          this.live.delete(pod);
          return;
        }
        this.counts.delRetries++;
        await sleep(this.options.retryMs ?? 200);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Group commit for Deno KV. Deno KV commits one atomic operation at a time, each durably, so a
 * burst of ADDs (a node that starts 30 pods at once) queued 30 commits one behind another. Here an
 * operation that arrives while no commit is in flight goes out at once, as before; those that
 * arrive while one is in flight wait for it and then go out together, as one atomic operation with
 * every check and mutation of each. Each keeps its own checks, so each claim still checks its
 * address and its attachment in the commit that writes them (DESIGN.md, IPAM).
 *
 * Operations that touch a common key never share a commit (the later one waits for the next), and
 * a shared commit that fails, or that the store refuses (a limit), is taken apart: each operation
 * is committed on its own and gets its own answer. So a caller sees exactly what a commit of its
 * own operation would have answered, only sooner in a burst.
 * @module
 */

/** One atomic operation as data: what it checks and what it writes. */
export interface KvOperation {
  readonly checks: readonly Deno.AtomicCheck[];
  readonly mutations: readonly Deno.KvMutation[];
}

/** How large a shared commit may grow. */
export interface KvGroupCommitOptions {
  /** Checks in one commit. Default 100, Deno KV's limit. */
  maxChecks?: number;
  /** Mutations in one commit. Default 1000, Deno KV's limit. */
  maxMutations?: number;
  /** Operations in one commit. Default 64. */
  maxOperations?: number;
  /** Called after each commit that went out with the number of operations it carried. */
  onCommit?: (operations: number) => void;
}

type Answer = Deno.KvCommitResult | Deno.KvCommitError;

interface Waiting {
  readonly op: KvOperation;
  readonly keys: readonly string[];
  readonly resolve: (answer: Answer) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * A key as a string, equal for equal keys and different for keys Deno KV tells apart (each part
 * tagged with its type; JSON keeps the parts apart whatever characters they hold).
 */
export function kvKeyId(key: Deno.KvKey): string {
  return JSON.stringify(
    key.map((part) =>
      part instanceof Uint8Array ? ["bytes", Array.from(part)] : [typeof part, String(part)]
    ),
  );
}

/** The keys an operation checks or writes, as {@linkcode kvKeyId}s. */
function keysOf(op: KvOperation): string[] {
  return [...op.checks.map((c) => kvKeyId(c.key)), ...op.mutations.map((m) => kvKeyId(m.key))];
}

/**
 * Picks the next commit's operations from `queue`, in order: each one that shares no key with
 * those picked and fits the limits (pure). The first is always picked.
 */
export function pickBatch<T extends { op: KvOperation; keys: readonly string[] }>(
  queue: readonly T[],
  limits: { maxChecks: number; maxMutations: number; maxOperations: number },
): { batch: T[]; rest: T[] } {
  const batch: T[] = [];
  const rest: T[] = [];
  const taken = new Set<string>();
  let checks = 0;
  let mutations = 0;
  for (const entry of queue) {
    const fits = batch.length === 0 || (
      batch.length < limits.maxOperations &&
      checks + entry.op.checks.length <= limits.maxChecks &&
      mutations + entry.op.mutations.length <= limits.maxMutations &&
      !entry.keys.some((k) => taken.has(k))
    );
    if (!fits) {
      rest.push(entry);
      continue;
    }
    batch.push(entry);
    checks += entry.op.checks.length;
    mutations += entry.op.mutations.length;
    for (const k of entry.keys) taken.add(k);
  }
  return { batch, rest };
}

/** Commits {@linkcode KvOperation}s, sharing a commit among those that waited for one. */
export class KvGroupCommit {
  readonly #kv: Deno.Kv;
  readonly #limits: { maxChecks: number; maxMutations: number; maxOperations: number };
  readonly #onCommit: (operations: number) => void;
  #queue: Waiting[] = [];
  #running = false;
  #commits = 0;
  #operations = 0;

  constructor(kv: Deno.Kv, options: KvGroupCommitOptions = {}) {
    this.#kv = kv;
    this.#limits = {
      maxChecks: options.maxChecks ?? 100,
      maxMutations: options.maxMutations ?? 1000,
      maxOperations: options.maxOperations ?? 64,
    };
    this.#onCommit = options.onCommit ?? (() => {});
  }

  /** Commits that went out, and the operations they carried (shared commits that failed count too). */
  stats(): { commits: number; operations: number } {
    return { commits: this.#commits, operations: this.#operations };
  }

  /**
   * Commits `op` (alone when nothing is in flight) and answers as its own commit would have. Its
   * values are read when the commit goes out: the caller leaves them unchanged until it answers.
   */
  commit(op: KvOperation): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.#queue.push({ op, keys: keysOf(op), resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const { batch, rest } = pickBatch(this.#queue, this.#limits);
        this.#queue = rest;
        await this.#commitBatch(batch);
      }
    } finally {
      this.#running = false;
    }
  }

  async #commitBatch(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [one] = batch as [Waiting];
      await this.#commitOne(one);
      return;
    }
    let answer: Answer | undefined;
    try {
      const atomic = this.#kv.atomic();
      for (const { op } of batch) atomic.check(...op.checks).mutate(...op.mutations);
      answer = await atomic.commit();
    } catch {
      // Refused as a whole (a size limit, say): each operation on its own says what is wrong.
      answer = undefined;
    }
    this.#counted(batch.length);
    if (answer?.ok) {
      for (const waiting of batch) waiting.resolve(answer);
      return;
    }
    // Some check failed: only a commit of each alone tells whose.
    for (const waiting of batch) await this.#commitOne(waiting);
  }

  #counted(operations: number): void {
    this.#commits++;
    this.#operations += operations;
    try {
      this.#onCommit(operations);
    } catch {
      // An observer's failure must not strand the operations waiting behind this commit.
    }
  }

  async #commitOne(waiting: Waiting): Promise<void> {
    try {
      const answer = await this.#kv.atomic().check(...waiting.op.checks)
        .mutate(...waiting.op.mutations).commit();
      this.#counted(1);
      waiting.resolve(answer);
    } catch (err) {
      waiting.reject(err);
    }
  }
}

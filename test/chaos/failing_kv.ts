/**
 * Scenario 8 of the chaos battery, injected: a Deno KV whose atomic commits fail on demand, as
 * SQLite's do when the disk is full ("database or disk is full"). Reads and listings pass
 * through untouched, as they do on a full disk. The daemon only ever writes through
 * `atomic().commit()`, so failing that is failing every write. For tests.
 * @module
 */

/** The error a commit fails with: SQLite's SQLITE_FULL text. */
export class DiskFullError extends Error {
  /** A commit that failed as on a full disk. */
  constructor() {
    super("database or disk is full");
    this.name = "DiskFullError";
  }
}

/** A KV whose commits fail while `failing(n)` says so; `n` counts commits from 1. */
export interface FailingKv {
  kv: Deno.Kv;
  /** Commits attempted so far (failed ones included). */
  readonly commits: number;
  /** Commits that failed. */
  readonly failed: number;
}

/**
 * Wraps `kv`: each `atomic().commit()` is numbered from 1 and throws {@linkcode DiskFullError}
 * when `failing(n)` is true (nothing of it is written); every other call is `kv`'s own.
 */
export function failingKv(kv: Deno.Kv, failing: (n: number) => boolean): FailingKv {
  let commits = 0;
  let failed = 0;
  const wrapAtomic = (op: Deno.AtomicOperation): Deno.AtomicOperation => {
    const wrapper: Deno.AtomicOperation = new Proxy(op, {
      get(target, prop, receiver) {
        if (prop === "commit") {
          return () => {
            commits++;
            if (failing(commits)) {
              failed++;
              return Promise.reject(new DiskFullError());
            }
            return target.commit();
          };
        }
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== "function") return value;
        // Builder methods return the operation itself: keep returning the wrapper.
        return (...args: unknown[]) => {
          const out = value.apply(target, args);
          return out === target ? wrapper : out;
        };
      },
    });
    return wrapper;
  };
  const wrapped = new Proxy(kv, {
    get(target, prop) {
      if (prop === "atomic") return () => wrapAtomic(target.atomic());
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    kv: wrapped,
    get commits() {
      return commits;
    },
    get failed() {
      return failed;
    },
  };
}

/**
 * A sustained rate of pod events for benches: of every eight steps six modify a live pod (an
 * annotation, and every other time its `version` label, as rollouts and kubelet updates do), one
 * creates a pod (a copy of a live one under a new name) and one deletes a pod this churn created
 * (gracefully: MODIFIED with deletionTimestamp, then DELETED), so the population stays about the
 * same. The rate counts writes, each one watch event. Writes go through {@linkcode ApiObjects}, so
 * watchers see ordinary ADDED/MODIFIED/DELETED events.
 * @module
 */

import type { ApiObjects, KubeObject } from "./api_objects.ts";

/** Options of {@linkcode churn}. */
export interface ChurnOptions {
  /** Target events per second. */
  eventsPerSecond: number;
  /** How long to go on. */
  durationMs: number;
  /** Only pods of this namespace (default all). */
  namespace?: string;
}

/** Progress of a churn. */
export interface ChurnProgress {
  events: number;
  elapsedMs: number;
  done: boolean;
}

/** A running churn: its progress, the promise of its end, and a way to stop it early. */
export interface Churn {
  progress(): ChurnProgress;
  done: Promise<ChurnProgress>;
  stop(): void;
}

const TICK_MS = 10;

/** Starts a churn of pod events; see the module documentation. */
export function churn(objects: ApiObjects, options: ChurnOptions): Churn {
  const pods = objects.type("pods");
  const prefix = options.namespace === undefined ? "" : `${options.namespace}/`;
  const keys = objects.store.liveKeys("pods", prefix);
  if (keys.length === 0) {
    throw new Error(
      `Cannot churn pods: no pod exists${
        options.namespace ? ` in namespace ${options.namespace}` : ""
      }: load some first`,
    );
  }
  const created: string[] = [];
  const started = performance.now();
  let events = 0;
  let seq = 0;
  let stopped = false;
  let finished = false;
  let resolve!: (p: ChurnProgress) => void;
  const done = new Promise<ChurnProgress>((r) => (resolve = r));
  const progress = (): ChurnProgress => ({
    events,
    elapsedMs: Math.round(performance.now() - started),
    done: stopped,
  });

  // Every write is one watch event: a graceful pod deletion is two (MODIFIED, then DELETED).
  const one = () => {
    const before = objects.store.rv;
    step();
    events += objects.store.rv - before;
  };
  const step = () => {
    const n = seq++;
    const kind = n % 8;
    if (kind === 6) {
      const from = keys[n % keys.length]!;
      const cur = objects.store.current("pods", from);
      if (cur === undefined) return;
      const obj = JSON.parse(cur.json) as KubeObject;
      const [ns] = from.split("/");
      const name = `churn-${n}-${obj.metadata!.name}`.slice(0, 253);
      // A new object: the server gives it its own uid, revision and creation time.
      delete obj.metadata!.resourceVersion;
      delete obj.metadata!.uid;
      delete obj.metadata!.creationTimestamp;
      obj.metadata!.name = name;
      objects.create({ rt: pods, namespace: ns! }, obj, { restore: true });
      created.push(`${ns}/${name}`);
    } else if (kind === 7 && created.length > 0) {
      const key = created.shift()!;
      const [ns, name] = key.split("/");
      try {
        objects.delete({ rt: pods, namespace: ns!, name: name! });
      } catch { /* deleted by someone else */ }
    } else {
      const key = keys[(n * 7919) % keys.length]!;
      const [ns, name] = key.split("/");
      const patch: KubeObject = {
        metadata: { annotations: { "bench.tern.dev/churn": String(n) } },
      };
      if (n % 2 === 0) patch.metadata!.labels = { version: `v2.${n % 7}` };
      try {
        objects.patch({ rt: pods, namespace: ns!, name: name! }, {
          type: "application/merge-patch+json",
          body: patch,
        });
      } catch { /* deleted by someone else */ }
    }
  };

  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    if (elapsed >= options.durationMs || stopped) {
      finish();
      return;
    }
    const due = Math.floor((elapsed * options.eventsPerSecond) / 1000);
    // Bounded: if every pod this churn knows is gone, a tick must still end.
    for (let tries = due - events + 100; events < due && tries > 0; tries--) one();
  }, TICK_MS);

  function finish() {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    stopped = true;
    resolve(progress());
  }

  return { progress, done, stop: finish };
}

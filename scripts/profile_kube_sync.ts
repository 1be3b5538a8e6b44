/**
 * Where the `kubernetes` source's initial sync spends its time and memory, in one process: the
 * fake API server runs as its own process (on loopback, TLS and a token, as in the kube-scale
 * bench, so its CPU is not counted here) serving a generated cluster; this process then runs
 * `KubernetesSource.list()` and `ClusterState.reset()` and reports each step's time (wall, and
 * this process's CPU), the RSS and V8's committed heap after each, and the live heap after a
 * forced GC (run with `--v8-flags=--expose-gc`; add ternd's flags to see theirs). Then it
 * lists the pods once more with the bare client to split the list into its parts: the pages
 * (request, body, JSON), the trim and the validation. With `--churn-seconds N` it first has the
 * fake churn pods (`--events-per-second`, default 1 000, as the bench asks for it) and applies the
 * source's watch to the cluster state for N seconds, with the memory every 2 s: what the source,
 * its reflectors and the state keep under churn, without the policy compiler.
 *
 * `deno run -A --v8-flags=--expose-gc scripts/profile_kube_sync.ts [--nodes 5000] [--pods 150000]
 * [--policies 10000] [--page-size 500] [--list-only] [--churn-seconds 0]
 * [--events-per-second 1000] [--heap-snapshot FILE] [--heap-profile N] [--out FILE]`:
 * `--heap-snapshot` writes V8's heap snapshot (for Chrome's DevTools, or `scripts/heap_summary.ts`)
 * once the cluster state holds the list; `--heap-profile N` samples the churn's allocations
 * (garbage included, `allocation_sampling.ts`) and prints the N functions that allocated most;
 * `--out` writes the churn's window for `gc_trace.ts`. Loopback only; needs no root.
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { allocationSites, startAllocationSampling } from "./allocation_sampling.ts";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import { KubeClient } from "../src/kube/client.ts";
import { resolveConnection } from "../src/kube/kubeconfig.ts";
import { KUBERNETES_KINDS, KubernetesSource, POD_TYPE } from "../src/cluster/kubernetes_source.ts";
import { parseManifestObject } from "../src/cluster/manifest.ts";
import { ClusterState } from "../src/cluster/state.ts";
import { validPod } from "../src/cluster/valid_pod.ts";
import type { KubeObject } from "../src/kube/watch_stream.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * The RSS and V8's committed heap as they are, then the live heap and the RSS after a forced GC
 * (when exposed), in MiB.
 */
function memory(): {
  rssMiB: number;
  heapTotalMiB: number;
  liveMiB: number;
  gcHeapTotalMiB: number;
  gcRssMiB: number;
} {
  const mib = (n: number) => Math.round(n / 2 ** 20);
  const before = Deno.memoryUsage();
  const gc = (globalThis as { gc?: (options?: unknown) => void }).gc;
  if (Deno.env.get("PROFILE_GC") === "last-resort") {
    gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  } else gc?.();
  const after = Deno.memoryUsage();
  return {
    rssMiB: mib(before.rss),
    heapTotalMiB: mib(before.heapTotal),
    liveMiB: mib(after.heapUsed),
    gcHeapTotalMiB: mib(after.heapTotal),
    gcRssMiB: mib(after.rss),
  };
}

/** This process's CPU time (user + system) in seconds. */
function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `fn`, returning its result, wall seconds and this process's CPU seconds. */
async function timed<T>(fn: () => T | Promise<T>): Promise<[T, string]> {
  const t = performance.now();
  const c = cpu();
  const out = await fn();
  const wall = (performance.now() - t) / 1000;
  return [out, `${wall.toFixed(2)} s (CPU ${(cpu() - c).toFixed(2)} s)`];
}

async function startFake(
  dir: string,
  shape: { nodes: number; pods: number; policies: number },
): Promise<{ child: Deno.ChildProcess; kubeconfig: string; loadS: number }> {
  const kubeconfig = `${dir}/kubeconfig`;
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      "--no-lock",
      "--v8-flags=--max-old-space-size=8192",
      `${ROOT}test/fake_apiserver/main.ts`,
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      "--tls-generate",
      "--kubeconfig-out",
      kubeconfig,
      "--token",
      "profile",
      "--crd",
      "securitygroups.tern.dev",
      "--crd",
      "securitygrouppolicies.vpcresources.k8s.aws",
      "--admin-socket",
      `${dir}/admin.sock`,
      "--generate",
      `nodes=${shape.nodes},pods=${shape.pods},networkPolicies=${shape.policies}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("https://")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The fake API server ended before it served");
    text += value;
  }
  // Read on: a full pipe would block the fake at its next line.
  void (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* dropped */ }
  })();
  return { child, kubeconfig, loadS: (performance.now() - t0) / 1000 };
}

/**
 * The fake's churn (as the kube-scale bench asks for it) applied to `state` through the source's
 * watch for `seconds`, with the memory as it is every 2 s (no forced GC until the end).
 */
async function churn(
  source: KubernetesSource,
  state: ClusterState,
  adminSocket: string,
  seconds: number,
  options: { eventsPerSecond: number; heapProfile: number | undefined; out: string | undefined },
): Promise<void> {
  const { eventsPerSecond } = options;
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: adminSocket } });
  const admin = (path: string, body: unknown) =>
    fetch(`http://fake/_fake/${path}`, {
      method: "POST",
      client,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.text());
  const mib = (n: number) => Math.round(n / 2 ** 20);
  let events = 0;
  const feeding = (async () => {
    for await (const event of source.watch()) {
      state.apply(event);
      events++;
    }
  })();
  await admin("churn", { eventsPerSecond, durationMs: seconds * 1000 });
  const t0 = performance.now();
  const sampling = options.heapProfile === undefined ? undefined : await startAllocationSampling();
  while (performance.now() - t0 < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 2_000));
    const m = Deno.memoryUsage();
    console.log(
      `churn ${((performance.now() - t0) / 1000).toFixed(0)} s: ${events} events; RSS ${
        mib(m.rss)
      } / V8 committed ${mib(m.heapTotal)} / used ${mib(m.heapUsed)} MiB`,
    );
  }
  await admin("churn/stop", {});
  const t1 = performance.now();
  if (sampling !== undefined) {
    // Where the watch's events allocated, by function, garbage included (per event: / events).
    const all = allocationSites(await sampling.stop());
    const sampled = all.find((s) => s.site === "(root)")?.total ?? 0;
    const sites = all.slice(0, options.heapProfile);
    console.log(
      `allocated during the churn: ${(sampled / 2 ** 20).toFixed(1)} MiB for ${events} events (${
        (sampled / 2 ** 10 / Math.max(1, events)).toFixed(1)
      } KiB an event); by function, MiB self / with callees:`,
    );
    for (const { site, self, total } of sites) {
      console.log(`  ${(self / 2 ** 20).toFixed(1)} / ${(total / 2 ** 20).toFixed(1)}  ${site}`);
    }
  }
  if (options.out !== undefined) {
    // For scripts/gc_trace.ts (with --trace-gc-nvp): the churn's window on this process's clock.
    await Deno.writeTextFile(
      options.out,
      JSON.stringify({ windowMs: [Math.round(t0), Math.round(t1)], events }),
    );
  }
  console.log(`after the churn: ${JSON.stringify(memory())}`);
  client.close();
  await source.close();
  await feeding.catch(() => {});
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "5000" },
      pods: { type: "string", default: "150000" },
      policies: { type: "string", default: "10000" },
      "page-size": { type: "string", default: "500" },
      "list-only": { type: "boolean", default: false },
      "churn-seconds": { type: "string", default: "0" },
      "events-per-second": { type: "string", default: "1000" },
      "heap-snapshot": { type: "string" },
      "heap-profile": { type: "string" },
      out: { type: "string" },
    },
  });
  const shape = {
    nodes: Number(values.nodes),
    pods: Number(values.pods),
    policies: Number(values.policies),
  };
  const pageSize = Number(values["page-size"]);
  const dir = await Deno.makeTempDir({ prefix: "tern-profile-" });
  const fake = await startFake(dir, shape);
  const say = (text: string) => console.log(text);
  try {
    say(`fake: ${JSON.stringify(shape)} generated in ${fake.loadS.toFixed(1)} s`);
    say(`load average ${(await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3)}`);
    const connection = await resolveConnection({ kubeconfig: fake.kubeconfig });
    say(`before: ${JSON.stringify(memory())}`);

    const source = new KubernetesSource(new KubeClient(connection), {
      reflector: { pageSize },
    });
    let [snapshot, listTime] = await timed(() => source.list());
    say(
      `KubernetesSource.list(): ${listTime} (${snapshot.pods.length} pods, ${snapshot.nodes.length} nodes, ${snapshot.others.length} others, ${snapshot.errors.length} errors); ${
        JSON.stringify(memory())
      }`,
    );
    // As ternd keeps it on the kube-scale bench's node (the last one): only that node's pods
    // indexed by node.
    const state = new ClusterState({ node: `node-${String(shape.nodes - 1).padStart(5, "0")}` });
    const [, resetTime] = await timed(() => state.reset(snapshot));
    // ternd drops the snapshot once the state holds it: so does this.
    snapshot = undefined as unknown as typeof snapshot;
    say(
      `ClusterState.reset(): ${resetTime}; ${JSON.stringify(memory())}`,
    );
    const mib = (n: number) => Math.round(n / 2 ** 20);
    say(
      `V8's spaces, committed/used MiB: ${
        getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) =>
          `${s.space_name} ${mib(s.space_size)}/${mib(s.space_used_size)}`
        ).join(", ")
      }`,
    );
    if (values["heap-snapshot"] !== undefined) {
      say(
        `heap snapshot: ${writeHeapSnapshot(values["heap-snapshot"])} (${state.resourceVersion})`,
      );
    }
    const churnS = Number(values["churn-seconds"]);
    if (churnS > 0) {
      await churn(source, state, `${dir}/admin.sock`, churnS, {
        eventsPerSecond: Number(values["events-per-second"]),
        heapProfile: values["heap-profile"] === undefined
          ? undefined
          : Number(values["heap-profile"]),
        out: values.out,
      });
    }
    await source.close();

    if (values["list-only"]) return;
    // The parts of the pods' list, with the bare client.
    const client = new KubeClient(connection);
    try {
      const [raw, pages] = await timed(() => client.listAll<KubeObject>(POD_TYPE, { pageSize }));
      const trim = KUBERNETES_KINDS.find((k) => k.type === POD_TYPE)!.trim;
      const [trimmed, trimTime] = await timed(() =>
        raw.items.map((o) => ({ ...trim(o), apiVersion: "v1", kind: "Pod" }))
      );
      const [fast, fastTime] = await timed(() =>
        trimmed.filter((o) => validPod(o) !== undefined).length
      );
      const [bad, schemaTime] = await timed(() =>
        trimmed.filter((o) => parseManifestObject(o, { file: "profile" }).errors.length > 0)
          .length
      );
      say(
        `pods alone: ${raw.items.length} in ${raw.pages} pages: pages (request, body, JSON) ${pages}, trim ${trimTime}, validate: fast path ${fastTime} (${fast} taken), schema ${schemaTime} (${bad} invalid)`,
      );
    } finally {
      client.close();
    }
  } finally {
    try {
      fake.child.kill("SIGKILL");
    } catch { /* gone */ }
    await fake.child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();

/**
 * The daemon's metrics end to end, without root: a daemon on fake `ip` and `nft`, requests made
 * as the plugin makes them (its client says the CNI command), and `GET /metrics` scraped over
 * the Unix socket and, with `metrics.listen`, over TCP on loopback.
 */
import { assert, assertEquals, assertStringIncludes } from "../test/assert.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import { parseExposition, sampleValue } from "../src/metrics/parse_exposition.ts";
import { hostVethName } from "../src/names.ts";
import type { Runner } from "../src/runner.ts";
import type { Spawner } from "../src/lib/process_monitor.ts";
import { runDaemon } from "./main.ts";

/** `ip` with no routes and no links; `nft` that takes every transaction and lists no table. */
const fakeRunner: Runner = (argv) => {
  if (argv[0] === "nft" && !argv.includes("-f")) {
    return Promise.resolve({ code: 1, stdout: "", stderr: "Error: No such file or directory" });
  }
  return Promise.resolve({ code: 0, stdout: argv.includes("-json") ? "[]" : "", stderr: "" });
};

/** An `ip monitor` that prints nothing until it is killed. */
const fakeSpawn: Spawner = () => {
  const ended = Promise.withResolvers<number>();
  return {
    lines: {
      [Symbol.asyncIterator]: () => ({
        next: () => ended.promise.then((): IteratorResult<string> => ({ done: true, value: "" })),
      }),
    },
    status: ended.promise,
    stderr: () => Promise.resolve(""),
    kill: () => ended.resolve(143),
  };
};

/** A port nobody listens on now (the kernel's choice, released at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A daemon's socket, and where its veths' `rp_filter` files are (a veth "exists" there). */
interface Node {
  socket: string;
  conf: string;
}

/** Runs a daemon with `extra` config, gives `fn` its socket, stops it; returns the exit code. */
async function withDaemon(
  extra: string,
  fn: (node: Node) => Promise<void>,
): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "ternd-metrics-" });
  try {
    await Deno.writeTextFile(`${dir}/ip_forward`, "0\n");
    await Deno.mkdir(`${dir}/conf`);
    const socket = `${dir}/run/ternd.sock`;
    await Deno.writeTextFile(
      `${dir}/ternd.yaml`,
      [
        "nodeName: test-node",
        "podCIDRs: [10.244.1.0/24]",
        `socket: ${socket}`,
        `stateFile: ${dir}/lib/state.kv`,
        "log: {level: error}",
        extra,
      ].join("\n"),
    );
    const stop = new AbortController();
    const ready = Promise.withResolvers<void>();
    const exit = runDaemon(["--config", `${dir}/ternd.yaml`], {
      runner: fakeRunner,
      spawn: fakeSpawn,
      nftGeneration: {
        read: () => 1,
        commit: (signal) =>
          new Promise((resolve) => signal.addEventListener("abort", () => resolve(false))),
      },
      ipForwardPath: `${dir}/ip_forward`,
      rpFilterDir: `${dir}/conf`,
      stop: stop.signal,
      onReady: () => ready.resolve(),
    });
    if (await Promise.race([ready.promise.then(() => true), exit.then(() => false)])) {
      try {
        await fn({ socket, conf: `${dir}/conf` });
      } finally {
        stop.abort();
      }
    }
    return await exit;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** ADD as the plugin does it: allocate, then program, its client saying the command. */
async function add(node: Node, containerID: string): Promise<string> {
  const plugin = new DaemonClient(node.socket, { cniCommand: "ADD" });
  const hostVeth = await hostVethName(containerID, "eth0");
  await Deno.mkdir(`${node.conf}/${hostVeth}`); // the veth the plugin made
  const base = {
    containerID,
    ifname: "eth0",
    network: "tern",
    netns: `/var/run/netns/${containerID}`,
  };
  const { ip } = await plugin.allocate(base);
  await plugin.program({
    ...base,
    hostVeth,
    podMac: "0e:00:00:00:00:01",
    ip,
  });
  return ip;
}

Deno.test("runDaemon() serves /metrics on its socket, and the counts move with ADD and DEL", async () => {
  const code = await withDaemon("", async (node) => {
    const cli = new DaemonClient(node.socket);
    const scrape = async () => parseExposition(await cli.metrics());
    const value = (
      families: Awaited<ReturnType<typeof scrape>>,
      name: string,
      labels: Record<string, string> = {},
    ) => sampleValue(families, name, labels);
    const ok = (command: string) => ({ command, result: "ok" });
    const pool = { pool: "10.244.1.0/24" };

    const before = await scrape();
    assertEquals(value(before, "tern_ready"), 1);
    assertEquals(value(before, "tern_ipam_pool_capacity_addresses", pool), 254);
    assertEquals(value(before, "tern_ipam_pool_allocated_addresses", pool), 0);
    assertEquals(value(before, "tern_cni_command_duration_seconds_count", ok("ADD")), undefined);
    assert(value(before, "tern_reconcile_passes_total", { result: "ok" })! >= 1, "the first pass");
    assert(value(before, "tern_policy_runs_total", { kind: "whole" })! >= 1, "the whole table");
    assert(value(before, "process_resident_memory_bytes")! > 0);

    await add(node, "c1");
    await add(node, "c2");
    const added = await scrape();
    assertEquals(value(added, "tern_cni_command_duration_seconds_count", ok("ADD")), 2);
    assertEquals(value(added, "tern_ipam_pool_allocated_addresses", pool), 2);
    assertEquals(
      value(added, "tern_api_request_duration_seconds_count", {
        operation: "program",
        code: "200",
      }),
      2,
    );
    // Each program waited for its policy: the change reached the (fake) kernel.
    assert(value(added, "tern_policy_programming_duration_seconds_count")! >= 1);
    assertEquals(value(added, "tern_policy_pods", { state: "programmed" }), 2);

    const plugin = new DaemonClient(node.socket, { cniCommand: "DEL" });
    await plugin.release({ containerID: "c1", ifname: "eth0", network: "tern" });
    await plugin.release({ containerID: "gone", ifname: "eth0", network: "tern" }); // already gone: ok
    const deleted = await scrape();
    assertEquals(value(deleted, "tern_cni_command_duration_seconds_count", ok("DEL")), 2);
    assertEquals(value(deleted, "tern_ipam_pool_allocated_addresses", pool), 1);
    // The CLI's requests are not CNI commands.
    assertEquals(
      deleted.find((f) => f.name === "tern_cni_command_duration_seconds")!.samples
        .filter((s) => s.name.endsWith("_count")).map((s) => s.labels.command).sort(),
      ["ADD", "DEL"],
    );
  });
  assertEquals(code, 0);
});

Deno.test("runDaemon() with metrics.listen serves the same metrics over TCP, and only them", async () => {
  const port = freePort();
  const code = await withDaemon(`metrics: {listen: "127.0.0.1:${port}"}`, async (node) => {
    await add(node, "c1");
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assertEquals(res.status, 200);
    assertStringIncludes(res.headers.get("content-type")!, "text/plain; version=0.0.4");
    const families = parseExposition(await res.text());
    assertEquals(
      sampleValue(families, "tern_cni_command_duration_seconds_count", {
        command: "ADD",
        result: "ok",
      }),
      1,
    );
    const api = await fetch(`http://127.0.0.1:${port}/v1/endpoints`);
    assertEquals(api.status, 404, "the API stays on the socket");
    await api.body?.cancel();
  });
  assertEquals(code, 0);
  // Stopped with the daemon.
  const refused = await fetch(`http://127.0.0.1:${port}/metrics`).then(() => false, () => true);
  assert(refused, "nothing listens after the daemon stopped");
});

import { assert, assertEquals, assertStringIncludes } from "../test/assert.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import type { Runner } from "../src/runner.ts";
import { runDaemon } from "./main.ts";

/** A fake `ip` with no routes and no links: the daemon never touches the kernel here. */
const calls: string[] = [];
const fakeIp: Runner = (argv) => {
  calls.push(argv.join(" "));
  const json = argv.includes("-json");
  return Promise.resolve({ code: 0, stdout: json ? "[]" : "", stderr: "" });
};

interface Env {
  dir: string;
  socket: string;
  stateFile: string;
  ipForward: string;
  writeConfig(podCIDRs: string[]): Promise<string>;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ternd-main-" });
  try {
    const ipForward = `${dir}/ip_forward`;
    await Deno.writeTextFile(ipForward, "0\n");
    const env: Env = {
      dir,
      socket: `${dir}/run/ternd.sock`,
      stateFile: `${dir}/lib/state.kv`,
      ipForward,
      async writeConfig(podCIDRs) {
        const path = `${dir}/ternd.yaml`;
        await Deno.writeTextFile(
          path,
          [
            "nodeName: test-node",
            `podCIDRs: [${podCIDRs.join(", ")}]`,
            `socket: ${env.socket}`,
            `stateFile: ${env.stateFile}`,
            "log: {level: error}",
          ].join("\n"),
        );
        return path;
      },
    };
    await fn(env);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts the daemon, runs `fn` against it, stops it; returns the exit code. */
async function session(
  env: Env,
  args: string[],
  fn: (client: DaemonClient) => Promise<void>,
): Promise<number> {
  const stop = new AbortController();
  const ready = Promise.withResolvers<void>();
  const exit = runDaemon(args, {
    runner: fakeIp,
    ipForwardPath: env.ipForward,
    stop: stop.signal,
    onReady: () => ready.resolve(),
  });
  const started = await Promise.race([ready.promise.then(() => true), exit.then(() => false)]);
  if (started) {
    try {
      await fn(new DaemonClient(env.socket));
    } finally {
      stop.abort();
    }
  }
  return await exit;
}

Deno.test("runDaemon() serves the API on the socket and stops cleanly, removing it", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    let allocated = "";
    const code = await session(env, ["--config", config], async (client) => {
      const info = await Deno.lstat(env.socket);
      assertEquals(info.mode! & 0o777, 0o600);
      const status = await client.status();
      assertEquals(status.ready, true);
      assertEquals(status.node, "test-node");
      assertEquals(status.pools, [{ cidr: "10.244.1.0/24", capacity: 254, used: 0, free: 254 }]);
      const res = await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/c1",
      });
      allocated = res.ip;
      assertEquals(res.created, true);
    });
    assertEquals(code, 0);
    assertEquals(await Deno.lstat(env.socket).then(() => true, () => false), false);
    assertEquals(await Deno.readTextFile(env.ipForward), "1\n");
    assert(calls.includes("ip -json route show proto 116"), "resync listed tern's routes");

    // State survives a restart: the same identity gets the same address back.
    const again = await session(env, ["--config", config], async (client) => {
      const res = await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/c1",
      });
      assertEquals(res, {
        ip: allocated,
        podCIDR: "10.244.1.0/24",
        gateway: "169.254.1.1",
        created: false,
      });
      assertEquals((await client.status()).endpoints, 1);
    });
    assertEquals(again, 0);
  }));

Deno.test("runDaemon() refuses allocations outside podCIDRs unless --release-outside-pools", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    await session(env, ["--config", config], async (client) => {
      await client.allocate({
        containerID: "c1",
        ifname: "eth0",
        network: "tern",
        netns: "/ns/c1",
      });
    });
    await env.writeConfig(["10.244.2.0/24"]);
    const refused = await session(env, ["--config", config], () => {
      throw new Error("The daemon started with an allocation outside its pools");
    });
    assertEquals(refused, 1);
    const released = await session(
      env,
      ["--config", config, "--release-outside-pools"],
      async (client) => {
        assertEquals(await client.endpoints(), []);
      },
    );
    assertEquals(released, 0);
  }));

Deno.test("runDaemon() refuses to start beside a live daemon on the same socket", () =>
  withEnv(async (env) => {
    const config = await env.writeConfig(["10.244.1.0/24"]);
    const code = await session(env, ["--config", config], async (client) => {
      const second = await runDaemon(["--config", config], {
        runner: fakeIp,
        ipForwardPath: env.ipForward,
      });
      assertEquals(second, 1);
      assertEquals((await client.status()).ready, true);
    });
    assertEquals(code, 0);
  }));

Deno.test("runDaemon() exits 1 on a bad config, 2 on bad flags and 0 on --help", async () => {
  assertEquals(await runDaemon(["--config", "/nonexistent/ternd.yaml"]), 1);
  assertEquals(await runDaemon(["--bogus"]), 2);
  assertEquals(await runDaemon(["--help"]), 0);
});

Deno.test("USAGE documents every flag", async () => {
  const { USAGE } = await import("./main.ts");
  for (const flag of ["--config", "--release-outside-pools", "--help"]) {
    assertStringIncludes(USAGE, flag);
  }
});

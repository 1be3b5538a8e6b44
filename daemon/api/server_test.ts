import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { DaemonClient } from "../../src/daemon_client.ts";
import type { Handler } from "./handler.ts";
import { probeSocket, serveUnix, SocketInUseError } from "./server.ts";

const handler: Handler = (req) =>
  Promise.resolve(Response.json({ path: new URL(req.url).pathname, method: req.method }));

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ternd-server-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("serveUnix() creates the socket with mode 0600 and answers over it", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/run/tern/ternd.sock`;
    const server = await serveUnix(handler, { path });
    try {
      const info = await Deno.lstat(path);
      assert(info.isSocket);
      assertEquals((info.mode! & 0o777).toString(8), "600");
      assertEquals(((await Deno.stat(`${dir}/run/tern`)).mode! & 0o777).toString(8), "700");
      const body = await new DaemonClient(path).request("POST", "/v1/gc", { network: "x" });
      assertEquals(body, { path: "/v1/gc", method: "POST" });
      // No temporary name is left behind.
      const names = [];
      for await (const entry of Deno.readDir(`${dir}/run/tern`)) names.push(entry.name);
      assertEquals(names, ["ternd.sock"]);
    } finally {
      await server.shutdown();
    }
    assertEquals(await probeSocket(path), "absent");
  }));

Deno.test("serveUnix() refuses to start while a live daemon answers on the socket", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/ternd.sock`;
    const first = await serveUnix(handler, { path });
    try {
      assertEquals(await probeSocket(path), "live");
      await assertRejects(() => serveUnix(handler, { path }), SocketInUseError, "another ternd");
      const body = await new DaemonClient(path).request("GET", "/v1/status");
      assertEquals(body, { path: "/v1/status", method: "GET" });
    } finally {
      await first.shutdown();
    }
  }));

Deno.test("serveUnix() replaces a stale socket left by a dead daemon", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/ternd.sock`;
    // A process that exits without closing its listener leaves the socket file behind.
    const code = `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0);`;
    await new Deno.Command(Deno.execPath(), { args: ["eval", code] }).output();
    assertEquals(await probeSocket(path), "stale");
    const server = await serveUnix(handler, { path });
    try {
      assertEquals(await probeSocket(path), "live");
      assertEquals(((await Deno.lstat(path)).mode! & 0o777).toString(8), "600");
    } finally {
      await server.shutdown();
    }
  }));

Deno.test("serveUnix() never deletes a path that is not a socket", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/ternd.sock`;
    await Deno.writeTextFile(path, "precious");
    await assertRejects(() => serveUnix(handler, { path }), Error, "exists and is not a socket");
    assertEquals(await Deno.readTextFile(path), "precious");
  }));

Deno.test("shutdown() leaves a socket that a newer daemon bound in its place", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/ternd.sock`;
    const old = await serveUnix(handler, { path });
    await Deno.remove(path);
    const newer = await serveUnix(handler, { path });
    try {
      await old.shutdown();
      assertEquals(await probeSocket(path), "live");
    } finally {
      await newer.shutdown();
    }
  }));

import { assert, assertEquals, assertRejects, assertThrows } from "../test/assert.ts";
import {
  DaemonApiError,
  DaemonClient,
  DaemonUnavailableError,
  MalformedResponseError,
  parseHttpResponse,
} from "./daemon_client.ts";

const enc = new TextEncoder();

Deno.test("parseHttpResponse() reads Content-Length and chunked bodies", () => {
  const plain = parseHttpResponse(
    enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}"),
  );
  assertEquals([plain.status, plain.body, plain.headers.get("x-a")], [200, "{}", "b"]);
  const chunked = parseHttpResponse(
    enc.encode(
      'HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n',
    ),
  );
  assertEquals([chunked.status, chunked.body], [404, '{"a":1}']);
});

async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (client: DaemonClient, socket: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "tern-client-" });
  const socket = `${dir}/s.sock`;
  const server = Deno.serve({ path: socket, onListen() {} }, handler);
  try {
    await fn(new DaemonClient(socket, { timeoutMs: 2000 }), socket);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DaemonClient sends JSON bodies and parses JSON answers over a Unix socket", async () => {
  await withServer(async (req) => {
    const body = await req.json();
    return Response.json({
      ip: "10.0.0.2",
      podCIDR: "10.0.0.0/24",
      gateway: "169.254.1.1",
      created: body.containerID === "c1",
    });
  }, async (client) => {
    const res = await client.allocate({
      network: "n",
      containerID: "c1",
      ifname: "eth0",
      netns: "/x",
    });
    assertEquals(res.created, true);
    assertEquals(res.ip, "10.0.0.2");
  });
});

Deno.test("DaemonClient turns {error, reason} answers into DaemonApiError and 404 endpoint into undefined", async () => {
  await withServer((req) => {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/v1/endpoints/")) {
      return Response.json({ error: "No endpoint", reason: "not_found" }, { status: 404 });
    }
    return Response.json({ error: "No free address in 10.0.0.0/30", reason: "exhausted" }, {
      status: 503,
    });
  }, async (client) => {
    assertEquals(await client.endpoint({ containerID: "c", ifname: "eth0" }), undefined);
    const err = await assertRejects(() => client.status(), DaemonApiError, "No free address");
    assertEquals([err.status, err.reason], [503, "exhausted"]);
  });
});

Deno.test("DaemonClient reports a missing socket as DaemonUnavailableError naming the path", async () => {
  const client = new DaemonClient("/nonexistent/tern.sock", { timeoutMs: 500 });
  await assertRejects(() => client.status(), DaemonUnavailableError, "/nonexistent/tern.sock");
});

Deno.test("DaemonClient gives up after timeoutMs when the daemon never answers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-client-" });
  const socket = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    const client = new DaemonClient(socket, { timeoutMs: 200 });
    await assertRejects(() => client.status(), DaemonUnavailableError, "no answer within 200 ms");
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseHttpResponse() rejects what is not HTTP with a MalformedResponseError", () => {
  assertThrows(
    () => parseHttpResponse(enc.encode("HTTP/1.1 200 OK\r\nX: y")),
    MalformedResponseError,
    "Malformed HTTP response: no end of headers",
  );
  assertThrows(
    () => parseHttpResponse(enc.encode("SMTP ready\r\n\r\n")),
    MalformedResponseError,
    'status line "SMTP ready"',
  );
});

Deno.test("DaemonClient reports a malformed answer as such, not as an unreachable daemon", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-client-" });
  const socket = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    await conn.write(enc.encode("garbage without headers"));
    conn.close();
  })();
  try {
    await assertRejects(
      () => new DaemonClient(socket, { timeoutMs: 2000 }).endpoints(),
      MalformedResponseError,
      "no end of headers",
    );
  } finally {
    await served;
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DaemonClient of the plugin says its CNI command and the time so far in each request; the CLI's says nothing", async () => {
  const seen: (string | null)[] = [];
  await withServer((req) => {
    seen.push(req.headers.get("tern-cni"));
    return Response.json({ released: false });
  }, async (client, socket) => {
    await client.release({ containerID: "c1", ifname: "eth0" });
    await new DaemonClient(socket, { cniCommand: "DEL" }).release({
      containerID: "c",
      ifname: "e",
    });
    await new DaemonClient(socket, { cniCommand: "DEL\r\nX: y" }).release({
      containerID: "c",
      ifname: "e",
    });
  });
  assertEquals(seen[0], null);
  const [command, ms] = seen[1]!.split(" ");
  assertEquals(command, "DEL");
  // The time since this process's runtime started: positive, and below what it has run.
  assertEquals(Number(ms) > 0 && Number(ms) <= performance.now(), true);
  assertEquals(seen[2], null);
});

/** A daemon from before `POST /v1/endpoints/add`: allocate, program and release only. */
function olderDaemon(seen: string[], options: { failProgram?: boolean } = {}) {
  return async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    const body = await req.json();
    if (path === "/v1/ipam/allocate") {
      return Response.json({
        ip: "10.244.1.7",
        podCIDR: "10.244.1.0/24",
        gateway: "169.254.1.1",
        created: true,
      });
    }
    if (path === "/v1/endpoints" && !options.failProgram) {
      return Response.json({ ...body, podCIDR: "10.244.1.0/24", state: "programmed" });
    }
    if (path === "/v1/endpoints") {
      return Response.json({ error: "Cannot program", reason: "internal" }, { status: 500 });
    }
    if (path === "/v1/endpoints/release") return Response.json({ released: true });
    return Response.json({ error: `No such API path: ${path}`, reason: "not_found" }, {
      status: 404,
    });
  };
}

const addRequest = {
  containerID: "c1",
  ifname: "eth0",
  network: "tern",
  netns: "/var/run/netns/p",
  hostVeth: "tern0123456789a",
  podMac: "0a:58:0a:f4:01:07",
};

Deno.test("DaemonClient.add() against a daemon without that path allocates, then programs", async () => {
  const seen: string[] = [];
  await withServer(olderDaemon(seen), async (client) => {
    const added = await client.add(addRequest);
    assertEquals([added.ip, added.created, added.state], ["10.244.1.7", true, "programmed"]);
  });
  assertEquals(seen, ["/v1/endpoints/add", "/v1/ipam/allocate", "/v1/endpoints"]);
});

Deno.test("DaemonClient.add() against a daemon without that path releases the address when program fails", async () => {
  const seen: string[] = [];
  await withServer(olderDaemon(seen, { failProgram: true }), async (client) => {
    await assertRejects(() => client.add(addRequest), DaemonApiError, "Cannot program");
  });
  assertEquals(seen, [
    "/v1/endpoints/add",
    "/v1/ipam/allocate",
    "/v1/endpoints",
    "/v1/endpoints/release",
  ]);
});

Deno.test("DaemonClient.connectAhead() opens the next request's connection, which that request uses", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-client-" });
  const socket = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  const client = new DaemonClient(socket, { timeoutMs: 2000 });
  try {
    client.connectAhead();
    // Accepted before any request is made: the connection was opened ahead.
    const conn = await listener.accept();
    const answering = (async () => {
      await conn.read(new Uint8Array(4096));
      await conn.write(enc.encode('HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{"endpoints":[]}'));
      conn.close();
    })();
    assertEquals(await client.endpoints(), []);
    await answering;
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DaemonClient.connectAhead() to a daemon that is down is reported by the next request", async () => {
  const client = new DaemonClient("/nonexistent/tern.sock", { timeoutMs: 500 });
  client.connectAhead();
  await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
  await assertRejects(() => client.status(), DaemonUnavailableError, "/nonexistent/tern.sock");
});

Deno.test("DaemonClient.connectAhead() arms the next request's timeout: the bound counts from there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-client-" });
  const socket = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  const client = new DaemonClient(socket, { timeoutMs: 100 });
  try {
    client.connectAhead();
    const conn = await listener.accept();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 60));
    // The daemon never answers: the request fails 100 ms after connectAhead, not after itself.
    await assertRejects(() => client.status(), DaemonUnavailableError, "no answer within 100 ms");
    const took = performance.now() - started;
    assert(took < 160, `failed ${took.toFixed(0)} ms after connectAhead`);
    conn.close();
    await new Promise((resolve) => setTimeout(resolve, 120));
    client.connectAhead();
    const late = await listener.accept();
    await new Promise((resolve) => setTimeout(resolve, 120));
    await assertRejects(() => client.status(), DaemonUnavailableError, "no answer within 100 ms");
    late.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DaemonClient.attach() runs whileWaiting once the request is sent, before its answer is read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-client-" });
  const socket = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  const client = new DaemonClient(socket, { timeoutMs: 2000 });
  const events: string[] = [];
  try {
    const answering = (async () => {
      const conn = await listener.accept();
      const n = await conn.read(new Uint8Array(4096));
      events.push(`daemon read ${n! > 0 ? "the request" : "nothing"}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const body = JSON.stringify({ ip: "10.244.1.7", created: true });
      events.push("daemon answers");
      await conn.write(
        enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
      );
      conn.close();
    })();
    const added = await client.attach({ ...addRequest, mtu: 1500 }, {
      whileWaiting: () => {
        events.push("whileWaiting");
        throw new Error("ignored");
      },
    });
    await answering;
    assertEquals(added.ip, "10.244.1.7");
    // whileWaiting and the daemon's read race; both come before the answer.
    assertEquals(events.slice(0, 2).sort(), ["daemon read the request", "whileWaiting"]);
    assertEquals(events[2], "daemon answers");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

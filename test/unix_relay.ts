/**
 * A relay from a Unix socket to a TCP address, run inside a network namespace
 * (`ip netns exec <ns> deno run --allow-net --allow-read --allow-write unix_relay.ts <socket>
 * <host:port>`). A Unix socket is a file, and files are shared across network namespaces: so
 * the test process, which stays in the root namespace, reaches a server that listens only inside
 * the sandbox (the fake API server on the fabric) without any address or route in the root
 * namespace. Prints `listening` once the socket accepts connections; each connection is piped
 * both ways to a new TCP connection, and closed when either side ends.
 * @module
 */

/** Pipes `a` and `b` into each other until either side ends, then closes both. */
export async function pipeBoth(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  const close = () => {
    for (const c of [a, b]) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  };
  await Promise.race([
    a.readable.pipeTo(b.writable, { preventClose: true }).catch(() => {}),
    b.readable.pipeTo(a.writable, { preventClose: true }).catch(() => {}),
  ]);
  close();
}

/** Serves `socket`, relaying each connection to `hostname`:`port`, until the process ends. */
export async function relay(socket: string, hostname: string, port: number): Promise<void> {
  await Deno.remove(socket).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: socket });
  console.log("listening");
  for await (const conn of listener) {
    Deno.connect({ hostname, port }).then(
      (upstream) => pipeBoth(conn, upstream),
      (err) => {
        console.error(`Cannot connect to ${hostname}:${port}: ${err.message}`);
        conn.close();
      },
    );
  }
}

if (import.meta.main) {
  const [socket, target] = Deno.args;
  const m = /^(.+):(\d+)$/.exec(target ?? "");
  if (socket === undefined || !m) {
    console.error("Usage: unix_relay.ts <unix socket path> <host:port>");
    Deno.exit(2);
  }
  await relay(socket, m[1]!, Number(m[2]));
}

/**
 * A TCP server that answers every connection with the address it came from, one line, and
 * closes: the receiver's view of the sender, which proves there is no NAT on the way. Run inside
 * a namespace as `deno run --allow-net peer_echo_server.ts PORT`; prints `listening` once bound.
 * @module
 */
const port = Number(Deno.args[0] ?? 7777);
const listener = Deno.listen({ hostname: "0.0.0.0", port });
console.log("listening");
const encoder = new TextEncoder();
for await (const conn of listener) {
  const peer = conn.remoteAddr as Deno.NetAddr;
  conn.write(encoder.encode(`${peer.hostname}\n`)).catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch {
      // the client went first
    }
  });
}

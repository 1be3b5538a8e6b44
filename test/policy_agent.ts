/**
 * The policy scenarios' agent, one per pod netns: it serves TCP and UDP on the ports of
 * {@linkcode AGENT_PORTS} (TCP answers `ok` and closes; UDP echoes the datagram), and runs probes
 * asked on stdin, one per line: `<id> <tcp|udp> <ip> <port> <timeoutMs>`, answered on stdout as
 * `<id> 1` (a TCP connection that read `ok`, a UDP reply) or `<id> 0`; and
 * `<id> rate <ip> <port> <ms>`: TCP connections completed in `ms` by 4 loops, `<id> <count>
 * <failed>`. Prints `listening` once every server is bound. Run as
 * `deno run --allow-net --unstable-net policy_agent.ts` inside the pod's namespace.
 * @module
 */

/** The ports served, on both TCP and UDP. */
export const AGENT_PORTS = [80, 81, 53];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function serveTcp(port: number) {
  const listener = Deno.listen({ hostname: "0.0.0.0", port });
  for await (const conn of listener) {
    conn.write(encoder.encode("ok\n")).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch {
        // the client went first
      }
    });
  }
}

async function serveUdp(port: number) {
  const socket = Deno.listenDatagram({ hostname: "0.0.0.0", port, transport: "udp" });
  for await (const [data, addr] of socket) socket.send(data, addr).catch(() => {});
}

function timeout(ms: number): { promise: Promise<false>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  return { promise, cancel: () => clearTimeout(timer) };
}

async function probeTcp(ip: string, port: number, ms: number): Promise<boolean> {
  const controller = new AbortController();
  const t = timeout(ms);
  const attempt = (async () => {
    const conn = await Deno.connect({ hostname: ip, port, signal: controller.signal });
    try {
      const buf = new Uint8Array(16);
      const n = await conn.read(buf);
      return n !== null && decoder.decode(buf.subarray(0, n)).startsWith("ok");
    } finally {
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  })().catch(() => false);
  const ok = await Promise.race([attempt, t.promise]);
  t.cancel();
  if (!ok) controller.abort();
  return ok;
}

async function probeUdp(ip: string, port: number, ms: number): Promise<boolean> {
  const socket = Deno.listenDatagram({ hostname: "0.0.0.0", port: 0, transport: "udp" });
  const t = timeout(ms);
  try {
    const attempt = (async () => {
      await socket.send(encoder.encode("probe"), { transport: "udp", hostname: ip, port });
      const [data] = await socket.receive();
      return decoder.decode(data) === "probe";
    })().catch(() => false);
    return await Promise.race([attempt, t.promise]);
  } finally {
    t.cancel();
    socket.close();
  }
}

/**
 * How many TCP connections (connect, read `ok`, close) 4 loops complete in `ms`, and how many
 * attempts failed (each failure costs its loop up to 1 s: one lost SYN shows in the rate).
 */
async function connectRate(
  ip: string,
  port: number,
  ms: number,
): Promise<{ count: number; failed: number }> {
  const end = performance.now() + ms;
  let count = 0;
  let failed = 0;
  const loop = async () => {
    while (performance.now() < end) {
      if (await probeTcp(ip, port, 1000)) count++;
      else failed++;
    }
  };
  await Promise.all([loop(), loop(), loop(), loop()]);
  return { count, failed };
}

async function main() {
  for (const port of AGENT_PORTS) {
    serveTcp(port).catch((e) => console.error(`tcp ${port}: ${e}`));
    serveUdp(port).catch((e) => console.error(`udp ${port}: ${e}`));
  }
  console.log("listening");
  let buffer = "";
  for await (const chunk of Deno.stdin.readable) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const [id, proto, ip, port, ms] = line.split(" ");
      if (proto === "rate") {
        connectRate(ip!, Number(port), Number(ms)).then((r) =>
          console.log(`${id} ${r.count} ${r.failed}`)
        );
        continue;
      }
      const run = proto === "udp" ? probeUdp : probeTcp;
      run(ip!, Number(port), Number(ms)).then((ok) => {
        console.log(`${id} ${ok ? 1 : 0}`);
      });
    }
  }
  Deno.exit(0);
}

if (import.meta.main) await main();

import { killChild } from "../src/lib/kill_child.ts";
/**
 * iperf3 between sandbox namespaces, as the public CNI benchmarks measure pod-to-pod
 * throughput: a server in the receiving namespace ({@linkcode startIperfServer}), a short client
 * run in the sending one ({@linkcode runIperf}) with JSON output, and {@linkcode parseIperf}, which
 * reads what the receiver got (TCP and UDP alike), the sender's TCP retransmits and the UDP loss.
 * @module
 */

/** One iperf3 measurement, from the receiver's side. */
export interface IperfResult {
  /** Throughput the receiver got, bits per second. */
  receivedBps: number;
  /** Throughput the sender pushed, bits per second. */
  sentBps: number;
  /** UDP: datagrams lost, percent of those sent. */
  lostPercent?: number;
  /** TCP: segments the sender retransmitted. */
  retransmits?: number;
}

/** The flow to measure. */
export interface IperfFlow {
  protocol: "tcp" | "udp";
  /** Parallel streams (`-P`). */
  streams: number;
  /** UDP: total target bitrate, bits per second, split evenly across the streams. */
  udpBps?: number;
}

/** The default port of the servers. */
export const IPERF_PORT = 5201;

/** UDP datagram size: below a 1500 MTU with IP and UDP headers, so nothing fragments. */
export const UDP_DATAGRAM_BYTES = 1400;

/** The client's arguments for a flow (pure). */
export function iperfArgs(
  ip: string,
  flow: IperfFlow,
  options: { seconds: number; port?: number },
): string[] {
  const args = ["iperf3", "-c", ip, "-p", String(options.port ?? IPERF_PORT), "-J"];
  args.push("-t", String(options.seconds), "-P", String(flow.streams));
  if (flow.protocol === "udp") {
    const perStream = Math.round((flow.udpBps ?? 1e9) / flow.streams);
    args.push("-u", "-b", String(perStream), "-l", String(UDP_DATAGRAM_BYTES));
  }
  return args;
}

/** Reads iperf3's `-J` output (pure); throws when it reports an error or lacks the sums. */
export function parseIperf(json: string): IperfResult {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new Error(`Cannot parse iperf3 output: not JSON: ${json.slice(0, 200)}`);
  }
  if (typeof doc.error === "string") throw new Error(`iperf3 failed: ${doc.error}`);
  const end = doc.end as Record<string, Record<string, number> | undefined> | undefined;
  const received = end?.sum_received;
  const sent = end?.sum_sent;
  if (!received || !sent) {
    throw new Error("Cannot parse iperf3 output: end.sum_received or end.sum_sent is missing");
  }
  const udp = (doc.start as { test_start?: { protocol?: string } } | undefined)?.test_start
    ?.protocol === "UDP";
  const result: IperfResult = {
    receivedBps: received.bits_per_second ?? NaN,
    sentBps: sent.bits_per_second ?? NaN,
  };
  if (udp) result.lostPercent = received.lost_percent ?? NaN;
  else if (sent.retransmits !== undefined) result.retransmits = sent.retransmits;
  return result;
}

/** A running iperf3 server; `stop()` kills it and waits. */
export interface IperfServer {
  stop(): Promise<void>;
}

/** `taskset -c cpu` before a command when `cpu` is given (pure). */
export function pinned(argv: string[], cpu: number | undefined): string[] {
  return cpu === undefined ? argv : ["taskset", "-c", String(cpu), ...argv];
}

/**
 * Starts `iperf3 -s` in `netns` and waits until it accepts connections; `cpu` pins it to one
 * CPU (`taskset`).
 */
export async function startIperfServer(
  netns: string,
  options: { port?: number; timeoutMs?: number; cpu?: number } = {},
): Promise<IperfServer> {
  const port = options.port ?? IPERF_PORT;
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", netns, ...pinned(["iperf3", "-s", "-p", String(port)], options.cpu)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    await killChild(child);
  };
  // Listening shows in the namespace's socket table; poll it rather than sleeping.
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  while (true) {
    const out = await new Deno.Command("ip", {
      args: ["netns", "exec", netns, "ss", "-Htln", `sport = :${port}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (new TextDecoder().decode(out.stdout).trim()) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`iperf3 server in ${netns} is not listening on ${port} after the timeout`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { stop };
}

/**
 * Runs the client of `flow` from `netns` to `ip` for `seconds` and parses its result; `cpu`
 * pins it to one CPU.
 */
export async function runIperf(
  netns: string,
  ip: string,
  flow: IperfFlow,
  options: { seconds: number; port?: number; cpu?: number },
): Promise<IperfResult> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", netns, ...pinned(iperfArgs(ip, flow, options), options.cpu)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!stdout.trim()) {
    throw new Error(
      `iperf3 from ${netns} to ${ip} printed nothing: exit ${out.code}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return parseIperf(stdout);
}

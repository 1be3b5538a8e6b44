/**
 * What one UDP datagram costs on the iperf bench's own nodes: tern's two nodes (daemons, tables,
 * sysctls as ternd made them) against ptp's two, same fabric, pod to pod on one node and across
 * nodes. `tools/udpsend` sends 1400-byte datagrams from the source pod pinned to CPU 1; a veth
 * hands a packet to its peer on the sending CPU, so the send loop's time per datagram is the CPU
 * cost of the whole path, both nodes included (datagram_cost.sh does the same on hand-built
 * namespaces). Unlike iperf, nothing here depends on where the receiver is scheduled.
 *
 * Variants take tern's node apart: `-rp0` sets `rp_filter` 0 on the sending host veth, `-nonft`
 * deletes `inet tern` on both nodes, `-hook` puts in its place a forward base chain with no rule,
 * `-bare` does both of the first two. The daemons are stopped (SIGSTOP) during the rounds so that
 * nothing puts back what a variant changed, and continued before the clean-up. Each round runs
 * every variant back to back, in the reverse order every other round; the figures are the median
 * ns per datagram and the median of the paired ratios ptp/variant (below 1: dearer than ptp).
 *
 * `flock -o /tmp/tern-heavy.lock deno run -A --unstable-kv scripts/node_datagram_cost.ts
 * [--rounds 20] [--datagrams 50000]` (about 2 minutes). Needs root, go (builds tools/udpsend).
 * @module
 */
import { parseArgs } from "node:util";
import { SandboxCluster } from "../test/sandbox_cluster.ts";
import { addPtpNode, addPtpPod, setUpPtpReference } from "../test/ptp_reference.ts";
import { must, type SandboxNode } from "../test/sandbox.ts";
import { medianOf, pairedRatios } from "./bench_policy.ts";

/** One variant's figures (pure output of {@linkcode summarizeDatagramCost}). */
export interface DatagramCostRow {
  variant: string;
  /** Median ns per datagram. */
  ns: number;
  /** Median of the paired ratios base/variant, and their 25th and 75th percentiles. */
  ratio: number;
  p25: number;
  p75: number;
}

/**
 * Each variant's median and its ratios against the base measured in the same rounds (pure):
 * `baseOf(variant)` names the base (ptp's cell of the same placement).
 */
export function summarizeDatagramCost(
  ns: Readonly<Record<string, readonly number[]>>,
  baseOf: (variant: string) => string,
): DatagramCostRow[] {
  return Object.entries(ns).map(([variant, values]) => {
    const base = ns[baseOf(variant)];
    if (base === undefined || base.length !== values.length) {
      throw new Error(`Cannot pair ${variant}: its base ${baseOf(variant)} has other rounds`);
    }
    // ptp/variant: a throughput ratio, below 1 where the variant costs more per datagram.
    const ratio = pairedRatios(values.map((v, i) => ({ base: v, value: base[i]! })));
    return {
      variant,
      ns: medianOf([...values]),
      ratio: ratio.median,
      p25: ratio.p25,
      p75: ratio.p75,
    };
  });
}

/** The rows as the script prints them (pure). */
export function formatDatagramCost(rows: readonly DatagramCostRow[]): string {
  return rows.map((r) =>
    `${r.variant.padEnd(16)} ${String(Math.round(r.ns)).padStart(6)} ns   ptp/variant ${
      r.ratio.toFixed(3)
    } (${r.p25.toFixed(3)}–${r.p75.toFixed(3)})`
  ).join("\n");
}

const UDPSEND = new URL("../tools/udpsend/udpsend", import.meta.url).pathname;
const PORT = 5300;
const EMPTY_HOOK = "table inet tern {\n  chain forward {\n" +
  "    type filter hook forward priority filter; policy accept;\n  }\n}\n";

async function ensureUdpsend(): Promise<void> {
  if (await Deno.stat(UDPSEND).then(() => true, () => false)) return;
  const built = await new Deno.Command("go", {
    args: ["build", "-o", "udpsend", "."],
    cwd: new URL("../tools/udpsend/", import.meta.url).pathname,
    env: { GOFLAGS: "-mod=mod" },
  }).output();
  if (!built.success) {
    throw new Error(`Cannot build tools/udpsend: ${new TextDecoder().decode(built.stderr)}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "20" },
      datagrams: { type: "string", default: "50000" },
    },
  });
  const rounds = Number(values.rounds);
  const datagrams = Number(values.datagrams);
  await ensureUdpsend();
  const cluster = await SandboxCluster.create({});
  const receivers: Deno.ChildProcess[] = [];
  let stopped: SandboxNode[] = [];
  /** A shell script in `netns` (stdin when given); its trimmed stdout, or throws. */
  const sh = async (netns: string, script: string, stdin?: string): Promise<string> =>
    (await must(
      ["ip", "netns", "exec", netns, "sh", "-c", script],
      stdin === undefined ? {} : { stdin },
    )).stdout.trim();
  try {
    const [n1, n2] = await cluster.addNodes(["node-1", "node-2"]) as [SandboxNode, SandboxNode];
    const r1 = await addPtpNode(cluster, "ptp-1");
    const r2 = await addPtpNode(cluster, "ptp-2");
    const ref = await setUpPtpReference(cluster, { nodes: [r1, r2] });
    const tern = {
      src: await cluster.addPod(n1, "tern-src"),
      same: await cluster.addPod(n1, "tern-same"),
      cross: await cluster.addPod(n2, "tern-cross"),
    };
    const ptp = {
      src: await addPtpPod(cluster, ref, r1, "ptp-src"),
      same: await addPtpPod(cluster, ref, r1, "ptp-same"),
      cross: await addPtpPod(cluster, ref, r2, "ptp-cross"),
    };
    for (const set of [tern, ptp]) {
      for (const to of [set.same, set.cross]) {
        const deadline = Date.now() + 15_000;
        while (!(await cluster.sb.ping(set.src.netns, to.ip!))) {
          if (Date.now() > deadline) throw new Error(`${set.src.name} cannot reach ${to.name}`);
        }
      }
    }
    const ternNodes = [n1, n2];
    const tables = new Map<string, string>();
    for (const node of ternNodes) {
      tables.set(node.netns, await sh(node.netns, "nft list table inet tern"));
    }
    for (const node of ternNodes) Deno.kill(node.daemon!.pid, "SIGSTOP");
    stopped = ternNodes;
    for (const pod of [tern.same, tern.cross, ptp.same, ptp.cross]) {
      receivers.push(
        new Deno.Command("ip", {
          args: ["netns", "exec", pod.netns, UDPSEND, "-recv", `0.0.0.0:${PORT}`],
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));

    const rpFilter = (value: 0 | 1) =>
      sh(
        n1.netns,
        `for f in /proc/sys/net/ipv4/conf/tern*/rp_filter; do echo ${value} > "$f"; done`,
      );
    /** tern's table as ternd made it, none, or a hooked chain with no rule, on both nodes. */
    const table = async (kind: "tern" | "none" | "hook") => {
      for (const node of ternNodes) {
        const want = kind === "tern" ? tables.get(node.netns)! : kind === "hook" ? EMPTY_HOOK : "";
        const have = await sh(node.netns, "nft list table inet tern 2>/dev/null || true");
        if (have === want.trim()) continue;
        if (have !== "") await sh(node.netns, "nft delete table inet tern");
        if (want !== "") await sh(node.netns, "nft -f -", want);
      }
    };
    type Variant = { from: string; to: string; set: () => Promise<void> };
    /** tern's path to `to`, its sending veth's rp_filter and its tables set first. */
    const ternPath = (to: string, rp: 0 | 1, kind: "tern" | "none" | "hook"): Variant => ({
      from: tern.src.netns,
      to,
      set: async () => (await rpFilter(rp), await table(kind)),
    });
    const variants: Record<string, Variant> = {
      "cross ptp": { from: ptp.src.netns, to: ptp.cross.ip!, set: async () => {} },
      "cross tern": ternPath(tern.cross.ip!, 1, "tern"),
      "cross tern-nonft": ternPath(tern.cross.ip!, 1, "none"),
      "same ptp": { from: ptp.src.netns, to: ptp.same.ip!, set: async () => {} },
      "same tern": ternPath(tern.same.ip!, 1, "tern"),
      "same tern-rp0": ternPath(tern.same.ip!, 0, "tern"),
      "same tern-nonft": ternPath(tern.same.ip!, 1, "none"),
      "same tern-hook": ternPath(tern.same.ip!, 1, "hook"),
      "same tern-bare": ternPath(tern.same.ip!, 0, "none"),
    };
    const ns: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      const names = Object.keys(variants);
      if (round % 2 === 1) names.reverse();
      for (const name of names) {
        const v = variants[name]!;
        await v.set();
        const out = await sh(v.from, `taskset -c 1 ${UDPSEND} ${v.to}:${PORT} ${datagrams}`);
        (ns[name] ??= []).push(Number(out.split(/\s+/)[0]));
      }
    }
    await rpFilter(1);
    await table("tern");
    console.log(
      `ns per 1400-byte datagram, sender pinned to CPU 1, ${rounds} rounds of ${datagrams}; ` +
        "ratio: median of the paired ptp/variant, p25–p75",
    );
    console.log(formatDatagramCost(summarizeDatagramCost(ns, (v) => `${v.split(" ")[0]} ptp`)));
  } finally {
    for (const r of receivers) {
      try {
        r.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    for (const node of stopped) {
      try {
        Deno.kill(node.daemon!.pid, "SIGCONT");
      } catch { /* already gone */ }
    }
    await cluster.cleanup();
  }
}

if (import.meta.main) await main();

/**
 * Scenario 7, drift: on a node with wired pods, someone else changes what tern set up, one thing
 * at a time: a pod's host route deleted, a stray rule with tern's protocol added, the pod's
 * gateway neighbour entry and its default route deleted inside the pod's namespace, a veth's
 * ready mark (interface group) cleared, IPv4 forwarding and a veth's `rp_filter` turned off, a
 * rule of the nftables table deleted, the whole table deleted. Each must come back as it was, and
 * the time from the tampering to the repair is reported (polled every 20 ms). The periodic pass,
 * `reconcile.interval`, bounds the repair of drift no event reports (sysctls, the pod side): 10 s
 * by default, 2 s at the fast size.
 * @module
 */
import { hostVethName } from "../../../src/names.ts";
import { READY_GROUP } from "../../../src/policy/render.ts";
import type { Sandbox, SandboxNode, SandboxPod } from "../../sandbox.ts";
import { auditNode } from "../audit.ts";
import { makePods, outcomeWithAudit, withChaosNode } from "../chaos_node.ts";
import type { ChaosScenario } from "../scenario.ts";

/** One kind of drift: how to make it, and how to tell it was repaired. */
interface Tampering {
  name: string;
  tamper: (sb: Sandbox, node: SandboxNode, pod: SandboxPod) => Promise<void>;
  repaired: (sb: Sandbox, node: SandboxNode, pod: SandboxPod) => Promise<boolean>;
}

const STRAY_RULE = ["from", "10.244.1.250", "lookup", "100", "priority", "1536", "protocol", "116"];

/** The table's listing without counters and handles, to compare before and after. */
async function tableText(sb: Sandbox, node: SandboxNode): Promise<string> {
  const out = await sb.exec(node.netns, ["nft", "list", "table", "inet", "tern"]);
  if (out.code !== 0) return "";
  return out.stdout.replace(/counter packets \d+ bytes \d+/g, "counter")
    .replace(/packets \d+ bytes \d+/g, "");
}

async function run(sb: Sandbox, netns: string, argv: string[]): Promise<string> {
  const out = await sb.exec(netns, argv);
  if (out.code !== 0) throw new Error(`${argv.join(" ")}: ${out.stderr.trim()}`);
  return out.stdout;
}

/**
 * The pod's gateway entry is permanent and names the host veth's MAC as the node has it now
 * (present with another MAC would pass a check for PERMANENT alone, and carry nothing).
 */
async function gatewayEntrySound(
  sb: Sandbox,
  node: SandboxNode,
  pod: SandboxPod,
  veth: (pod: SandboxPod) => Promise<string>,
): Promise<boolean> {
  const link = await sb.exec(node.netns, ["ip", "-json", "link", "show", await veth(pod)]);
  const mac = (JSON.parse(link.stdout || "[{}]")[0] as { address?: string }).address;
  const entry = await sb.exec(pod.netns, ["ip", "-json", "neigh", "show", "169.254.1.1"]);
  const found = (JSON.parse(entry.stdout || "[]") as {
    dev?: string;
    lladdr?: string;
    state?: string[];
  }[]).find((n) => n.dev === pod.ifname);
  return mac !== undefined && found?.lladdr === mac && (found.state ?? []).includes("PERMANENT");
}

function tamperings(table: () => string): Tampering[] {
  const veth = (pod: SandboxPod) => hostVethName(pod.containerID, pod.ifname);
  return [
    {
      name: "route",
      tamper: async (sb, node, pod) =>
        void await run(sb, node.netns, ["ip", "route", "del", `${pod.ip}/32`]),
      repaired: async (sb, node, pod) =>
        (await sb.exec(node.netns, ["ip", "route", "show", `${pod.ip}/32`, "proto", "116"])).stdout
          .includes(await veth(pod)),
    },
    {
      name: "rule",
      tamper: async (sb, node) =>
        void await run(sb, node.netns, ["ip", "rule", "add", ...STRAY_RULE]),
      repaired: async (sb, node) =>
        !(await sb.exec(node.netns, ["ip", "rule", "show"])).stdout.includes("10.244.1.250"),
    },
    {
      name: "neighbour",
      tamper: async (sb, _node, pod) =>
        void await run(sb, pod.netns, ["ip", "neigh", "del", "169.254.1.1", "dev", pod.ifname]),
      repaired: (sb, node, pod) => gatewayEntrySound(sb, node, pod, veth),
    },
    {
      // A permanent entry naming another MAC: present, but the pod's traffic goes nowhere.
      name: "neighbour-mac",
      tamper: async (sb, _node, pod) =>
        void await run(sb, pod.netns, [
          "ip",
          "neigh",
          "replace",
          "169.254.1.1",
          "lladdr",
          "0e:00:00:00:00:99",
          "dev",
          pod.ifname,
          "nud",
          "permanent",
        ]),
      repaired: (sb, node, pod) => gatewayEntrySound(sb, node, pod, veth),
    },
    {
      name: "pod-route",
      tamper: async (sb, _node, pod) =>
        void await run(sb, pod.netns, ["ip", "route", "del", "default"]),
      repaired: async (sb, _node, pod) =>
        (await sb.exec(pod.netns, ["ip", "route", "show", "default"])).stdout
          .includes(`via 169.254.1.1 dev ${pod.ifname}`),
    },
    {
      name: "veth-group",
      tamper: async (sb, node, pod) =>
        void await run(sb, node.netns, ["ip", "link", "set", await veth(pod), "group", "0"]),
      repaired: async (sb, node, pod) => {
        const out = await sb.exec(node.netns, ["ip", "-json", "link", "show", await veth(pod)]);
        return String(JSON.parse(out.stdout || "[{}]")[0]?.group) === String(READY_GROUP);
      },
    },
    {
      name: "ip-forward",
      tamper: async (sb, node) =>
        void await run(sb, node.netns, ["sysctl", "-qw", "net.ipv4.ip_forward=0"]),
      repaired: async (sb, node) =>
        (await sb.exec(node.netns, ["cat", "/proc/sys/net/ipv4/ip_forward"])).stdout.trim() === "1",
    },
    {
      name: "rp-filter",
      tamper: async (sb, node, pod) =>
        void await run(sb, node.netns, [
          "sysctl",
          "-qw",
          `net.ipv4.conf.${await veth(pod)}.rp_filter=0`,
        ]),
      repaired: async (sb, node, pod) =>
        (await sb.exec(node.netns, ["cat", `/proc/sys/net/ipv4/conf/${await veth(pod)}/rp_filter`]))
          .stdout.trim() === "1",
    },
    {
      name: "nft-rule",
      tamper: async (sb, node) => {
        const listing = await run(sb, node.netns, [
          "nft",
          "-a",
          "list",
          "chain",
          "inet",
          "tern",
          "forward",
        ]);
        const handle = /drop # handle (\d+)/.exec(listing)?.[1];
        if (handle === undefined) throw new Error(`No drop rule in the forward chain: ${listing}`);
        await run(sb, node.netns, [
          "nft",
          "delete",
          "rule",
          "inet",
          "tern",
          "forward",
          "handle",
          handle,
        ]);
      },
      repaired: async (sb, node) => (await tableText(sb, node)) === table(),
    },
    {
      name: "nft-table",
      tamper: async (sb, node) =>
        void await run(sb, node.netns, ["nft", "delete", "table", "inet", "tern"]),
      repaired: async (sb, node) => (await tableText(sb, node)) === table(),
    },
  ];
}

/** Scenario 7 of issue 13. */
export const driftScenario: ChaosScenario = {
  name: "drift",
  summary:
    "7. routes, rules, pod-side neighbour and route, ready marks, sysctls, nft table tampered: repaired",
  fast: true,
  run: (ctx) => {
    const timeoutMs = ctx.size === "fast" ? 12_000 : 25_000;
    const rounds = ctx.size === "fast" ? 1 : 3;
    // The fast size shortens the periodic pass, the bound of the repairs no event triggers.
    const extraConfig = ctx.size === "fast" ? "reconcile:\n  interval: 2s\n" : undefined;
    return withChaosNode(extraConfig ? { extraConfig } : {}, async (sb, node) => {
      const pods = await makePods(sb, node, 3);
      for (const pod of pods) await sb.driverAdd(pod);
      await auditNode(node, { live: pods, readyMarks: true });
      const table = await tableText(sb, node);
      const counts: Record<string, number> = {};
      const problems: string[] = [];
      const unrepaired: string[] = [];
      for (let round = 0; round < rounds; round++) {
        for (const t of ctx.random.shuffle(tamperings(() => table))) {
          const pod = ctx.random.pick(pods);
          await t.tamper(sb, node, pod);
          const start = Date.now();
          let ok = await t.repaired(sb, node, pod);
          while (!ok && Date.now() - start < timeoutMs) {
            await new Promise((r) => setTimeout(r, 20));
            ok = await t.repaired(sb, node, pod);
          }
          const ms = Date.now() - start;
          const key = `${t.name}Ms`;
          if (ok) counts[key] = Math.max(counts[key] ?? 0, ms);
          else {
            unrepaired.push(t.name);
            problems.push(`${t.name} on ${pod.name} not repaired within ${timeoutMs} ms`);
          }
        }
      }
      const audit = await auditNode(node, { live: pods, readyMarks: true, timeoutMs: 5_000 });
      let unreachable = 0;
      for (const pod of pods) if (!(await sb.ping(node.netns, pod.ip!))) unreachable++;
      return outcomeWithAudit(
        {
          rounds,
          ...counts,
          unrepaired: unrepaired.length,
          unreachable,
        },
        audit,
        { alsoZero: ["unrepaired", "unreachable"], problems },
      );
    });
  },
};

/**
 * Kernel test of the daemon's metrics: a node netns running ternd with `metrics.listen` on the
 * node's loopback, the real plugin's ADD, CHECK and DEL, a policy that drops, and scrapes over
 * TCP inside the node (curl) and over the socket. Needs root.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { Sandbox } from "./sandbox.ts";
import { DaemonClient } from "../src/daemon_client.ts";
import {
  type ParsedFamily,
  parseExposition,
  sampleValue,
} from "../src/metrics/parse_exposition.ts";
import { pollUntil } from "./poll.ts";

const DENY_INGRESS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

Deno.test("metrics over TCP in the node's netns count the plugin's ADD, CHECK and DEL, IPAM use and a policy's drops", async () => {
  const sb = await Sandbox.create();
  try {
    const policyDir = `${sb.dir}/policy.d`;
    await Deno.mkdir(policyDir);
    await Deno.writeTextFile(`${policyDir}/deny.yaml`, DENY_INGRESS);
    const node = await sb.addNode("n1", {
      podCIDR: "10.244.1.0/24",
      extraConfig: [
        "metrics:",
        "  listen: 127.0.0.1:9464",
        "  policyCountersInterval: 1s",
        "policy:",
        `  dir: ${policyDir}`,
      ].join("\n"),
    });
    await sb.startDaemon(node);
    const tcp = async (): Promise<ParsedFamily[]> => {
      const out = await sb.exec(node.netns, ["curl", "-sf", "http://127.0.0.1:9464/metrics"]);
      assertEquals(out.code, 0, out.stderr);
      return parseExposition(out.stdout);
    };
    const value = (f: ParsedFamily[], name: string, labels: Record<string, string> = {}) =>
      sampleValue(f, name, labels);
    const ok = (command: string) => ({ command, result: "ok" });
    const pool = { pool: "10.244.1.0/24" };

    const a = await sb.addPod(node, "a");
    const b = await sb.addPod(node, "b");
    const added = await sb.wire(a);
    await sb.wire(b);
    const check = await sb.plugin(a, "CHECK", { conf: { ...sb.netconf(node), prevResult: added } });
    assertEquals(check.code, 0, check.stdout + check.stderr);
    let families = await tcp();
    assertEquals(value(families, "tern_cni_command_duration_seconds_count", ok("ADD")), 2);
    assertEquals(value(families, "tern_cni_command_duration_seconds_count", ok("CHECK")), 1);
    // The plugin's own time is in it: a real ADD takes milliseconds, not the daemon's microseconds.
    assert(value(families, "tern_cni_command_duration_seconds_sum", ok("ADD"))! > 0.005);
    assertEquals(value(families, "tern_ipam_pool_allocated_addresses", pool), 2);
    assert(value(families, "tern_policy_programming_duration_seconds_count")! >= 1);
    assert(value(families, "process_open_fds")! > 0);

    // Pod to pod is denied by the policy: the drop shows in the default deny of b's namespace.
    assertEquals(await sb.ping(a.netns, b.ip!), false);
    const drops = { namespace: "default", layer: "networkPolicy", direction: "ingress" };
    await pollUntil(async () => {
      families = await tcp();
      return (value(families, "tern_policy_default_deny_packets_total", drops) ?? 0) >= 1;
    }, {
      what: "the drop in a scrape",
      intervalMs: 250,
      lastSeen: () => value(families, "tern_policy_default_deny_packets_total", drops),
    });

    assertEquals((await sb.plugin(a, "DEL")).code, 0);
    // The same metrics on the socket.
    const text = await new DaemonClient(node.socket).metrics();
    assertStringIncludes(text, "# TYPE tern_cni_command_duration_seconds histogram");
    families = parseExposition(text);
    assertEquals(value(families, "tern_cni_command_duration_seconds_count", ok("DEL")), 1);
    assertEquals(value(families, "tern_ipam_pool_allocated_addresses", pool), 1);
  } finally {
    await sb.cleanup();
  }
});

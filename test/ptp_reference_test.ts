import { assertEquals, assertStringIncludes } from "./assert.ts";
import { nodeConntrackTable, nodeConntrackTableName, ptpConflist } from "./ptp_reference.ts";

Deno.test("nodeConntrackTable() tracks every forwarded packet in its own table and drops nothing", () => {
  const table = nodeConntrackTable(nodeConntrackTableName("ternt42xab"));
  assertStringIncludes(table, "table inet ternt42xab_kubeproxy {");
  assertStringIncludes(table, "type filter hook forward priority filter; policy accept;");
  assertStringIncludes(table, "ct state established,related accept");
  assertEquals(table.includes("drop"), false);
  assertEquals(table.includes("table inet tern "), false);
});

Deno.test("ptpConflist() gives ptp host-local's range and no masquerade", () => {
  const conf = ptpConflist({ range: "10.250.1.0/24", dataDir: "/tmp/x" });
  const plugin = (conf.plugins as Record<string, unknown>[])[0]!;
  assertEquals(plugin.type, "ptp");
  assertEquals(plugin.ipMasq, false);
  assertEquals((plugin.ipam as { ranges: unknown }).ranges, [[{ subnet: "10.250.1.0/24" }]]);
});

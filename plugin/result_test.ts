import { assertEquals } from "../test/assert.ts";
import { SUPPORTED_CNI_VERSIONS } from "../src/version.ts";
import { type CniResult, formatResult } from "./result.ts";

const result: CniResult = {
  interfaces: [
    { name: "tern5c3e0b2a9d1", mac: "0e:5c:3e:0b:2a:9d", mtu: 1450 },
    { name: "eth0", mac: "0a:58:0a:f4:01:07", mtu: 1450, sandbox: "/var/run/netns/cni-1234" },
  ],
  ips: [{ address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 }],
  routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
  dns: {
    nameservers: ["10.96.0.10"],
    search: ["default.svc.cluster.local", "svc.cluster.local"],
    options: ["ndots:5"],
  },
};

for (const version of SUPPORTED_CNI_VERSIONS) {
  Deno.test(`formatResult() shapes the ADD result for cniVersion ${version} as the golden file`, async () => {
    const golden = await Deno.readTextFile(
      new URL(`../testdata/netconf/add-result-${version}.json`, import.meta.url),
    );
    // Stringifying both sides also compares the order of keys.
    assertEquals(
      JSON.stringify(formatResult(result, version)),
      JSON.stringify(JSON.parse(golden)),
    );
  });
}

Deno.test("formatResult() gives IPs version 4 before 1.0.0 and keeps interface mtu only in 1.1.0", () => {
  const old = formatResult(result, "0.3.1") as { ips: { version?: string }[] };
  assertEquals(old.ips[0]?.version, "4");
  const v100 = formatResult(result, "1.0.0") as { interfaces: { mtu?: number }[]; ips: object[] };
  assertEquals(v100.interfaces.some((i) => "mtu" in i), false);
  assertEquals(v100.ips.some((i) => "version" in i), false);
  const v110 = formatResult(result, "1.1.0") as { interfaces: { mtu?: number }[] };
  assertEquals(v110.interfaces.map((i) => i.mtu), [1450, 1450]);
});

Deno.test("formatResult() prints an empty dns object when the config has none", () => {
  assertEquals(formatResult({ ...result, dns: {} }, "1.0.0").dns, {});
});

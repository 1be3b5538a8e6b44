import { assertEquals, assertStringIncludes, assertThrows } from "../test/assert.ts";
import { CniError } from "../src/cni_error.ts";
import { compareVersions, parseNetConf, peekCniVersion } from "./netconf.ts";

const testdata = (name: string) =>
  Deno.readTextFileSync(new URL(`../testdata/netconf/${name}`, import.meta.url));

function code(text: string, command: Parameters<typeof parseNetConf>[1] = "ADD"): CniError {
  return assertThrows(() => parseNetConf(text, command), CniError);
}

const base = { cniVersion: "1.1.0", name: "tern", type: "tern" };
const conf = (extra: Record<string, unknown>) => JSON.stringify({ ...base, ...extra });

Deno.test("parseNetConf() applies tern's defaults to a minimal config", () => {
  assertEquals(parseNetConf(testdata("minimal.json"), "ADD"), {
    cniVersion: "1.0.0",
    name: "tern",
    type: "tern",
    mtu: 1500,
    daemonSocket: "/run/tern/ternd.sock",
    releaseQueueDir: "/var/lib/tern/release-queue",
    logLevel: "info",
  });
});

Deno.test("parseNetConf() reads every tern field and ignores runtime-inserted ones", () => {
  assertEquals(parseNetConf(testdata("full.json"), "ADD"), {
    cniVersion: "1.1.0",
    name: "tern",
    type: "tern",
    mtu: 1450,
    daemonSocket: "/run/tern/ternd.sock",
    daemonTimeoutMs: 5000,
    logFile: "/var/log/tern/plugin.log",
    releaseQueueDir: "/var/lib/tern/queue",
    logLevel: "debug",
    logFormat: "json",
    dns: {
      nameservers: ["10.96.0.10"],
      search: ["default.svc.cluster.local", "svc.cluster.local"],
      options: ["ndots:5"],
    },
  });
});

Deno.test("parseNetConf() fails with code 6 when stdin is not a JSON object", () => {
  assertEquals(code("{not json").code, 6);
  assertEquals(code("").message, "Cannot decode network config: stdin is empty");
  assertEquals(
    code("[1]").message,
    "Cannot decode network config: expected a JSON object: got [1]",
  );
});

Deno.test("parseNetConf() fails with code 1 for a version tern does not speak, listing those it does", () => {
  const err = code(conf({ cniVersion: "0.2.0" }));
  assertEquals(err.code, 1);
  assertEquals(
    err.message,
    `Incompatible CNI version "0.2.0": tern supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0`,
  );
  assertEquals(code(JSON.stringify({ name: "x", type: "tern" })).code, 1);
});

Deno.test("parseNetConf() requires 0.4.0 for CHECK and 1.1.0 for STATUS and GC", () => {
  const check = code(conf({ cniVersion: "0.3.1", prevResult: {} }), "CHECK");
  assertEquals(check.code, 1);
  assertEquals(check.message, `Incompatible CNI version "0.3.1": CHECK needs 0.4.0 or newer`);
  assertEquals(code(conf({ cniVersion: "1.0.0" }), "STATUS").code, 1);
  assertEquals(code(conf({ cniVersion: "1.0.0" }), "GC").code, 1);
  assertEquals(parseNetConf(conf({ cniVersion: "0.3.1" }), "DEL").cniVersion, "0.3.1");
});

Deno.test("parseNetConf() fails with code 7 for a missing or invalid name or type", () => {
  const noName = code(JSON.stringify({ cniVersion: "1.1.0", type: "tern" }));
  assertEquals(noName.code, 7);
  assertStringIncludes(noName.message, `Cannot parse network config: "name" must match`);
  assertEquals(code(conf({ name: "-bad" })).code, 7);
  assertEquals(
    code(conf({ type: "" })).message,
    `Cannot parse network config: "type" must be a non-empty string: got ""`,
  );
});

Deno.test("parseNetConf() names the key and value of a bad mtu", () => {
  const err = code(conf({ mtu: 70000 }));
  assertEquals(err.code, 7);
  assertEquals(err.message, `Cannot parse network config: "mtu" must be 576..9000: got 70000`);
  assertEquals(
    code(conf({ mtu: "1500" })).message,
    `Cannot parse network config: "mtu" must be 576..9000: got "1500"`,
  );
  assertEquals(code(conf({ mtu: 1500.5 })).code, 7);
  assertEquals(parseNetConf(conf({ mtu: 576 }), "ADD").mtu, 576);
  assertEquals(parseNetConf(conf({ mtu: 9000 }), "ADD").mtu, 9000);
});

Deno.test("parseNetConf() checks tern's other fields", () => {
  assertEquals(
    code(conf({ daemonSocket: "ternd.sock" })).message,
    `Cannot parse network config: "daemonSocket" must be an absolute path: got "ternd.sock"`,
  );
  assertEquals(
    code(conf({ logLevel: "trace" })).message,
    `Cannot parse network config: "logLevel" must be one of debug, info, warn, error: got "trace"`,
  );
  assertEquals(
    code(conf({ logFormat: "xml" })).message,
    `Cannot parse network config: "logFormat" must be one of text, json: got "xml"`,
  );
  assertEquals(code(conf({ logFile: 3 })).code, 7);
  assertEquals(
    code(conf({ daemonTimeoutMs: 0 })).message,
    `Cannot parse network config: "daemonTimeoutMs" must be 100..300000: got 0`,
  );
  assertEquals(
    code(conf({ dns: { nameservers: [1] } })).message,
    `Cannot parse network config: "dns.nameservers[0]" must be a non-empty string: got 1`,
  );
});

Deno.test("parseNetConf() refuses an ipam section with code 2 naming key and value", () => {
  const err = code(testdata("ipam.json"));
  assertEquals(err.code, 2);
  assertEquals(
    err.message,
    `Unsupported field in network config "ipam": {"type":"host-local","subnet":"10.244.1.0/24"}` +
      `: tern allocates pod addresses in its daemon; remove the "ipam" section`,
  );
});

Deno.test("parseNetConf() requires prevResult for CHECK and parses it", () => {
  assertEquals(
    code(conf({}), "CHECK").message,
    `Cannot parse network config: "prevResult" is required for CHECK: got nothing`,
  );
  const parsed = parseNetConf(testdata("check-0.4.0.json"), "CHECK");
  assertEquals(parsed.prevResult?.ips, [
    { address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 },
  ]);
  assertEquals(
    code(conf({ prevResult: { ips: "x" } }), "ADD").message,
    `Cannot parse network config: "prevResult.ips" must be a list: got "x"`,
  );
});

Deno.test("parseNetConf() ignores prevResult for DEL so a damaged cache never blocks teardown", () => {
  assertEquals(parseNetConf(conf({ prevResult: { ips: "x" } }), "DEL").prevResult, undefined);
});

Deno.test("parseNetConf() reads GC's valid attachments, new key first, then the older one", () => {
  assertEquals(parseNetConf(testdata("gc-1.1.0.json"), "GC").validAttachments, [
    { containerID: "ctr1", ifname: "eth0" },
    { containerID: "ctr2", ifname: "eth0" },
  ]);
  assertEquals(
    parseNetConf(conf({ "cni.dev/attachments": [{ containerID: "a", ifname: "eth0" }] }), "GC")
      .validAttachments,
    [{ containerID: "a", ifname: "eth0" }],
  );
  assertEquals(parseNetConf(conf({ "cni.dev/valid-attachments": [] }), "GC").validAttachments, []);
});

Deno.test("parseNetConf() refuses GC without valid attachments rather than release everything", () => {
  const err = code(conf({}), "GC");
  assertEquals(err.code, 7);
  assertEquals(
    err.message,
    `Cannot parse network config: "cni.dev/valid-attachments" is required for GC: got nothing`,
  );
  assertEquals(
    code(conf({ "cni.dev/valid-attachments": [{ containerID: "a" }] }), "GC").message,
    `Cannot parse network config: "cni.dev/valid-attachments[0].ifname" must be a non-empty string: got nothing`,
  );
});

Deno.test("compareVersions() orders versions numerically", () => {
  assertEquals(compareVersions("0.4.0", "0.3.1") > 0, true);
  assertEquals(compareVersions("1.0.0", "1.1.0") < 0, true);
  assertEquals(compareVersions("0.10.0", "0.4.0") > 0, true);
  assertEquals(compareVersions("1.1.0", "1.1.0"), 0);
});

Deno.test("peekCniVersion() is lenient", () => {
  assertEquals(peekCniVersion(`{"cniVersion":"0.4.0"}`), "0.4.0");
  assertEquals(peekCniVersion("nope"), undefined);
  assertEquals(peekCniVersion(`{"cniVersion":4}`), undefined);
});

import { assertEquals, assertStringIncludes } from "../test/assert.ts";
import type { DaemonApi } from "../src/daemon_client.ts";
import { DaemonUnavailableError } from "../src/daemon_client.ts";
import type { Level } from "../src/log.ts";
import { fakeDaemon, fakePodLinks, fakeRunner, memoryLogger } from "./_testing.ts";
import { type PluginIo, runSkel } from "./skel.ts";

interface Run {
  code: number;
  stdout: string;
  sockets: { socketPath: string; options: { timeoutMs?: number } }[];
  loggers: { level: Level; file?: string; format?: string }[];
  log: string[];
}

async function run(
  env: Record<string, string>,
  stdin: string | Uint8Array,
  options: {
    daemon?: DaemonApi;
    netnsExists?: boolean;
    runner?: PluginIo["runner"];
    links?: PluginIo["podLinks"];
  } = {},
): Promise<Run> {
  let stdout = "";
  const sockets: Run["sockets"] = [];
  const loggers: Run["loggers"] = [];
  const log = memoryLogger();
  const code = await runSkel({
    env,
    readStdin: () => Promise.resolve(stdin),
    writeStdout: (text) => void (stdout += text),
    runner: options.runner ?? fakeRunner(),
    podLinks: options.links ?? fakePodLinks(),
    daemon: (socketPath, opts) => {
      sockets.push({ socketPath, options: opts });
      return options.daemon ?? fakeDaemon();
    },
    netnsExists: () => options.netnsExists ?? true,
    logger: (opts) => (loggers.push(opts), log),
    podMac: "0a:58:0a:f4:01:07",
  });
  return { code, stdout, sockets, loggers, log: log.lines };
}

const attach = {
  CNI_CONTAINERID: "ctr1",
  CNI_NETNS: "/var/run/netns/pod1",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};
const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: "1.1.0", name: "tern", type: "tern", ...extra });

Deno.test("runSkel() answers VERSION on stdout with exit 0", async () => {
  const out = await run({ CNI_COMMAND: "VERSION" }, `{"cniVersion":"1.0.0"}`);
  assertEquals(out.code, 0);
  assertEquals(JSON.parse(out.stdout), {
    cniVersion: "1.0.0",
    supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
  });
  assertEquals(out.sockets, []);
});

Deno.test("runSkel() prints the ADD result shaped for the config's version", async () => {
  const out = await run(
    { CNI_COMMAND: "ADD", ...attach },
    conf({ cniVersion: "0.4.0", mtu: 1450 }),
  );
  assertEquals(out.code, 0);
  const result = JSON.parse(out.stdout);
  assertEquals(result.cniVersion, "0.4.0");
  assertEquals(result.ips, [
    { version: "4", address: "10.244.1.7/32", gateway: "169.254.1.1", interface: 1 },
  ]);
  assertEquals(result.interfaces[1], {
    name: "eth0",
    mac: "0a:58:0a:f4:01:07",
    sandbox: "/var/run/netns/pod1",
  });
});

Deno.test("runSkel() prints the spec's error JSON with code 4 for a bad environment", async () => {
  const out = await run({ CNI_COMMAND: "ADD", CNI_IFNAME: "eth0" }, conf({ cniVersion: "0.3.1" }));
  assertEquals(out.code, 1);
  assertEquals(JSON.parse(out.stdout), {
    cniVersion: "0.3.1",
    code: 4,
    msg: "Invalid environment variables CNI_CONTAINERID, CNI_NETNS: " +
      "CNI_CONTAINERID is missing; CNI_NETNS is missing",
  });
  assertEquals(out.sockets, []);
});

Deno.test("runSkel() rejects an unknown CNI_COMMAND with code 4", async () => {
  const out = await run({ CNI_COMMAND: "UPDATE", ...attach }, conf());
  assertEquals(JSON.parse(out.stdout).code, 4);
});

Deno.test("runSkel() reports undecodable stdin with code 6 for the newest version", async () => {
  const out = await run({ CNI_COMMAND: "DEL", ...attach }, "{");
  assertEquals(out.code, 1);
  const err = JSON.parse(out.stdout);
  assertEquals([err.cniVersion, err.code], ["1.1.0", 6]);
});

Deno.test("runSkel() answers an unsupported version's error in the newest version, with details", async () => {
  const out = await run({ CNI_COMMAND: "ADD", ...attach }, conf({ cniVersion: "0.2.0" }));
  const err = JSON.parse(out.stdout);
  assertEquals([err.cniVersion, err.code], ["1.1.0", 1]);
  assertStringIncludes(err.details, "0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
});

Deno.test("runSkel() prints nothing for a successful DEL, even without a netns", async () => {
  const { CNI_NETNS: _, ...noNetns } = attach;
  const out = await run({ CNI_COMMAND: "DEL", ...noNetns }, conf(), {
    links: fakePodLinks(() => false),
  });
  assertEquals([out.code, out.stdout], [0, ""]);
});

Deno.test("runSkel() connects to the config's socket with its timeout and logs where it says", async () => {
  const out = await run(
    { CNI_COMMAND: "STATUS" },
    conf({
      daemonSocket: "/tmp/t.sock",
      daemonTimeoutMs: 2000,
      logFile: "/var/log/tern.log",
      logLevel: "debug",
      logFormat: "json",
    }),
  );
  assertEquals([out.code, out.stdout], [0, ""]);
  assertEquals(out.sockets, [{ socketPath: "/tmp/t.sock", options: { timeoutMs: 2000 } }]);
  assertEquals(out.loggers, [{ level: "info" }, {
    level: "debug",
    file: "/var/log/tern.log",
    format: "json",
  }]);
});

Deno.test("runSkel() maps an unreachable daemon on STATUS to code 50 and logs the failure", async () => {
  const daemon = fakeDaemon({
    status: () => Promise.reject(new DaemonUnavailableError("/run/tern/ternd.sock", "ENOENT")),
  });
  const out = await run({ CNI_COMMAND: "STATUS" }, conf(), { daemon });
  assertEquals(out.code, 1);
  assertEquals(JSON.parse(out.stdout).code, 50);
  assertStringIncludes(out.log.join("\n"), `"code":50`);
});

Deno.test("runSkel() turns an unexpected failure into code 5 on stdout", async () => {
  const links = fakePodLinks(() => new Error("Cannot load libc.so.6: not found"));
  const daemon = fakeDaemon();
  const out = await run({ CNI_COMMAND: "ADD", ...attach }, conf(), { daemon, links });
  assertEquals(JSON.parse(out.stdout), {
    cniVersion: "1.1.0",
    code: 5,
    msg: "Unexpected failure: Cannot load libc.so.6: not found",
  });
  assertEquals(daemon.calls, [], "the veth pair failed first: nothing asked of the daemon");
});

Deno.test("runSkel() runs CHECK and reports a missing netns with code 3", async () => {
  const prevResult = { cniVersion: "1.1.0", ips: [{ address: "10.244.1.7/32" }] };
  const daemon = fakeDaemon({
    endpoint: () =>
      Promise.resolve({
        containerID: "ctr1",
        ifname: "eth0",
        network: "tern",
        netns: "/var/run/netns/pod1",
        ip: "10.244.1.7",
        podCIDR: "10.244.1.0/24",
        hostVeth: "x",
        podMac: "",
        state: "programmed",
        createdAt: 0,
        updatedAt: 0,
      }),
  });
  const out = await run({ CNI_COMMAND: "CHECK", ...attach }, conf({ prevResult }), {
    daemon,
    netnsExists: false,
  });
  assertEquals(JSON.parse(out.stdout).code, 3);
});

Deno.test("runSkel() refuses stdin that is not UTF-8 with code 6 and calls nothing", async () => {
  const bytes = new TextEncoder().encode(conf({ "x-note": "@" }));
  bytes[bytes.indexOf(0x40)] = 0xff;
  const daemon = fakeDaemon();
  const out = await run({ CNI_COMMAND: "ADD", ...attach }, bytes, { daemon });
  assertEquals(out.code, 1);
  assertEquals(JSON.parse(out.stdout), {
    cniVersion: "1.1.0",
    code: 6,
    msg: "Cannot decode network config: stdin is not valid UTF-8",
    details: "the runtime must pass the network config as UTF-8 JSON",
  });
  assertEquals(daemon.calls, []);
});

Deno.test("runSkel() answers VERSION even when stdin is not UTF-8", async () => {
  const out = await run({ CNI_COMMAND: "VERSION" }, new Uint8Array([0x7b, 0xff, 0x7d]));
  assertEquals(out.code, 0);
  assertEquals(JSON.parse(out.stdout).cniVersion, "1.1.0");
});

Deno.test("runSkel() reads UTF-8 bytes with a byte order mark as the config", async () => {
  const bytes = new TextEncoder().encode("\ufeff" + conf());
  const out = await run({ CNI_COMMAND: "DEL", ...attach }, bytes);
  assertEquals(out.code, 0);
});

/**
 * The libcni driver against fake plugins: no root, no namespaces. A fake plugin (a Deno script)
 * logs what libcni handed it and answers like a real one, so these tests check what the driver
 * asks of libcni (the list by name, capability args, CNI_ARGS, the cache) and how it reports.
 */
import { runResultOf } from "../../src/runner.ts";
import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const DRIVER = `${ROOT}/tools/cnidriver/cnidriver`;

const FAKE_PLUGIN = `
const conf = JSON.parse(await new Response(Deno.stdin.readable).text());
const env = (k) => Deno.env.get(k) ?? "";
const cmd = env("CNI_COMMAND");
const id = env("CNI_CONTAINERID");
const line = JSON.stringify({
  cmd, id, type: conf.type, ifname: env("CNI_IFNAME"), netns: env("CNI_NETNS"),
  args: env("CNI_ARGS"), runtimeConfig: conf.runtimeConfig ?? null, prev: conf.prevResult ?? null,
});
Deno.writeTextFileSync(Deno.env.get("FAKE_LOG"), line + "\\n", { append: true });
const print = (v) => console.log(JSON.stringify(v));
if (cmd === "VERSION") print({ cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0"] });
if (cmd === "ADD") {
  if (id.startsWith("fail")) {
    print({ cniVersion: conf.cniVersion, code: 11, msg: "Planned failure for " + id });
    Deno.exit(1);
  }
  if (conf.prevResult) print({ ...conf.prevResult, cniVersion: conf.cniVersion });
  else {
    const n = Number(id.replace(/\\D/g, "")) % 250 + 2;
    print({
      cniVersion: conf.cniVersion,
      interfaces: [{ name: env("CNI_IFNAME"), sandbox: env("CNI_NETNS") }],
      ips: [{ address: "10.1.0." + n + "/32", interface: 0 }],
    });
  }
}
`;

interface Call {
  cmd: string;
  id: string;
  type: string;
  ifname: string;
  netns: string;
  args: string;
  runtimeConfig: Record<string, unknown> | null;
  prev: Record<string, unknown> | null;
}

async function ensureDriver(): Promise<void> {
  const out = await new Deno.Command("sh", { args: [`${ROOT}/scripts/build_driver.sh`] }).output();
  if (out.code !== 0) {
    throw new Error(`Cannot build the driver: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A conf dir with one list (`first` then `chained` with the portMappings capability) and a bin dir. */
async function setup() {
  await ensureDriver();
  const dir = await Deno.makeTempDir({ prefix: "cnidriver-test-" });
  await Deno.mkdir(`${dir}/bin`);
  await Deno.mkdir(`${dir}/net.d`);
  await Deno.writeTextFile(`${dir}/fake.js`, FAKE_PLUGIN);
  for (const name of ["first", "chained"]) {
    await Deno.writeTextFile(
      `${dir}/bin/${name}`,
      `#!/bin/sh\nexec '${Deno.execPath()}' run -A --quiet --no-config --no-lock '${dir}/fake.js'\n`,
      { mode: 0o755 },
    );
  }
  await Deno.writeTextFile(
    `${dir}/net.d/10-test.conflist`,
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "testnet",
      plugins: [
        { type: "first" },
        { type: "chained", capabilities: { portMappings: true } },
      ],
    }),
  );
  // A second list that must not be picked: the driver loads by name.
  await Deno.writeTextFile(
    `${dir}/net.d/05-other.conflist`,
    JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "missing" }] }),
  );
  const common = [
    "--confdir",
    `${dir}/net.d`,
    "--bin",
    `/nonexistent:${dir}/bin`,
    "--net",
    "testnet",
    "--cachedir",
    `${dir}/cache`,
  ];
  const drive = async (args: string[]) => {
    const out = await new Deno.Command(DRIVER, {
      args,
      env: { FAKE_LOG: `${dir}/calls.log` },
    }).output();
    return runResultOf(out);
  };
  const calls = async (): Promise<Call[]> => {
    try {
      return (await Deno.readTextFile(`${dir}/calls.log`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
    } catch {
      return [];
    }
  };
  return { dir, common, drive, calls };
}

Deno.test("cnidriver add runs the named list in order, passes port mappings only to the capable plugin and prints the result", async () => {
  const t = await setup();
  try {
    const out = await t.drive([
      "add",
      ...t.common,
      "--netns",
      "/var/run/netns/pod7",
      "--id",
      "ctr7",
      "--ifname",
      "eth1",
      "--port",
      "8080:80/tcp",
      "--port",
      "5353:53/UDP",
      "--arg",
      "K8S_POD_NAME=web-1",
    ]);
    assertEquals(out.code, 0, out.stderr);
    const result = JSON.parse(out.stdout);
    assertEquals(result.cniVersion, "1.0.0");
    assertEquals(result.ips[0].address, "10.1.0.9/32");
    const calls = await t.calls();
    assertEquals(calls.map((c) => `${c.cmd} ${c.type}`), ["ADD first", "ADD chained"]);
    const [first, chained] = calls as [Call, Call];
    assertEquals([first.id, first.ifname, first.netns], ["ctr7", "eth1", "/var/run/netns/pod7"]);
    assertStringIncludes(first.args, "K8S_POD_NAME=web-1");
    assertEquals(first.runtimeConfig, null);
    assertEquals(chained.runtimeConfig, {
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: "tcp" },
        { hostPort: 5353, containerPort: 53, protocol: "udp" },
      ],
    });
    assertEquals((chained.prev as { ips: unknown[] }).ips, result.ips);
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("cnidriver check and del print nothing, use the cached result and run the list in reverse for DEL", async () => {
  const t = await setup();
  try {
    const id = ["--netns", "/var/run/netns/p3", "--id", "ctr3"];
    assertEquals((await t.drive(["add", ...t.common, ...id])).code, 0);
    const check = await t.drive(["check", ...t.common, ...id]);
    assertEquals([check.code, check.stdout, check.stderr], [0, "", ""]);
    const del = await t.drive(["del", ...t.common, ...id]);
    assertEquals([del.code, del.stdout, del.stderr], [0, "", ""]);
    const calls = (await t.calls()).slice(2);
    assertEquals(calls.map((c) => `${c.cmd} ${c.type}`), [
      "CHECK first",
      "CHECK chained",
      "DEL chained",
      "DEL first",
    ]);
    assert(calls[0]!.prev !== null, "CHECK carries the cached ADD result as prevResult");
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("cnidriver bulk add reports every pod in file order with timings, addresses and failures", async () => {
  const t = await setup();
  try {
    const pods = [];
    for (let i = 1; i <= 9; i++) pods.push({ id: `c${i}`, netns: `/var/run/netns/p${i}` });
    pods.push({ id: "fail1", netns: "/var/run/netns/f", ifname: "net9" });
    await Deno.writeTextFile(`${t.dir}/pods.json`, JSON.stringify(pods));
    const out = await t.drive([
      "bulk",
      "add",
      ...t.common,
      "--pods",
      `${t.dir}/pods.json`,
      "--concurrency",
      "4",
    ]);
    assertEquals(out.code, 1, "a failed pod makes the run fail");
    const report = JSON.parse(out.stdout);
    assertEquals(report.concurrency, 4);
    assertEquals(report.results.map((r: { id: string }) => r.id), pods.map((p) => p.id));
    for (const [i, r] of report.results.slice(0, 9).entries()) {
      assertEquals([r.ok, r.error, r.ips], [true, "", [`10.1.0.${i + 3}/32`]]);
      assert(r.ms > 0 && r.ms <= report.wallMs, `ms ${r.ms} within wall ${report.wallMs}`);
    }
    const failed = report.results[9];
    assertEquals([failed.ok, failed.ips], [false, []]);
    assertStringIncludes(failed.error, "Planned failure for fail1");
    const failCall = (await t.calls()).find((c) => c.id === "fail1");
    assertEquals(failCall?.ifname, "net9");
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("cnidriver fails with exit 1 and a message on stderr for bad input", async () => {
  const t = await setup();
  try {
    const cases: [string[], string][] = [
      [
        ["add", ...t.common.slice(0, 4), "--net", "nosuch", "--id", "x"],
        'Cannot load network "nosuch"',
      ],
      [["add", ...t.common, "--id", "x", "--port", "80"], "HOST:CONTAINER"],
      [["add", ...t.common, "--id", "x", "--port", "1:70000"], "1..65535"],
      [["add", ...t.common], "Missing flag: --id"],
      [["bulk", "add", ...t.common], "Missing flag: --pods"],
      [["bulk", "add", ...t.common, "--pods", `${t.dir}/nope.json`], "Cannot read the pods file"],
      [["bulk", "zap", ...t.common], "Unknown bulk command"],
      [["frob"], "Unknown command"],
    ];
    for (const [args, message] of cases) {
      const out = await t.drive(args);
      assertEquals(out.code, 1, args.join(" "));
      assertEquals(out.stdout, "");
      assertStringIncludes(out.stderr, message);
    }
    assertEquals(await t.calls(), [], "no plugin ran");
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

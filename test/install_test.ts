/**
 * `install.sh --root` into staging roots with the real build (`dist/`, rebuilt when stale): the
 * layout, idempotence, the kept config, the launcher running from the staged root, the manifest,
 * uninstall and purge, and `systemd-analyze verify` on the installed unit. Nothing is installed
 * into the real root and nothing is started.
 */
import { parse as parseYaml } from "yaml";
import { runResultOf } from "../src/runner.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { DIST, ensureDist } from "./dist.ts";
import { SUPPORTED_CNI_VERSIONS, TERN_VERSION } from "../src/version.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const INSTALL = `${ROOT}/install.sh`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const out = await new Deno.Command(cmd, { args, env, stdin: "null" }).output();
  return runResultOf(out);
}

async function install(root: string, ...args: string[]): Promise<Ran> {
  const out = await run("bash", [INSTALL, "--root", root, "--dist", DIST, ...args]);
  if (out.code !== 0) {
    throw new Error(`install.sh ${args.join(" ")} failed: exit ${out.code}: ${out.stderr}`);
  }
  return out;
}

/**
 * Every path under `root`, relative, with its type, mode, link target and content hash; the code
 * cache's contents are left out (they change whenever tern runs).
 */
async function snapshot(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(rel ? `${root}/${rel}` : root)) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const full = `${root}/${path}`;
      const info = await Deno.lstat(full);
      const mode = (info.mode! & 0o7777).toString(8);
      if (info.isSymlink) lines.push(`${path} l ${await Deno.readLink(full)}`);
      else if (info.isDirectory) {
        lines.push(`${path} d ${mode}`);
        if (path !== "var/cache/tern") await walk(path);
      } else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(full));
        const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"));
        lines.push(`${path} f ${mode} ${hex.join("").slice(0, 16)}`);
      }
    }
  };
  await walk("");
  return lines.sort();
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  await ensureDist();
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "tern-install-test-" }));
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function manifest(root: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${root}/usr/local/lib/tern/install-manifest`);
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

Deno.test("install.sh --root lays tern out as DESIGN.md says, and a second run changes nothing", async () => {
  await withRoot(async (root) => {
    const first = await install(root, "--mtu", "1450");
    assertStringIncludes(first.stdout, "installed into");
    const before = await snapshot(root);
    const second = await install(root, "--mtu", "1450");
    assertStringIncludes(second.stdout, "nothing changed");
    assertEquals(await snapshot(root), before);

    const bundle = await exists(`${DIST}/lib/main.js`);
    const expected = [
      "opt/cni/bin/tern",
      "usr/local/lib/tern/BUILD-INFO.json",
      "usr/local/lib/tern/install-manifest",
      "etc/cni/net.d/10-tern.conflist",
      "etc/tern/ternd.yaml",
      "etc/systemd/system/ternd.service",
      ...(bundle ? ["usr/local/lib/tern/lib/main.js", "usr/local/lib/tern/lib/deno"] : []),
    ];
    for (const path of expected) assert(await exists(`${root}/${path}`), `${path} exists`);
    assertEquals((await Deno.stat(`${root}/opt/cni/bin/tern`)).mode! & 0o777, 0o755);
    for (const link of ["usr/local/bin/tern", "usr/local/bin/ternd"]) {
      assertEquals(await Deno.readLink(`${root}/${link}`), "../../../opt/cni/bin/tern");
    }
    if (await exists("/usr/lib/cni/portmap")) {
      assertEquals(await Deno.readLink(`${root}/opt/cni/bin/portmap`), "/usr/lib/cni/portmap");
    }

    const conflist = JSON.parse(await Deno.readTextFile(`${root}/etc/cni/net.d/10-tern.conflist`));
    assertEquals(conflist, {
      cniVersion: "1.0.0",
      name: "tern",
      plugins: [
        { type: "tern", mtu: 1450, daemonSocket: "/run/tern/ternd.sock" },
        { type: "portmap", capabilities: { portMappings: true }, snat: true },
      ],
    });
    assertEquals(
      await Deno.readTextFile(`${root}/etc/tern/ternd.yaml`),
      await Deno.readTextFile(`${ROOT}/testdata/ternd.yaml`),
    );
    assertEquals(
      await Deno.readTextFile(`${root}/etc/systemd/system/ternd.service`),
      await Deno.readTextFile(`${ROOT}/packaging/ternd.service`),
    );
  });
});

Deno.test("install.sh records every path it creates in the manifest, and only those", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(`${root}/etc/cni/net.d`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/cni/net.d/99-other.conflist`, "{}");
    const out = await install(root);
    assertEquals(out.stderr.includes("99-other.conflist"), false, "a later config is no rival");
    const records = await manifest(root);
    const paths = new Set(records.map((r) => r.slice(2)));
    for (const line of await snapshot(root)) {
      const path = line.split(" ")[0]!;
      if (path.startsWith("var/cache/tern/") || path.endsWith("install-manifest")) continue;
      if (["etc", "etc/cni", "etc/cni/net.d", "etc/cni/net.d/99-other.conflist"].includes(path)) {
        assert(!paths.has(path), `${path} existed before and is not recorded`);
        continue;
      }
      assert(paths.has(path), `${path} is in the manifest`);
    }
    assert(records.includes("k etc/tern/ternd.yaml"), "the config is recorded as kept");
    assert(records.includes("c var/cache/tern"), "the cache is recorded as a cache");
    assert(!records.includes("f etc/tern/ternd.yaml"), "the config is never a plain file");
  });
});

Deno.test("the staged launcher runs the CLI, the plugin and, as ternd, the daemon", async () => {
  await withRoot(async (root) => {
    await install(root);
    for (const bin of ["opt/cni/bin/tern", "usr/local/bin/tern"]) {
      const out = await run(`${root}/${bin}`, ["version"]);
      assertEquals(out.code, 0, out.stderr);
      assertStringIncludes(out.stdout, `tern ${TERN_VERSION}\n`);
      const info = JSON.parse(await Deno.readTextFile(`${DIST}/BUILD-INFO.json`));
      assertStringIncludes(out.stdout, `build: ${info.mode}`);
    }
    const plugin = await new Deno.Command(`${root}/opt/cni/bin/tern`, {
      env: { CNI_COMMAND: "VERSION" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = plugin.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode('{"cniVersion":"1.0.0","name":"tern","type":"tern"}'),
    );
    await writer.close();
    const version = await plugin.output();
    assertEquals(version.code, 0, new TextDecoder().decode(version.stderr));
    assertEquals(
      JSON.parse(new TextDecoder().decode(version.stdout)).supportedVersions,
      SUPPORTED_CNI_VERSIONS,
    );
    const daemon = await run(`${root}/usr/local/bin/ternd`, ["--help"]);
    assertEquals(daemon.code, 0, daemon.stderr);
    const text = daemon.stdout + daemon.stderr;
    assertStringIncludes(text, "--config", "ternd --help is the daemon's usage");
    assert(!text.includes("usage: tern [--socket"), "not the CLI's usage");
    assert(await exists(`${root}/var/cache/tern/deno`), "the code cache is in the staged root");
  });
});

Deno.test("install.sh keeps an existing config and writes --node-name and --pod-cidr into a new one", async () => {
  await withRoot(async (root) => {
    await install(
      root,
      "--node-name",
      "worker-7",
      "--pod-cidr",
      "10.244.7.0/24",
      "--pod-cidr",
      "10.244.8.0/24",
    );
    const fresh = await Deno.readTextFile(`${root}/etc/tern/ternd.yaml`);
    assertStringIncludes(fresh, "\nnodeName: worker-7\n");
    assertStringIncludes(fresh, "\npodCIDRs:\n  - 10.244.7.0/24\n  - 10.244.8.0/24\n\n");
    assert(!fresh.includes("10.244.1.0/24"), "the example's CIDR is gone");
    await Deno.writeTextFile(`${root}/etc/tern/ternd.yaml`, "nodeName: mine\n");
    const again = await install(root, "--node-name", "other");
    assertStringIncludes(again.stdout, "kept /etc/tern/ternd.yaml");
    assertEquals(await Deno.readTextFile(`${root}/etc/tern/ternd.yaml`), "nodeName: mine\n");
  });
});

/** A self-contained kubeconfig, as `kubectl config view --flatten --minify` writes one. */
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
  - name: lab
    cluster: { server: "https://10.0.0.1:6443", certificate-authority-data: Y2E= }
users:
  - name: system:node:worker-7
    user: { client-certificate-data: Y2VydA==, client-key-data: a2V5 }
contexts:
  - name: tern
    context: { cluster: lab, user: "system:node:worker-7" }
current-context: tern
`;

async function withKubeconfig(fn: (root: string, kubeconfig: string) => Promise<void>) {
  await withRoot(async (root) => {
    const dir = await Deno.makeTempDir({ prefix: "tern-kubeconfig-" });
    try {
      await Deno.writeTextFile(`${dir}/kubeconfig`, KUBECONFIG);
      await fn(root, `${dir}/kubeconfig`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("install.sh --kubeconfig installs it 0600 and writes a ternd.yaml with the kubernetes source", async () => {
  await withKubeconfig(async (root, kubeconfig) => {
    const out = await install(root, "--kubeconfig", kubeconfig);
    assert(!out.stderr.includes("is the example"), "no podCIDRs warning: they come from the Node");
    const dest = `${root}/etc/tern/kubeconfig`;
    assertEquals(await Deno.readTextFile(dest), KUBECONFIG);
    assertEquals((await Deno.stat(dest)).mode! & 0o777, 0o600);
    assert((await manifest(root)).includes("k etc/tern/kubeconfig"), "recorded as kept config");

    const text = await Deno.readTextFile(`${root}/etc/tern/ternd.yaml`);
    const config = parseYaml(text);
    assertEquals(config.cluster, {
      source: "kubernetes",
      kubeconfig: "/etc/tern/kubeconfig",
      podCIDRWait: "60s",
      syncWait: "8s",
    });
    assertEquals("nodeName" in config, false, "absent: $NODE_NAME, else the hostname");
    assertEquals("podCIDRs" in config, false, "learned from this node's Node");
    const example = parseYaml(await Deno.readTextFile(`${ROOT}/testdata/ternd.yaml`));
    delete example.nodeName;
    delete example.podCIDRs;
    assertEquals({ ...config, cluster: undefined }, { ...example, cluster: undefined });

    const before = await snapshot(root);
    const again = await install(root, "--kubeconfig", kubeconfig);
    assertStringIncludes(again.stdout, "nothing changed");
    assertEquals(await snapshot(root), before);
    await install(root);
    assert((await manifest(root)).includes("k etc/tern/kubeconfig"), "kept in the manifest");
  });
});

Deno.test("install.sh --kubeconfig with --node-name and --pod-cidr writes both", async () => {
  await withKubeconfig(async (root, kubeconfig) => {
    await install(
      root,
      "--kubeconfig",
      kubeconfig,
      "--node-name",
      "worker-7",
      "--pod-cidr",
      "10.244.7.0/24",
    );
    const config = parseYaml(await Deno.readTextFile(`${root}/etc/tern/ternd.yaml`));
    assertEquals([config.nodeName, config.podCIDRs, config.cluster.source], [
      "worker-7",
      ["10.244.7.0/24"],
      "kubernetes",
    ]);
  });
});

Deno.test("install.sh --kubeconfig keeps an existing ternd.yaml and says what to add to it", async () => {
  await withKubeconfig(async (root, kubeconfig) => {
    await Deno.mkdir(`${root}/etc/tern`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/tern/ternd.yaml`, "nodeName: mine\n");
    const out = await install(root, "--kubeconfig", kubeconfig);
    assertStringIncludes(out.stdout, "kept /etc/tern/ternd.yaml");
    assertStringIncludes(
      out.stderr,
      "set cluster: { source: kubernetes, kubeconfig: /etc/tern/kubeconfig } in it",
    );
    assertEquals(await Deno.readTextFile(`${root}/etc/tern/ternd.yaml`), "nodeName: mine\n");
    assertEquals(await Deno.readTextFile(`${root}/etc/tern/kubeconfig`), KUBECONFIG);
  });
});

Deno.test("install.sh --uninstall keeps the kubeconfig and --purge removes it", async () => {
  await withKubeconfig(async (root, kubeconfig) => {
    await install(root, "--kubeconfig", kubeconfig);
    const out = await run("bash", [INSTALL, "--root", root, "--uninstall"]);
    assertEquals(out.code, 0, out.stderr);
    assertEquals(await exists(`${root}/etc/tern/kubeconfig`), true);
    const purge = await run("bash", [INSTALL, "--root", root, "--purge"]);
    assertEquals(purge.code, 0, purge.stderr);
    assertEquals(await exists(`${root}/etc/tern/kubeconfig`), false);
    assertEquals(await exists(`${root}/etc/tern`), false);
  });
});

Deno.test("install.sh --kubeconfig refuses a missing file, a non-kubeconfig and one naming other files", async () => {
  await withKubeconfig(async (root, kubeconfig) => {
    const dir = kubeconfig.slice(0, kubeconfig.lastIndexOf("/"));
    await Deno.writeTextFile(`${dir}/not`, "hello: world\n");
    await Deno.writeTextFile(
      `${dir}/files`,
      KUBECONFIG.replace("client-certificate-data: Y2VydA==", "client-certificate: node.crt"),
    );
    const cases: [string, string][] = [
      [`${dir}/missing`, "Cannot read the kubeconfig"],
      [`${dir}/not`, "Not a kubeconfig"],
      [`${dir}/files`, "kubectl config view --flatten --minify"],
    ];
    for (const [file, message] of cases) {
      const out = await run("bash", [
        INSTALL,
        "--root",
        root,
        "--dist",
        DIST,
        "--kubeconfig",
        file,
      ]);
      assertEquals(out.code, 1, file);
      assertStringIncludes(out.stderr, message);
    }
    assertEquals(await snapshot(root), [], "nothing was installed");
  });
});

const INSTALL_CNI = `${ROOT}/packaging/install-cni.sh`;

/** A host root as the DaemonSet mounts it: only the three host directories exist. */
async function hostRoot(root: string): Promise<void> {
  for (const dir of ["opt/cni/bin", "etc/cni/net.d", "usr/local/lib/tern"]) {
    await Deno.mkdir(`${root}/host/${dir}`, { recursive: true });
  }
  await Deno.writeTextFile(`${root}/portmap`, "#!/bin/sh\necho fake portmap\n");
}

async function installCni(root: string, env: Record<string, string> = {}): Promise<Ran> {
  const out = await run("bash", [INSTALL_CNI], {
    TERN_HOST_ROOT: `${root}/host`,
    TERN_PORTMAP: `${root}/portmap`,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    ...env,
  });
  if (out.code !== 0) throw new Error(`install-cni.sh failed: exit ${out.code}: ${out.stderr}`);
  return out;
}

Deno.test("install-cni.sh puts the plugin, its runtime, portmap and the conflist into the host", async () => {
  await withRoot(async (root) => {
    await hostRoot(root);
    const out = await installCni(root, { TERN_MTU: "1400" });
    assertStringIncludes(out.stdout, "copied portmap into /opt/cni/bin");
    const host = `${root}/host`;
    assertEquals((await Deno.stat(`${host}/opt/cni/bin/tern`)).mode! & 0o777, 0o755);
    assertEquals(
      await Deno.readTextFile(`${host}/opt/cni/bin/portmap`),
      await Deno.readTextFile(`${root}/portmap`),
    );
    assertEquals((await Deno.stat(`${host}/opt/cni/bin/portmap`)).mode! & 0o777, 0o755);
    const conflist = JSON.parse(await Deno.readTextFile(`${host}/etc/cni/net.d/10-tern.conflist`));
    assertEquals(conflist.plugins.map((p: { type: string }) => p.type), ["tern", "portmap"]);
    assertEquals(conflist.plugins[0].mtu, 1400);
    if (await exists(`${DIST}/lib/main.js`)) {
      assert(await exists(`${host}/usr/local/lib/tern/lib/main.js`), "the bundle's runtime");
    }
    // The plugin runs from the host's layout: /opt/cni/bin/tern finds ../../../usr/local/lib/tern.
    const version = await run(`${host}/opt/cni/bin/tern`, ["version"]);
    assertEquals(version.code, 0, version.stderr);

    const before = await snapshot(`${host}/opt`);
    const again = await installCni(root, { TERN_MTU: "1400" });
    assertStringIncludes(again.stdout, "nothing changed");
    assert(!again.stdout.includes("copied portmap"), "the host's portmap is left alone");
    assertEquals(await snapshot(`${host}/opt`), before);
  });
});

Deno.test("install-cni.sh takes the MTU of the default route's device, and keeps a host's portmap", async () => {
  await withRoot(async (root) => {
    await hostRoot(root);
    await Deno.writeTextFile(`${root}/host/opt/cni/bin/portmap`, "host's own");
    const out = await installCni(root);
    assertStringIncludes(out.stdout, `install-cni: MTU ${await defaultRouteMtu()} (from `);
    const conflist = JSON.parse(
      await Deno.readTextFile(`${root}/host/etc/cni/net.d/10-tern.conflist`),
    );
    assertEquals(conflist.plugins[0].mtu, await defaultRouteMtu());
    assertEquals(await Deno.readTextFile(`${root}/host/opt/cni/bin/portmap`), "host's own");
  });
});

Deno.test("install-cni.sh fails with a message when the host's /opt/cni/bin is not mounted", async () => {
  await withRoot(async (root) => {
    const out = await run("bash", [INSTALL_CNI], { TERN_HOST_ROOT: `${root}/host` });
    assertEquals(out.code, 1);
    assertStringIncludes(out.stderr, "The host's /opt/cni/bin is not mounted");
  });
});

Deno.test("install.sh removes files of an earlier build that the new build no longer has", async () => {
  await withRoot(async (root) => {
    await install(root);
    const stale = "usr/local/lib/tern/lib/chunk-OLDBUILD.js";
    await Deno.writeTextFile(`${root}/${stale}`, "// old");
    const path = `${root}/usr/local/lib/tern/install-manifest`;
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)) + `f ${stale}\n`);
    const out = await install(root);
    assertStringIncludes(out.stdout, `removed stale /${stale}`);
    assertEquals(await exists(`${root}/${stale}`), false);
  });
});

Deno.test("install.sh --uninstall leaves only the config and the state; --purge removes those too", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(`${root}/var/lib/tern`, { recursive: true });
    await Deno.writeTextFile(`${root}/var/lib/tern/state.kv`, "state");
    await install(root);
    await run(`${root}/opt/cni/bin/tern`, ["version"]); // fills the code cache
    const out = await run("bash", [INSTALL, "--root", root, "--uninstall"]);
    assertEquals(out.code, 0, out.stderr);
    assertEquals(await snapshot(root).then((s) => s.map((l) => l.split(" ")[0])), [
      "etc",
      "etc/tern",
      "etc/tern/ternd.yaml",
      "var",
      "var/lib",
      "var/lib/tern",
      "var/lib/tern/state.kv",
    ]);
    const twice = await run("bash", [INSTALL, "--root", root, "--uninstall"]);
    assertEquals(twice.code, 1);
    assertStringIncludes(twice.stderr, "Nothing to uninstall");
    const purge = await run("bash", [INSTALL, "--root", root, "--uninstall", "--purge"]);
    assertEquals(purge.code, 0, purge.stderr);
    assertEquals(await snapshot(root).then((s) => s.map((l) => l.split(" ")[0])), [
      "etc",
      "var",
      "var/lib",
    ]);
  });
});

Deno.test("install.sh --purge on an installed root removes everything it made, state included", async () => {
  await withRoot(async (root) => {
    await install(root);
    await Deno.mkdir(`${root}/var/lib/tern`, { recursive: true });
    await Deno.writeTextFile(`${root}/var/lib/tern/state.kv`, "state");
    await run(`${root}/opt/cni/bin/tern`, ["version"]);
    const out = await run("bash", [INSTALL, "--root", root, "--purge"]);
    assertEquals(out.code, 0, out.stderr);
    // var/lib was made by this test (standing in for the daemon's StateDirectory), not install.sh.
    assertEquals(await snapshot(root).then((s) => s.map((l) => l.split(" ")[0])), [
      "var",
      "var/lib",
    ]);
  });
});

Deno.test("install.sh rejects bad flags, a bad MTU and a missing build with a message", async () => {
  await withRoot(async (root) => {
    const help = await run("bash", [INSTALL, "--help"]);
    assertEquals(help.code, 0);
    assertStringIncludes(help.stdout, "usage: install.sh");
    assertStringIncludes(help.stdout, "--kubeconfig FILE");
    const cases: [string[], string][] = [
      [["--root", root, "--bogus"], "Unknown argument: --bogus"],
      [["--root", root, "--dist", DIST, "--mtu", "70000"], "MTU must be 576..9000: got 70000"],
      [["--root", root, "--dist", DIST, "--mtu", "big"], "MTU must be a number: got big"],
      [["--root", root, "--dist", `${root}/nodist`], "run deno task build"],
      [["--root", `${root}/missing`], "Root is not a directory"],
    ];
    for (const [args, message] of cases) {
      const out = await run("bash", [INSTALL, ...args]);
      assertEquals(out.code, 1, args.join(" "));
      assertStringIncludes(out.stderr, message);
    }
    assertEquals(await snapshot(root), [], "nothing was installed");
  });
});

/** `systemd-analyze verify --root` needs the distribution's units (sysinit.target…) in the root. */
async function verifyUnit(root: string): Promise<Ran> {
  await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
  const copy = await run("cp", ["-a", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`]);
  assertEquals(copy.code, 0, copy.stderr);
  return await run("systemd-analyze", ["verify", `--root=${root}`, "ternd.service"]);
}

Deno.test("systemd-analyze verify passes on the installed unit and its ExecStart", async () => {
  await withRoot(async (root) => {
    await install(root);
    const out = await verifyUnit(root);
    assertEquals(out.code, 0, out.stderr);
    assertEquals(out.stderr.trim(), "", "no warnings");
  });
});

Deno.test("systemd-analyze verify catches a unit whose ExecStart is missing or has a bad key", async () => {
  await withRoot(async (root) => {
    await install(root);
    const unit = `${root}/etc/systemd/system/ternd.service`;
    await Deno.writeTextFile(
      unit,
      (await Deno.readTextFile(unit)).replace("RestartSec=2s", "RestartSec=banana"),
    );
    await Deno.remove(`${root}/usr/local/bin/ternd`);
    const out = await verifyUnit(root);
    assert(out.code !== 0, "a missing ExecStart fails verify");
    assertStringIncludes(out.stderr, "/usr/local/bin/ternd is not executable");
    assertStringIncludes(out.stderr, "banana");
  });
});

/** The MTU of the default route's device, as install.sh should find it; 1500 when there is none. */
async function defaultRouteMtu(): Promise<number> {
  const route = await run("ip", ["-o", "route", "show", "default"]);
  const dev = /\bdev (\S+)/.exec(route.stdout)?.[1];
  if (!dev) return 1500;
  return Number((await Deno.readTextFile(`/sys/class/net/${dev}/mtu`)).trim());
}

Deno.test({
  name:
    "install.sh into / (in a private mount and network namespace over overlays) detects the MTU, warms the code cache and purges, kernel objects too",
  ignore: Deno.uid() !== 0,
  async fn() {
    await ensureDist();
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "tern-install-real-" }));
    const netns = `ternt${Deno.pid}xinstall`;
    const realBefore = await exists("/opt/cni/bin/tern");
    try {
      // Every directory install.sh writes under gets a writable overlay that lives only in this
      // mount namespace: the real / is never written. Any failed mount stops the script first.
      await Deno.writeTextFile(
        `${dir}/inner.sh`,
        `set -eu
for d in etc opt usr/local var; do
  n=$(echo "$d" | tr / _)
  mkdir -p "${dir}/$n.up" "${dir}/$n.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=${dir}/$n.up,workdir=${dir}/$n.work" "/$d"
  [ "$(findmnt -n -o FSTYPE "/$d")" = overlay ]
done
bash '${INSTALL}' --dist '${DIST}' --no-start --pod-cidr 10.244.9.0/24
echo "MTU=$(sed -n 's/.*"mtu": \\([0-9]*\\).*/\\1/p' /etc/cni/net.d/10-tern.conflist)"
echo "CACHE=$(find /var/cache/tern/deno -name 'v8_code_cache*' | wc -l)"
/usr/local/bin/tern version
bash '${INSTALL}' --no-start
# tern's kernel objects, as a node that ran ternd has them, in this test's own netns.
nft add table inet tern
ip route add 10.244.2.0/24 dev lo proto 116
ip rule add to 10.244.9.0/24 lookup main priority 512 proto 116
ip link add ternpurgetest01 type veth peer name xpurgetest
if bash '${INSTALL}' --purge 2>"${dir}/refused.err"; then echo "PURGED_WITH_POD"; fi
echo "REFUSED=$(tr '\n' ' ' <"${dir}/refused.err")"
[ -x /opt/cni/bin/tern ] && echo "KEPT_FILES"
nft list table inet tern >/dev/null && echo "KEPT_TABLE"
ip link del ternpurgetest01
bash '${INSTALL}' --purge
if nft list table inet tern >/dev/null 2>&1; then echo "LEFT=table"; fi
echo "ROUTES=$(ip route show proto 116 table all | wc -l) RULES=$(ip rule show | grep -c 'proto 116')"
for p in /opt/cni/bin/tern /usr/local/lib/tern /usr/local/bin/ternd /etc/tern /etc/cni/net.d/10-tern.conflist /var/cache/tern /etc/systemd/system/ternd.service; do
  if [ -e "$p" ] || [ -L "$p" ]; then echo "LEFT=$p"; fi
done
`,
      );
      // Its own network namespace too: purge removes kernel objects, never the real node's.
      await run("ip", ["netns", "add", netns]);
      await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
      // A default route through a device of MTU 1400, for install.sh to detect.
      for (
        const args of [
          ["link", "add", "mtutest", "mtu", "1400", "type", "veth", "peer", "name", "mtupeer"],
          ["link", "set", "mtutest", "up"],
          ["route", "add", "default", "dev", "mtutest"],
        ]
      ) {
        const added = await run("ip", ["-n", netns, ...args]);
        assertEquals(added.code, 0, added.stderr);
      }
      const out = await run("ip", [
        "netns",
        "exec",
        netns,
        "unshare",
        "-m",
        "--propagation",
        "private",
        "bash",
        `${dir}/inner.sh`,
      ]);
      assertEquals(out.code, 0, `${out.stdout}\n${out.stderr}`);
      assertStringIncludes(out.stdout, "tern (bundle) installed into /\n");
      assertStringIncludes(out.stdout, "MTU=1400\n");
      assert(!out.stdout.includes("CACHE=0\n"), "install filled the code cache");
      assertStringIncludes(out.stdout, `tern ${TERN_VERSION}\n`);
      assertStringIncludes(out.stdout, "already installed in /: nothing changed");
      assertStringIncludes(out.stdout, "tern purged from /");
      assert(!out.stdout.includes("PURGED_WITH_POD"), "purge refused while a tern veth exists");
      assertStringIncludes(
        out.stdout,
        "REFUSED=tern: Cannot purge: 1 pod still uses tern's network (veths ternpurgetest01)",
      );
      assertStringIncludes(out.stdout, "KEPT_FILES\nKEPT_TABLE\n");
      assertStringIncludes(
        out.stdout,
        "install.sh: removed: table inet tern, 1 route and 1 rule of route protocol 116",
      );
      assertStringIncludes(out.stdout, "ROUTES=0 RULES=0\n");
      assert(!out.stdout.includes("LEFT="), `purge left: ${out.stdout}`);
      assertEquals(await exists("/opt/cni/bin/tern"), realBefore, "the real root is untouched");
    } finally {
      await run("ip", ["netns", "del", netns]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

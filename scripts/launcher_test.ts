/**
 * The bundle launcher (`scripts/launcher.sh`) in the layouts it must work in, with a stand-in
 * `main.js` that reports what it was given and `lib/deno` linked to the running Deno.
 */
import { runResultOf } from "../src/runner.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../test/assert.ts";

const LAUNCHER = new URL("./launcher.sh", import.meta.url).pathname;

const REPORT = `import process from "node:process";
console.log(JSON.stringify({
  argv0: process.argv0,
  ternArgv0: Deno.env.get("TERN_ARGV0") ?? null,
  args: Deno.args,
  denoDir: Deno.env.get("DENO_DIR") ?? null,
  noUpdateCheck: Deno.env.get("DENO_NO_UPDATE_CHECK") ?? null,
}));
`;

/** Puts the launcher at `bin` and a stand-in runtime in `lib`. */
async function layout(bin: string, lib: string): Promise<void> {
  await Deno.mkdir(bin.slice(0, bin.lastIndexOf("/")), { recursive: true });
  await Deno.mkdir(lib, { recursive: true });
  await Deno.copyFile(LAUNCHER, bin);
  await Deno.chmod(bin, 0o755);
  await Deno.writeTextFile(`${lib}/main.js`, REPORT);
  await Deno.symlink(Deno.execPath(), `${lib}/deno`);
}

async function run(path: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(path, { args, env, stdin: "null" }).output();
  return runResultOf(out);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "tern-launcher-test-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `fn` with `dist/tern`, `dist/ternd -> tern` and a stand-in `dist/lib/main.js` that is
 * `script`; `printed(bin, args, env)` runs `dist/<bin>`, asserts it exited 0 and returns its stdout,
 * trimmed.
 */
async function withStandIn(
  script: string,
  fn: (
    dir: string,
    printed: (bin: string, args: string[], env?: Record<string, string>) => Promise<string>,
  ) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    await layout(`${dir}/dist/tern`, `${dir}/dist/lib`);
    await Deno.symlink("tern", `${dir}/dist/ternd`);
    await Deno.writeTextFile(`${dir}/dist/lib/main.js`, script);
    await fn(dir, async (bin, args, env = {}) => {
      const out = await run(`${dir}/dist/${bin}`, args, env);
      assertEquals(out.code, 0, out.stderr);
      return out.stdout.trim();
    });
  });
}

/** A stand-in main.js line that prints the `--v8-flags=` argument Deno was started with, or "-". */
const V8_FLAGS_OF_CMDLINE =
  `Deno.readTextFileSync("/proc/self/cmdline").split("\\0").find((a) => a.startsWith("--v8-flags=")) ?? "-"`;

Deno.test("launcher in dist/ runs lib/main.js with argv[0] kept, arguments intact and the cache beside lib", async () => {
  await withDir(async (dir) => {
    await layout(`${dir}/dist/tern`, `${dir}/dist/lib`);
    await Deno.symlink("tern", `${dir}/dist/ternd`);
    const out = await run(`${dir}/dist/tern`, ["status", "a b", "", "--json"]);
    assertEquals(out.code, 0, out.stderr);
    assertEquals(JSON.parse(out.stdout), {
      argv0: `${dir}/dist/tern`,
      ternArgv0: `${dir}/dist/tern`,
      args: ["status", "a b", "", "--json"],
      denoDir: `${dir}/dist/cache/deno`,
      noUpdateCheck: "1",
    });
    const daemon = JSON.parse((await run(`${dir}/dist/ternd`, ["--config", "c"])).stdout);
    assertEquals(daemon.argv0, `${dir}/dist/ternd`, "the symlink's name reaches main.ts");
    assertEquals(daemon.ternArgv0, `${dir}/dist/ternd`);
  });
});

Deno.test("launcher installed as <root>/opt/cni/bin/tern finds <root>/usr/local/lib/tern/lib through relative links", async () => {
  await withDir(async (root) => {
    await layout(`${root}/opt/cni/bin/tern`, `${root}/usr/local/lib/tern/lib`);
    await Deno.mkdir(`${root}/usr/local/bin`, { recursive: true });
    await Deno.symlink("../../../opt/cni/bin/tern", `${root}/usr/local/bin/ternd`);
    await Deno.mkdir(`${root}/var/cache/tern`, { recursive: true });
    for (const path of [`${root}/opt/cni/bin/tern`, `${root}/usr/local/bin/ternd`]) {
      const out = await run(path, ["x"]);
      assertEquals(out.code, 0, out.stderr);
      const report = JSON.parse(out.stdout);
      assertEquals([report.argv0, report.ternArgv0], [path, path]);
      assertEquals(report.args, ["x"]);
      assertEquals(
        await Deno.realPath(report.denoDir.slice(0, -"/deno".length)),
        `${root}/var/cache/tern`,
        "the code cache is the root's /var/cache/tern",
      );
    }
  });
});

Deno.test("launcher honours TERN_CACHE_DIR", async () => {
  await withDir(async (dir) => {
    await layout(`${dir}/tern`, `${dir}/lib`);
    const out = await run(`${dir}/tern`, [], { TERN_CACHE_DIR: `${dir}/elsewhere` });
    assertEquals(JSON.parse(out.stdout).denoDir, `${dir}/elsewhere/deno`);
  });
});

Deno.test("launcher without its runtime files fails with a message, and a CNI error for the runtime", async () => {
  await withDir(async (dir) => {
    await Deno.copyFile(LAUNCHER, `${dir}/tern`);
    await Deno.chmod(`${dir}/tern`, 0o755);
    const cli = await run(`${dir}/tern`, ["version"]);
    assertEquals([cli.code, cli.stdout], [1, ""]);
    assertStringIncludes(cli.stderr, "Cannot find tern's runtime files");
    const plugin = await run(`${dir}/tern`, [], { CNI_COMMAND: "ADD" });
    assertEquals(plugin.code, 1);
    assertEquals(JSON.parse(plugin.stdout), {
      cniVersion: "1.0.0",
      code: 5,
      msg: "Cannot find tern's runtime files",
    });
  });
});

Deno.test("launcher holds ternd's old space to 3/4 of its cgroup's memory.max and exposes gc(), for ternd alone", async () => {
  const script = `import v8 from "node:v8";
console.log(Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20), typeof globalThis.gc, ${V8_FLAGS_OF_CMDLINE});
`;
  await withStandIn(script, async (dir, printed) => {
    // The launcher's cgroup is this test's: its memory.max under a stand-in cgroup root.
    const cgroup = /^0::(.*)$/m.exec(await Deno.readTextFile("/proc/self/cgroup"))![1]!;
    const root = `${dir}/cgroup`;
    await Deno.mkdir(`${root}${cgroup}`, { recursive: true });
    const limit = async (bin: string, args: string[], env: Record<string, string> = {}) => {
      const [heap, gc, flags] = (await printed(bin, args, { TERN_CGROUP_ROOT: root, ...env }))
        .split(" ");
      gcs.push(`${bin}:${gc}`);
      growing.push(
        flags!.includes("--heap-growing-percent=50") && flags!.includes("--max-semi-space-size=8"),
      );
      return Number(heap);
    };
    const gcs: string[] = [];
    const growing: boolean[] = [];
    await Deno.writeTextFile(`${root}${cgroup}/memory.max`, "max\n");
    const unlimited = await limit("ternd", []);
    await Deno.writeTextFile(`${root}${cgroup}/memory.max`, `${512 * 2 ** 20}\n`);
    // V8's own limit, less what the derived --max-semi-space-size=8 takes off its young generation.
    const own = await limit("tern", ["status"]);
    assert(own > unlimited && own <= unlimited + 96, `the CLI: V8's own limit: ${own} MiB`);
    for (const [bin, args] of [["ternd", ["--config", "c"]], ["tern", ["daemon"]]] as const) {
      // 384 MiB of old space, and V8's young generation (up to 3 semi-spaces of 32 MiB) beside.
      const heap = await limit(bin, [...args]);
      assert(heap >= 384 && heap <= 384 + 96, `${bin} ${args.join(" ")}: ${heap} MiB`);
    }
    assertEquals(await limit("ternd", [], { TERND_V8_FLAGS: "" }), own, "overridden");
    const set = await limit("ternd", [], { TERND_V8_FLAGS: "--max-old-space-size=1000" });
    assert(set >= 1000 && set <= 1096, `TERND_V8_FLAGS: ${set} MiB`);
    // ternd collects once after a list (src/lib/collect_garbage.ts): gc() only where derived.
    assertEquals(gcs, [
      "ternd:function",
      "tern:undefined",
      "ternd:function",
      "tern:function",
      "ternd:undefined",
      "ternd:undefined",
    ]);
    // ternd's heap grows to 1.5x its live size between full collections and its semi-spaces to
    // 8 MiB: only where derived.
    assertEquals(growing, [true, false, true, true, false, false]);
  });
});

Deno.test("launcher gives ternd two malloc arenas unless MALLOC_ARENA_MAX is set, and nothing else", async () => {
  const script = `console.log(Deno.env.get("MALLOC_ARENA_MAX") ?? "-");\n`;
  await withStandIn(script, async (_dir, printed) => {
    const arenas = (bin: string, args: string[], env: Record<string, string>) =>
      printed(bin, args, { MALLOC_ARENA_MAX: "", ...env });
    assertEquals(await arenas("ternd", [], {}), "2");
    assertEquals(await arenas("tern", ["daemon"], {}), "2");
    assertEquals(await arenas("ternd", [], { MALLOC_ARENA_MAX: "4" }), "4", "the operator's");
    // The plugin and the CLI: as the caller's environment has it.
    assertEquals(await arenas("tern", ["status"], {}), "");
  });
});

Deno.test("launcher opens ternd's inspector only when TERND_INSPECT says where", async () => {
  const script = `import inspector from "node:inspector";\nconsole.log(inspector.url() ?? "-");\n`;
  await withStandIn(script, async (_dir, url) => {
    assertMatch(
      await url("ternd", [], { TERND_INSPECT: "127.0.0.1:0" }),
      /^ws:\/\/127\.0\.0\.1:\d+\//,
    );
    assertEquals(await url("ternd", [], {}), "-");
    // The plugin and the CLI never open it.
    assertEquals(await url("tern", ["status"], { TERND_INSPECT: "127.0.0.1:0" }), "-");
  });
});

Deno.test("launcher runs the CNI plugin's V8 single-threaded unless TERN_PLUGIN_V8_FLAGS says otherwise", async () => {
  await withStandIn(`console.log(${V8_FLAGS_OF_CMDLINE});\n`, async (_dir, flags) => {
    assertEquals(await flags("tern", [], { CNI_COMMAND: "ADD" }), "--v8-flags=--single-threaded");
    assertEquals(await flags("tern", [], { CNI_COMMAND: "ADD", TERN_PLUGIN_V8_FLAGS: "" }), "-");
    assertEquals(
      await flags("tern", [], { CNI_COMMAND: "DEL", TERN_PLUGIN_V8_FLAGS: "--max-lazy" }),
      "--v8-flags=--max-lazy",
    );
    // The CLI and the daemon: not the plugin's flags.
    assertEquals(await flags("tern", ["status"], {}), "-");
    assert(!(await flags("ternd", [], { CNI_COMMAND: "ADD" })).includes("single-threaded"));
  });
});

import { runResultOf } from "../src/runner.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../test/assert.ts";
import { TERN_VERSION } from "../src/version.ts";
import {
  build,
  cachedDenortPath,
  deferDynamicImports,
  denoTarget,
  dropHelperSideEffectImports,
  gist,
  parseDenoVersion,
  planBuild,
  sourceFiles,
  sourceHash,
} from "./build.ts";

const probe = {
  cachedZip: "/c/dl/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip",
  cachedZipExists: false,
};

Deno.test("planBuild() in auto mode bundles without trying compile when denort is not at hand", () => {
  const plan = planBuild("auto", probe);
  assertEquals(plan.attempts, ["bundle"]);
  assertStringIncludes(plan.reason, "DENORT_BIN is unset");
  assertStringIncludes(plan.reason, probe.cachedZip);
});

Deno.test("planBuild() in auto mode tries compile first when DENORT_BIN or the cache has denort", () => {
  const fromEnv = planBuild("auto", { ...probe, denortBin: "/x/denort", denortBinExists: true });
  assertEquals(fromEnv.attempts, ["compile", "bundle"]);
  assertStringIncludes(fromEnv.reason, "/x/denort");
  const fromCache = planBuild("auto", { ...probe, cachedZipExists: true });
  assertEquals(fromCache.attempts, ["compile", "bundle"]);
  assertStringIncludes(fromCache.reason, "in the Deno cache");
});

Deno.test("planBuild() bundles when DENORT_BIN names a missing file", () => {
  const plan = planBuild("auto", { ...probe, denortBin: "/x/denort", denortBinExists: false });
  assertEquals(plan.attempts, ["bundle"]);
  assertStringIncludes(plan.reason, "missing file");
});

Deno.test("planBuild() tries an explicit mode alone, whatever is at hand", () => {
  assertEquals(planBuild("compile", probe).attempts, ["compile"]);
  assertEquals(planBuild("bundle", { ...probe, cachedZipExists: true }).attempts, ["bundle"]);
});

Deno.test("cachedDenortPath() and denoTarget() name the archive deno compile looks for", () => {
  assertEquals(denoTarget("linux", "x86_64"), "x86_64-unknown-linux-gnu");
  assertEquals(denoTarget("linux", "aarch64"), "aarch64-unknown-linux-gnu");
  assertEquals(denoTarget("darwin", "aarch64"), "aarch64-apple-darwin");
  assertEquals(
    cachedDenortPath("/root/.cache/deno", "2.9.6", "x86_64-unknown-linux-gnu"),
    "/root/.cache/deno/dl/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip",
  );
});

Deno.test("parseDenoVersion() reads the version and rejects other text", () => {
  assertEquals(
    parseDenoVersion("deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)\nv8 15"),
    "2.9.6",
  );
  let threw = false;
  try {
    parseDenoVersion("node v20");
  } catch (err) {
    threw = true;
    assertStringIncludes(String(err), "Cannot read the Deno version");
  }
  assert(threw);
});

Deno.test("gist() keeps error lines on one line without colours or backtraces", () => {
  const out =
    "\x1b[32mCompile\x1b[0m x\n\x1b[1m\x1b[31merror\x1b[0m: Writing failed\n\nCaused by:\n" +
    "    0: Setting up base binary.\n    1: dns error\n\nStack backtrace:\n   0: <unknown>\n";
  assertEquals(
    gist(out),
    "error: Writing failed | Caused by: | 0: Setting up base binary. | 1: dns error",
  );
  assertEquals(gist("just text\nmore"), "just text | more");
});

/** A tiny project with the shape of the real one: a role picked from argv[0], a lazy chunk. */
async function scratchProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tern-build-test-" });
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    `import process from "node:process";
const base = process.argv0.slice(process.argv0.lastIndexOf("/") + 1);
if (Deno.args[0] === "version") {
  console.log("tern ${TERN_VERSION}");
} else if (base === "ternd") {
  const heavy = await import("./heavy.ts");
  console.log(JSON.stringify({ role: "daemon", marker: heavy.MARKER, args: Deno.args }));
} else {
  console.log(JSON.stringify({ role: "cli", argv0: process.argv0, args: Deno.args }));
}
`,
  );
  await Deno.writeTextFile(`${dir}/heavy.ts`, `export const MARKER = "HEAVY_SENTINEL_" + 42;\n`);
  await Deno.mkdir(`${dir}/src`);
  await Deno.writeTextFile(`${dir}/src/a.ts`, "export const a = 1;\n");
  await Deno.writeTextFile(`${dir}/src/a_test.ts`, "// a test\n");
  return dir;
}

async function run(cmd: string, args: string[] = [], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdin: "null" }).output();
  return runResultOf(out);
}

Deno.test("sourceFiles() lists sources but not tests, and sourceHash() follows their contents", async () => {
  const dir = await scratchProject();
  try {
    assertEquals(await sourceFiles(dir), ["deno.json", "main.ts", "src/a.ts"]);
    const before = await sourceHash(dir);
    assertMatch(before, /^[0-9a-f]{64}$/);
    await Deno.writeTextFile(`${dir}/src/a_test.ts`, "// another test\n");
    assertEquals(await sourceHash(dir), before, "tests do not change the build");
    await Deno.writeTextFile(`${dir}/src/a.ts`, "export const a = 2;\n");
    assert((await sourceHash(dir)) !== before, "a source change does");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build() bundle mode makes a launcher, a lazy chunk per role, the pinned deno and build info", async () => {
  const dir = await scratchProject();
  try {
    const logs: string[] = [];
    const info = await build({
      project: dir,
      mode: "bundle",
      deno: Deno.execPath(),
      log: (l) => void logs.push(l),
    });
    const out = `${dir}/dist`;
    assertEquals(info.mode, "bundle");
    assertEquals(info.denoVersion, Deno.version.deno);
    assertEquals(info.sourceHash, await sourceHash(dir));
    assertEquals(JSON.parse(await Deno.readTextFile(`${out}/BUILD-INFO.json`)), info);
    assertStringIncludes(logs.join("\n"), "(bundle)");
    assertEquals(await Deno.readLink(`${out}/ternd`), "tern");
    assertEquals((await Deno.stat(`${out}/tern`)).mode! & 0o777, 0o755);
    const deno = await Deno.stat(`${out}/lib/deno`);
    assertEquals(deno.size, (await Deno.stat(Deno.execPath())).size);
    assertEquals(deno.mode! & 0o777, 0o755);

    const main = await Deno.readTextFile(`${out}/lib/main.js`);
    assert(!main.includes("HEAVY_SENTINEL_"), "the daemon's module is not in the entry chunk");
    let inChunk = false;
    for await (const e of Deno.readDir(`${out}/lib`)) {
      if (
        e.name.endsWith(".js") &&
        (await Deno.readTextFile(`${out}/lib/${e.name}`)).includes("HEAVY_SENTINEL_")
      ) {
        inChunk = true;
      }
    }
    assert(inChunk, "the daemon's module is a chunk of its own");

    const cli = await run(`${out}/tern`, ["a", "b c"]);
    assertEquals(JSON.parse(cli.stdout), { role: "cli", argv0: `${out}/tern`, args: ["a", "b c"] });
    const daemon = await run(`${out}/ternd`, ["--config", "x"]);
    assertEquals(JSON.parse(daemon.stdout), {
      role: "daemon",
      marker: "HEAVY_SENTINEL_42",
      args: ["--config", "x"],
    });
    assert(
      (await Deno.stat(`${out}/cache/deno`)).isDirectory,
      "the code cache lives in dist/cache",
    );
    for await (const e of Deno.readDir(dir)) {
      assert(!e.name.startsWith("dist."), `no leftover build dir: ${e.name}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build() in auto mode falls back to bundle when the compiled binary fails its smoke test", async () => {
  const dir = await scratchProject();
  try {
    // A "denort" that deno compile accepts but that cannot run the program: /bin/true.
    await Deno.copyFile("/bin/true", `${dir}/fake-denort`);
    const info = await build({
      project: dir,
      deno: Deno.execPath(),
      env: { ...Deno.env.toObject(), DENORT_BIN: `${dir}/fake-denort` },
      log: () => {},
    });
    assertEquals(info.mode, "bundle");
    assertStringIncludes(info.reason, "DENORT_BIN gives deno compile its runtime");
    assertStringIncludes(info.reason, "failed its smoke test");
    assertStringIncludes(info.reason, "fell back to bundle");
    assertEquals((await run(`${dir}/dist/tern`, ["version"])).stdout, `tern ${TERN_VERSION}\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build() in compile mode fails and keeps the previous dist when compile does not work", async () => {
  const dir = await scratchProject();
  try {
    await build({ project: dir, mode: "bundle", deno: Deno.execPath(), log: () => {} });
    const before = await Deno.readTextFile(`${dir}/dist/BUILD-INFO.json`);
    await Deno.copyFile("/bin/true", `${dir}/fake-denort`);
    await assertRejects(
      () =>
        build({
          project: dir,
          mode: "compile",
          deno: Deno.execPath(),
          env: { ...Deno.env.toObject(), DENORT_BIN: `${dir}/fake-denort` },
          log: () => {},
        }),
      Error,
      "the compile build failed its smoke test",
    );
    assertEquals(await Deno.readTextFile(`${dir}/dist/BUILD-INFO.json`), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build() names the missing pinned deno", async () => {
  const dir = await scratchProject();
  try {
    await assertRejects(
      () => build({ project: dir, mode: "bundle", log: () => {} }),
      Error,
      "Cannot find the pinned Deno",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dropHelperSideEffectImports() removes bare imports of the node:module helper chunk only", () => {
  const chunks = new Map([
    [
      "chunk-H.js",
      'import { createRequire } from "node:module";\nvar __require = createRequire(import.meta.url);\nexport { __require };\n',
    ],
    ["chunk-A.js", "export const a = 1;\n"],
    [
      "plugin.js",
      'import { a } from "./chunk-A.js";\nimport "./chunk-H.js";\nexport const p = a;\n',
    ],
    [
      "daemon.js",
      'import { __require } from "./chunk-H.js";\nimport "./chunk-A.js";\nexport const d = __require;\n',
    ],
  ]);
  const changed = dropHelperSideEffectImports(chunks);
  assertEquals([...changed.keys()], ["plugin.js"]);
  assertEquals(
    changed.get("plugin.js"),
    'import { a } from "./chunk-A.js";\nexport const p = a;\n',
  );
});

Deno.test("deferDynamicImports() hides the bundle's own chunks from deno's graph, nothing else", () => {
  const chunks = new Map([
    [
      "main.js",
      'import "./chunk-A.js";\nconst p = await import("./plugin-1.js");\n' +
      'const d = await import("./daemon-2.js");\nconst n = await import("node:process");\n',
    ],
    [
      "plugin-1.js",
      'import { a } from "./chunk-A.js";\nexport const p = () => import("./missing.js");\n',
    ],
    ["daemon-2.js", "export const d = 1;\n"],
    ["chunk-A.js", 'export const a = "import(\\"./plugin-1.js\\")";\n'],
  ]);
  const changed = deferDynamicImports(chunks);
  assertEquals([...changed.keys()], ["main.js"]);
  assertEquals(
    changed.get("main.js"),
    'import "./chunk-A.js";\nconst p = await import(String("./plugin-1.js"));\n' +
      'const d = await import(String("./daemon-2.js"));\nconst n = await import("node:process");\n',
  );
});

/**
 * `deno task build`: turns the checkout into `dist/`, the files that `install.sh` installs.
 *
 * Two ways to build, chosen by `--mode`:
 * - `compile`: `deno compile` makes `dist/tern`, one self-contained executable. Deno builds it on
 *   the `denort` runtime, which it downloads from dl.deno.land unless `DENORT_BIN` names a local
 *   copy or the download is already in the Deno cache (`$DENO_DIR/dl/release/v…/denort-….zip`).
 * - `bundle`: `deno bundle --code-splitting --platform browser` makes `dist/lib/*.js` (each
 *   role's dynamic import is its own chunk, so the plugin never parses the daemon's dependencies),
 *   a copy of the pinned Deno binary at `dist/lib/deno` and `dist/tern`, a bash launcher
 *   (`scripts/launcher.sh`) that runs them with argv[0] kept. Needs nothing from the network.
 * - `auto` (the default): compile when the denort runtime is at hand, else bundle. Compiling is
 *   never attempted without it, so an offline build cannot hang on the download; when it is
 *   attempted and fails, the build falls back to bundle.
 *
 * Either way `dist/ternd` links to `tern`, `dist/BUILD-INFO.json` records
 * {mode, reason, denoVersion, builtAt, ternVersion, sourceHash}, and the result must answer
 * `tern version` before it replaces `dist/` (built in `dist.tmp-<pid>`, then swapped in).
 * Flags: `--mode=auto|compile|bundle`, `--out DIR` (default `<project>/dist`), `--project DIR`
 * (default: this checkout), `--help`.
 * @module
 */
import { parseArgs } from "node:util";
import { concatBytes } from "../src/lib/bytes.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { runResultOf } from "../src/runner.ts";
import { TERN_VERSION } from "../src/version.ts";

/** How `dist/tern` is made. */
export type BuildMode = "compile" | "bundle";

/** The `--mode` flag: a mode, or `auto` to pick one. */
export type RequestedMode = BuildMode | "auto";

/** What `dist/BUILD-INFO.json` holds. */
export interface BuildInfo {
  mode: BuildMode;
  /** Why this mode was built, for people. */
  reason: string;
  denoVersion: string;
  /** ISO 8601. */
  builtAt: string;
  ternVersion: string;
  /** {@linkcode sourceHash} of the project when it was built; tests rebuild when it differs. */
  sourceHash: string;
}

/** Where a denort runtime could come from without the network. */
export interface DenortProbe {
  /** `DENORT_BIN`, when set. */
  denortBin?: string | undefined;
  /** Whether the file `DENORT_BIN` names exists. */
  denortBinExists?: boolean;
  /** Path of the denort archive in the Deno cache, checked or not. */
  cachedZip: string;
  /** Whether that archive exists. */
  cachedZipExists: boolean;
}

/** Which modes to try, in order, and why (pure). */
export interface BuildPlan {
  attempts: BuildMode[];
  reason: string;
}

/**
 * Decides what to build. `auto` tries `compile` only when a denort runtime is at hand and keeps
 * `bundle` as the fallback; an explicit mode is tried alone.
 */
export function planBuild(requested: RequestedMode, probe: DenortProbe): BuildPlan {
  if (requested === "bundle") return { attempts: ["bundle"], reason: "--mode=bundle was given" };
  if (requested === "compile") return { attempts: ["compile"], reason: "--mode=compile was given" };
  if (probe.denortBin) {
    if (probe.denortBinExists === false) {
      return {
        attempts: ["bundle"],
        reason: `DENORT_BIN names a missing file (${probe.denortBin}), so deno compile cannot work`,
      };
    }
    return {
      attempts: ["compile", "bundle"],
      reason: `DENORT_BIN gives deno compile its runtime (${probe.denortBin})`,
    };
  }
  if (probe.cachedZipExists) {
    return {
      attempts: ["compile", "bundle"],
      reason: `the denort runtime is in the Deno cache (${probe.cachedZip})`,
    };
  }
  return {
    attempts: ["bundle"],
    reason:
      "deno compile needs the denort runtime, which is not at hand: DENORT_BIN is unset and " +
      `${probe.cachedZip} is not cached (deno compile would download it from dl.deno.land)`,
  };
}

/** The Deno target triple of this machine, as denort archives are named. */
export function denoTarget(os: string, arch: string): string {
  const cpu = arch === "aarch64" || arch === "arm64" ? "aarch64" : "x86_64";
  if (os === "darwin") return `${cpu}-apple-darwin`;
  if (os === "windows") return `${cpu}-pc-windows-msvc`;
  return `${cpu}-unknown-linux-gnu`;
}

/** Path of the denort archive that `deno compile` looks for in the Deno cache. */
export function cachedDenortPath(denoDir: string, denoVersion: string, target: string): string {
  return `${denoDir}/dl/release/v${denoVersion}/denort-${target}.zip`;
}

/** Parses `deno --version` output: "deno 2.9.6 (stable, …)" → "2.9.6". */
export function parseDenoVersion(text: string): string {
  const match = /^deno (\S+)/m.exec(text);
  if (!match?.[1]) throw new Error(`Cannot read the Deno version: ${text.slice(0, 100)}`);
  return match[1];
}

const SOURCE_DIRS = ["src", "plugin", "daemon", "cli"];
const SOURCE_FILES = ["main.ts", "deno.json", "package-lock.json"];

/**
 * The files that go into a build of `project`, relative to it and sorted: `main.ts`, `deno.json`,
 * `package-lock.json` and every non-test `.ts` file under src/, plugin/, daemon/ and cli/.
 */
export async function sourceFiles(project: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of SOURCE_FILES) {
    if (await exists(`${project}/${file}`)) found.push(file);
  }
  const walk = async (dir: string): Promise<void> => {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const entry of Deno.readDir(`${project}/${dir}`)) entries.push(entry);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) found.push(path);
    }
  };
  for (const dir of SOURCE_DIRS) await walk(dir);
  return found.sort();
}

/**
 * SHA-256 over the project's {@linkcode sourceFiles} (names and contents) and the build tooling
 * (this script and the launcher): equal hashes mean an equal build.
 */
export async function sourceHash(project: string): Promise<string> {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  const add = async (name: string, path: string) => {
    parts.push(encoder.encode(`${name}\0`), await Deno.readFile(path), encoder.encode("\0"));
  };
  for (const file of await sourceFiles(project)) await add(file, `${project}/${file}`);
  await add("@build.ts", new URL(import.meta.url).pathname);
  await add("@launcher.sh", LAUNCHER);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(parts)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const LAUNCHER = new URL("./launcher.sh", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command with a time limit; a command past it is killed and reported as timed out. */
async function run(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs: number },
): Promise<Ran> {
  const [cmd, ...args] = argv;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const out = await new Deno.Command(cmd!, {
      args,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    return { ...runResultOf(out), timedOut: controller.signal.aborted };
  } finally {
    clearTimeout(timer);
  }
}

/** The gist of a command's output on one line: colours stripped, error lines first (pure). */
export function gist(output: string, maxLines = 8): string {
  // deno prints colours even to a pipe; strip them so the message reads in a log.
  // deno-lint-ignore no-control-regex
  const text = output.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = text.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !/^(Stack backtrace:|\d+: <unknown>)$/.test(l)
  );
  const useful = lines.filter((l) => /error|cannot|failed|caused by|^\d+: /i.test(l));
  return (useful.length ? useful : lines).slice(0, maxLines).join(" | ");
}

function failure(what: string, ran: Ran, timeoutMs: number): Error {
  if (ran.timedOut) return new Error(`${what} timed out: no answer in ${timeoutMs / 1000} s`);
  return new Error(`${what} failed: exit ${ran.code}: ${gist(`${ran.stderr}\n${ran.stdout}`)}`);
}

/** Options of {@linkcode build}. */
export interface BuildOptions {
  /** The checkout to build (default: the one this script is in). */
  project?: string;
  /** Output directory (default `<project>/dist`). */
  out?: string;
  /** `auto` (default), `compile` or `bundle`. */
  mode?: RequestedMode;
  /** The pinned Deno binary (default: `<project>/node_modules/.bin/deno`, resolved). */
  deno?: string;
  /** Environment to read `DENORT_BIN` from (default: the process's). */
  env?: Record<string, string>;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** Builds `out` and returns what `BUILD-INFO.json` says; throws when no attempted mode worked. */
export async function build(options: BuildOptions = {}): Promise<BuildInfo> {
  const project = options.project ?? REPO;
  const out = options.out ?? `${project}/dist`;
  const env = options.env ?? Deno.env.toObject();
  const log = options.log ?? ((line: string) => console.error(line));
  const deno = await resolveDeno(options.deno ?? `${project}/node_modules/.bin/deno`);
  const version = await run([deno, "--version"], { timeoutMs: 30_000 });
  const denoVersion = parseDenoVersion(version.stdout);

  const info = await run([deno, "info", "--json"], { cwd: project, env, timeoutMs: 30_000 });
  const denoDir = String(JSON.parse(info.stdout).denoDir);
  const cachedZip = cachedDenortPath(
    denoDir,
    denoVersion,
    denoTarget(Deno.build.os, Deno.build.arch),
  );
  const denortBin = env.DENORT_BIN || undefined;
  const plan = planBuild(options.mode ?? "auto", {
    denortBin,
    denortBinExists: denortBin ? await exists(denortBin) : false,
    cachedZip,
    cachedZipExists: await exists(cachedZip),
  });

  const hash = await sourceHash(project);
  const tmp = `${out}.tmp-${Deno.pid}`;
  let reason = plan.reason;
  for (const [index, mode] of plan.attempts.entries()) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp, { recursive: true });
    try {
      if (mode === "compile") await compileInto(tmp, { project, deno, env });
      else await bundleInto(tmp, { project, deno });
      await Deno.symlink("tern", `${tmp}/ternd`);
      const result: BuildInfo = {
        mode,
        reason,
        denoVersion,
        builtAt: new Date().toISOString(),
        ternVersion: TERN_VERSION,
        sourceHash: hash,
      };
      await Deno.writeTextFile(`${tmp}/BUILD-INFO.json`, JSON.stringify(result, null, 2) + "\n");
      await smokeTest(`${tmp}/tern`, mode);
      await swapIn(tmp, out);
      log(`built ${out} (${mode}): ${reason}`);
      return result;
    } catch (err) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      const message = errorMessage(err);
      if (index === plan.attempts.length - 1) throw err;
      log(`${mode} failed, falling back: ${message}`);
      reason = `${reason}; but ${message}; so fell back to bundle`;
    }
  }
  throw new Error("Cannot build: no build mode was attempted");
}

async function resolveDeno(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    throw new Error(`Cannot find the pinned Deno: ${path} is missing: run npm ci`);
  }
}

/** `deno compile` with the denort runtime from DENORT_BIN or the cache. */
async function compileInto(
  dir: string,
  options: { project: string; deno: string; env: Record<string, string> },
): Promise<void> {
  const timeoutMs = 300_000;
  const ran = await run([
    options.deno,
    "compile",
    "--quiet",
    "--no-check",
    "--allow-all",
    "--unstable-kv",
    "--no-prompt",
    "--output",
    `${dir}/tern`,
    "main.ts",
  ], { cwd: options.project, env: { ...options.env, DENO_NO_UPDATE_CHECK: "1" }, timeoutMs });
  if (ran.code !== 0 || ran.timedOut) throw failure("deno compile", ran, timeoutMs);
}

/**
 * With code splitting, esbuild puts its CommonJS helpers (`__commonJS`, `__require`, needed by
 * the `yaml` package that only the daemon uses) in a chunk that opens with
 * `import ... from "node:module"`, and every entry chunk imports it for its side effects
 * (`import "./chunk-X.js";`) even when it uses none of its exports. Loading `node:module` starts
 * Deno's Node compatibility layer: about 30 ms on every plugin call. The helper chunk has no
 * side effects of its own, so a bare import of it can go; chunks that use its exports keep their
 * named imports. Returns only the chunks it changed. Pure.
 */
export function dropHelperSideEffectImports(
  chunks: ReadonlyMap<string, string>,
): Map<string, string> {
  const helpers = [...chunks].filter(([, text]) => /from "node:module";/.test(text)).map(([n]) =>
    n
  );
  const changed = new Map<string, string>();
  for (const [name, text] of chunks) {
    let next = text;
    for (const helper of helpers) {
      next = next.replaceAll(
        new RegExp(`^import "\\./${helper.replaceAll(".", "\\.")}";\\n`, "gm"),
        "",
      );
    }
    if (next !== text) changed.set(name, next);
  }
  return changed;
}

/**
 * `deno run` reads and parses, before the program starts, every module that a dynamic `import()`
 * with a literal specifier names, transitively, as it builds the module graph: the plugin's
 * process read all 39 chunks (1.1 MB: the daemon's, zod, yaml) to answer a CNI call that runs 12
 * of them (89 KB), ~2.5 ms of every call (docs/benchmarks.md, "plugin start-up"). A specifier that
 * is not a literal is resolved when the call runs, against the same importing module, so each
 * `import("./<chunk>")` of the bundle becomes `import(String("./<chunk>"))`: a role's chunks
 * are read only by the process that takes that role. Only imports of the bundle's own chunks are
 * touched. Returns only the chunks it changed. Pure.
 */
export function deferDynamicImports(chunks: ReadonlyMap<string, string>): Map<string, string> {
  const changed = new Map<string, string>();
  for (const [name, text] of chunks) {
    const next = text.replaceAll(
      /\bimport\("\.\/([^"\\]+)"\)/g,
      (whole, target: string) => chunks.has(target) ? `import(String("./${target}"))` : whole,
    );
    if (next !== text) changed.set(name, next);
  }
  return changed;
}

/** `deno bundle --code-splitting`, the pinned deno beside it and the launcher. */
async function bundleInto(dir: string, options: { project: string; deno: string }): Promise<void> {
  const timeoutMs = 300_000;
  const ran = await run([
    options.deno,
    "bundle",
    "--quiet",
    "--code-splitting",
    // Packages' "browser"/"default" entry points, not their "node" ones: npm:yaml's node build
    // is CommonJS, whose shim loads node:module and with it Deno's Node compatibility layer
    // (about 5-10 MiB of the resident daemon, docs/benchmarks.md "idle"); its browser build is
    // the same parser as ES modules. tern's own code uses Deno's APIs, which this leaves alone.
    "--platform",
    "browser",
    "--outdir",
    `${dir}/lib`,
    "main.ts",
  ], { cwd: options.project, env: { ...Deno.env.toObject(), NO_COLOR: "1" }, timeoutMs });
  if (ran.code !== 0 || ran.timedOut) throw failure("deno bundle", ran, timeoutMs);
  if (!(await exists(`${dir}/lib/main.js`))) {
    throw new Error(`deno bundle failed: it wrote no ${dir}/lib/main.js`);
  }
  const chunks = new Map<string, string>();
  for await (const entry of Deno.readDir(`${dir}/lib`)) {
    if (entry.isFile && entry.name.endsWith(".js")) {
      chunks.set(entry.name, await Deno.readTextFile(`${dir}/lib/${entry.name}`));
    }
  }
  const edited = new Map(chunks);
  for (const [name, text] of dropHelperSideEffectImports(edited)) edited.set(name, text);
  for (const [name, text] of deferDynamicImports(edited)) edited.set(name, text);
  for (const [name, text] of edited) {
    if (text !== chunks.get(name)) await Deno.writeTextFile(`${dir}/lib/${name}`, text);
  }
  await Deno.copyFile(options.deno, `${dir}/lib/deno`);
  await Deno.chmod(`${dir}/lib/deno`, 0o755);
  await Deno.copyFile(LAUNCHER, `${dir}/tern`);
  await Deno.chmod(`${dir}/tern`, 0o755);
}

/**
 * Runs `tern version` on the fresh build: a compiled binary built on a wrong runtime, or a
 * bundle that cannot load, must not replace a working `dist/`.
 */
async function smokeTest(tern: string, mode: BuildMode): Promise<void> {
  const timeoutMs = 60_000;
  const ran = await run([tern, "version"], { timeoutMs });
  if (ran.code !== 0 || ran.timedOut || !ran.stdout.includes(TERN_VERSION)) {
    const detail = ran.timedOut
      ? `no answer in ${timeoutMs / 1000} s`
      : `exit ${ran.code}: ${gist(`${ran.stderr}\n${ran.stdout}`, 3)}`;
    throw new Error(`the ${mode} build failed its smoke test (tern version): ${detail}`);
  }
}

/** Replaces `out` with `tmp`; readers see the old or the new tree, missing for a moment only. */
async function swapIn(tmp: string, out: string): Promise<void> {
  const old = `${out}.old-${Deno.pid}`;
  try {
    await Deno.rename(out, old);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.rename(tmp, out);
  await Deno.remove(old, { recursive: true }).catch(() => {});
}

const USAGE = `usage: deno task build [--mode=auto|compile|bundle] [--out DIR] [--project DIR]

  --mode auto     compile when the denort runtime is at hand (DENORT_BIN or the Deno cache),
                  else bundle (default)
  --mode compile  deno compile into one executable, dist/tern; fails without denort
  --mode bundle   deno bundle into dist/lib, the pinned deno beside it and a launcher, dist/tern
  --out DIR       output directory (default: <project>/dist)
  --project DIR   the checkout to build (default: this one)`;

/** The command line: parses flags, builds, prints the outcome; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        mode: { type: "string", default: "auto" },
        out: { type: "string" },
        project: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`build: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const mode = values.mode;
  if (mode !== "auto" && mode !== "compile" && mode !== "bundle") {
    console.error(`build: Unknown mode: ${mode}\n${USAGE}`);
    return 2;
  }
  try {
    const project = values.project ? await Deno.realPath(values.project) : undefined;
    await build({
      mode,
      ...(project ? { project } : {}),
      ...(values.out ? { out: values.out } : {}),
    });
    return 0;
  } catch (err) {
    console.error(`build: ${errorMessage(err)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

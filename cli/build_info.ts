/**
 * Finds `BUILD-INFO.json`, written by `scripts/build.ts`, for `tern version`: beside the bundle's
 * lib directory (`<lib>/../BUILD-INFO.json`), beside a compiled executable, or where `install.sh`
 * puts it (`/usr/local/lib/tern/BUILD-INFO.json`, reached relatively so a staging root works).
 * Running from source there is none, and `tern version` says so.
 * @module
 */

/** What the CLI shows of a build; the file may hold more. */
export interface BuildInfo {
  mode: string;
  reason?: string;
  denoVersion?: string;
  builtAt?: string;
}

/**
 * The places to look, most specific first (pure). `moduleUrl` is the running module's
 * `import.meta.url`, `execPath` is `Deno.execPath()`. A bundle runs `.js` chunks from its lib
 * directory; a compiled build runs from an executable not named `deno`; anything else is a
 * checkout run from source, which has no build info.
 */
export function buildInfoCandidates(moduleUrl: string, execPath: string): string[] {
  if (moduleUrl.startsWith("file:") && moduleUrl.endsWith(".js")) {
    return [decodeURIComponent(new URL("../BUILD-INFO.json", moduleUrl).pathname)];
  }
  const slash = execPath.lastIndexOf("/");
  const dir = execPath.slice(0, slash);
  if (slash < 0 || execPath.slice(slash + 1) === "deno") return [];
  return [`${dir}/BUILD-INFO.json`, `${dir}/../../../usr/local/lib/tern/BUILD-INFO.json`];
}

/** Parses a BUILD-INFO.json text; undefined when it is not one (pure). */
export function parseBuildInfo(text: string): BuildInfo | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    if (typeof value !== "object" || value === null || typeof value.mode !== "string") {
      return undefined;
    }
    const info: BuildInfo = { mode: value.mode };
    if (typeof value.reason === "string") info.reason = value.reason;
    if (typeof value.denoVersion === "string") info.denoVersion = value.denoVersion;
    if (typeof value.builtAt === "string") info.builtAt = value.builtAt;
    return info;
  } catch {
    return undefined;
  }
}

/** The first readable, valid build info among `candidates`, or undefined. */
export async function readBuildInfo(candidates: readonly string[]): Promise<BuildInfo | undefined> {
  for (const path of candidates) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      continue;
    }
    const info = parseBuildInfo(text);
    if (info) return info;
  }
  return undefined;
}

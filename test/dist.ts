/**
 * The build output for tests that need the real artefact (`install.sh`, the launcher, the bench):
 * {@linkcode ensureDist} rebuilds `dist/` with `scripts/build.ts` when it is missing or was built
 * from other sources (its `BUILD-INFO.json` `sourceHash` differs), once per test process.
 * @module
 */
import { build, type BuildInfo, sourceHash } from "../scripts/build.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The checkout's `dist/` directory. */
export const DIST = `${ROOT}/dist`;

let pending: Promise<BuildInfo> | undefined;

/** Reads `dir/BUILD-INFO.json`; undefined when missing or unreadable. */
export async function readBuildInfo(dir: string): Promise<BuildInfo | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/BUILD-INFO.json`)) as BuildInfo;
  } catch {
    return undefined;
  }
}

/** Whether `dir` holds a build of the current sources. */
export async function isFresh(dir: string = DIST): Promise<boolean> {
  const info = await readBuildInfo(dir);
  if (!info) return false;
  try {
    await Deno.stat(`${dir}/tern`);
  } catch {
    return false;
  }
  return info.sourceHash === await sourceHash(ROOT);
}

/** Makes sure `dist/` is a build of the current sources and returns its build info. */
export function ensureDist(): Promise<BuildInfo> {
  pending ??= (async () => {
    if (await isFresh()) return (await readBuildInfo(DIST))!;
    return await build({ project: ROOT, out: DIST, log: () => {} });
  })();
  return pending;
}

import { assertEquals } from "../test/assert.ts";
import { buildInfoCandidates, parseBuildInfo, readBuildInfo } from "./build_info.ts";

Deno.test("buildInfoCandidates() looks beside the lib dir of a bundle", () => {
  assertEquals(
    buildInfoCandidates(
      "file:///usr/local/lib/tern/lib/main-ABC.js",
      "/usr/local/lib/tern/lib/deno",
    ),
    ["/usr/local/lib/tern/BUILD-INFO.json"],
  );
});

Deno.test("buildInfoCandidates() looks beside a compiled executable and in its install dir", () => {
  assertEquals(
    buildInfoCandidates("file:///tmp/deno-compile-tern/cli/main.ts", "/opt/cni/bin/tern"),
    ["/opt/cni/bin/BUILD-INFO.json", "/opt/cni/bin/../../../usr/local/lib/tern/BUILD-INFO.json"],
  );
});

Deno.test("buildInfoCandidates() finds nothing when running from source", () => {
  assertEquals(buildInfoCandidates("file:///work/main/cli/main.ts", "/usr/bin/deno"), []);
});

Deno.test("parseBuildInfo() keeps the known fields and rejects what is not build info", () => {
  assertEquals(
    parseBuildInfo('{"mode":"bundle","denoVersion":"2.9.6","builtAt":"x","extra":1,"reason":7}'),
    { mode: "bundle", denoVersion: "2.9.6", builtAt: "x" },
  );
  assertEquals(parseBuildInfo("{}"), undefined);
  assertEquals(parseBuildInfo("not json"), undefined);
  assertEquals(parseBuildInfo("null"), undefined);
});

Deno.test("readBuildInfo() returns the first valid file and skips missing or broken ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/broken.json`, "{");
    await Deno.writeTextFile(`${dir}/good.json`, '{"mode":"compile"}');
    assertEquals(
      await readBuildInfo([`${dir}/missing.json`, `${dir}/broken.json`, `${dir}/good.json`]),
      { mode: "compile" },
    );
    assertEquals(await readBuildInfo([`${dir}/missing.json`]), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

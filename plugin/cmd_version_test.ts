import { assertEquals } from "../test/assert.ts";
import { cmdVersion } from "./cmd_version.ts";

const supportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

Deno.test("cmdVersion() echoes stdin's cniVersion with the supported versions", () => {
  assertEquals(cmdVersion(`{"cniVersion":"0.4.0"}`), { cniVersion: "0.4.0", supportedVersions });
});

Deno.test("cmdVersion() answers for 1.1.0 when stdin is empty or unreadable", () => {
  assertEquals(cmdVersion(""), { cniVersion: "1.1.0", supportedVersions });
  assertEquals(cmdVersion("garbage"), { cniVersion: "1.1.0", supportedVersions });
});

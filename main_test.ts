import { assertEquals } from "./test/assert.ts";
import { chooseRole } from "./main.ts";

Deno.test("chooseRole() runs the daemon when invoked as ternd, whatever the environment", () => {
  assertEquals(chooseRole("/usr/local/bin/ternd", ["--config", "x"], "ADD"), {
    role: "daemon",
    args: ["--config", "x"],
  });
});

Deno.test("chooseRole() runs the plugin when CNI_COMMAND is set", () => {
  assertEquals(chooseRole("/opt/cni/bin/tern", [], "ADD").role, "plugin");
  assertEquals(chooseRole("deno", [], "VERSION").role, "plugin");
});

Deno.test("chooseRole() runs the daemon for `tern daemon` and the CLI otherwise", () => {
  assertEquals(chooseRole("tern", ["daemon", "--config", "c.yaml"], undefined), {
    role: "daemon",
    args: ["--config", "c.yaml"],
  });
  assertEquals(chooseRole("tern", ["status"], ""), { role: "cli", args: ["status"] });
});

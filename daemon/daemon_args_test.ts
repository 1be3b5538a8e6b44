import { assertEquals, assertThrows } from "../test/assert.ts";
import { DaemonArgsError, readDaemonFlags } from "./daemon_args.ts";
import { DEFAULT_CONFIG_PATH } from "./config.ts";

Deno.test("readDaemonFlags() defaults to the default config file and keeps allocations", () => {
  assertEquals(readDaemonFlags([]), {
    configFile: DEFAULT_CONFIG_PATH,
    releaseOutsidePools: false,
    help: false,
  });
});

Deno.test("readDaemonFlags() takes --config as a separate or an inline value", () => {
  assertEquals(readDaemonFlags(["--config", "/etc/a.yaml"]).configFile, "/etc/a.yaml");
  assertEquals(readDaemonFlags(["--config=/etc/b.yaml"]).configFile, "/etc/b.yaml");
  assertEquals(
    readDaemonFlags(["--config=/etc/a.yaml", "--config", "c.yaml"]).configFile,
    "c.yaml",
  );
});

Deno.test("readDaemonFlags() reads --release-outside-pools and both help flags", () => {
  const flags = readDaemonFlags(["--release-outside-pools", "--config", "x.yaml"]);
  assertEquals(flags.releaseOutsidePools, true);
  assertEquals(flags.configFile, "x.yaml");
  assertEquals(readDaemonFlags(["-h"]).help, true);
  assertEquals(readDaemonFlags(["--help"]).help, true);
});

Deno.test("readDaemonFlags() refuses a --config without a file, naming the option", () => {
  assertThrows(() => readDaemonFlags(["--config"]), DaemonArgsError, "--config needs a file");
  assertThrows(() => readDaemonFlags(["--config="]), DaemonArgsError, "--config needs a file");
  assertThrows(
    () => readDaemonFlags(["--config", "--help"]),
    DaemonArgsError,
    "--config needs a file",
  );
});

Deno.test("readDaemonFlags() refuses unknown options, values on switches and positionals", () => {
  assertThrows(() => readDaemonFlags(["--verbose"]), DaemonArgsError, "Unknown option: --verbose");
  assertThrows(
    () => readDaemonFlags(["--help=yes"]),
    DaemonArgsError,
    "Option --help takes no value: --help=yes",
  );
  assertThrows(() => readDaemonFlags(["run"]), DaemonArgsError, "Unexpected argument: run");
});

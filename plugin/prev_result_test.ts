import { assertEquals, assertThrows } from "../test/assert.ts";
import { ShapeError } from "./_shape.ts";
import { parsePrevResult } from "./prev_result.ts";

Deno.test("parsePrevResult() reads a 0.4.0 result and drops the IPs' version", () => {
  assertEquals(
    parsePrevResult({
      cniVersion: "0.4.0",
      interfaces: [{ name: "tern1" }, { name: "eth0", mac: "0a:00:00:00:00:01", sandbox: "/ns" }],
      ips: [{ version: "4", address: "10.0.0.2/32", gateway: "169.254.1.1", interface: 1 }],
      routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
    }),
    {
      interfaces: [{ name: "tern1" }, { name: "eth0", mac: "0a:00:00:00:00:01", sandbox: "/ns" }],
      ips: [{ address: "10.0.0.2/32", gateway: "169.254.1.1", interface: 1 }],
      routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
      dns: {},
    },
  );
});

Deno.test("parsePrevResult() accepts a result with no interfaces, IPs or routes", () => {
  assertEquals(parsePrevResult({ cniVersion: "1.1.0" }), {
    interfaces: [],
    ips: [],
    routes: [],
    dns: {},
  });
});

Deno.test("parsePrevResult() names the key path of a malformed field", () => {
  assertThrows(
    () => parsePrevResult({ ips: [{ address: "10.0.0.2" }] }),
    ShapeError,
    `"prevResult.ips[0].address" must be in CIDR notation: got "10.0.0.2"`,
  );
  assertThrows(
    () => parsePrevResult({ interfaces: [], ips: [{ address: "10.0.0.2/32", interface: 0 }] }),
    ShapeError,
    `"prevResult.ips[0].interface" must index one of the 0 interfaces: got 0`,
  );
  assertThrows(() => parsePrevResult([]), ShapeError, `"prevResult" must be an object: got []`);
  assertThrows(
    () => parsePrevResult({ dns: { nameservers: "8.8.8.8" } }),
    ShapeError,
    `"prevResult.dns.nameservers" must be a list`,
  );
});

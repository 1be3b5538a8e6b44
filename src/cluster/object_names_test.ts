import { assertEquals } from "../../test/assert.ts";
import { dnsLabel, isDnsLabel, isDnsSubdomain, isPortName, subdomain } from "./object_names.ts";

Deno.test("isDnsSubdomain() takes dotted lowercase names up to 253 and nothing else", () => {
  assertEquals(
    ["node-1", "a.b.c", "x".repeat(253), "x".repeat(254), "Node", "-a", "a..b", ""].map(
      isDnsSubdomain,
    ),
    [true, true, true, false, false, false, false, false],
  );
});

Deno.test("isDnsLabel() takes lowercase names without dots up to 63", () => {
  assertEquals(
    ["team-a", "x".repeat(63), "x".repeat(64), "a.b", "a-", ""].map(isDnsLabel),
    [true, true, false, false, false, false],
  );
});

Deno.test("isPortName() needs a letter, at most 15 characters and no double dash", () => {
  assertEquals(
    ["http", "h2c-metrics", "8080", "a--b", "x".repeat(16), "Http"].map(isPortName),
    [true, true, false, false, false, false],
  );
});

Deno.test("subdomain and dnsLabel name the value and the rule when they reject it", () => {
  const bad = subdomain.safeParse("Web_1");
  assertEquals(
    bad.success ? "" : bad.error.issues[0]!.message,
    '"Web_1" is not a valid name: lowercase letters, digits, "-" and ".", at most 253',
  );
  const badLabel = dnsLabel.safeParse("a.b");
  assertEquals(
    badLabel.success ? "" : badLabel.error.issues[0]!.message,
    '"a.b" is not a valid name: lowercase letters, digits and "-", at most 63',
  );
});

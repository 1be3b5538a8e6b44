import { assertEquals, assertStringIncludes, assertThrows } from "../test/assert.ts";
import { CniError } from "../src/cni_error.ts";
import { type CniEnv, parseEnv } from "./env.ts";

const add = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "ctr1",
  CNI_NETNS: "/var/run/netns/pod1",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};
const exists = () => true;

Deno.test("parseEnv() returns the attachment's identity for ADD", () => {
  assertEquals(
    parseEnv({ ...add, CNI_ARGS: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p" }, { netnsExists: exists }),
    {
      command: "ADD",
      containerId: "ctr1",
      ifname: "eth0",
      netns: "/var/run/netns/pod1",
      path: "/opt/cni/bin",
      args: { ignoreUnknown: false, podNamespace: "ns", podName: "p" },
    },
  );
});

Deno.test("parseEnv() needs only CNI_COMMAND for VERSION, STATUS and GC", () => {
  assertEquals(parseEnv({ CNI_COMMAND: "VERSION" }), { command: "VERSION" });
  assertEquals(parseEnv({ CNI_COMMAND: "STATUS" }), { command: "STATUS" });
  assertEquals(parseEnv({ CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin" }), {
    command: "GC",
    path: "/opt/cni/bin",
  });
});

Deno.test("parseEnv() makes CNI_NETNS optional for DEL and does not look for it", () => {
  const del = { CNI_COMMAND: "DEL", CNI_CONTAINERID: "ctr1", CNI_IFNAME: "eth0" };
  const never = () => {
    throw new Error("DEL must not stat the netns");
  };
  assertEquals(parseEnv(del, { netnsExists: never }), {
    command: "DEL",
    containerId: "ctr1",
    ifname: "eth0",
    args: { ignoreUnknown: false },
  });
  const withNetns: CniEnv = parseEnv({ ...del, CNI_NETNS: "/gone" }, { netnsExists: never });
  assertEquals(withNetns.command === "DEL" && withNetns.netns, "/gone");
});

const invalid: [string, Record<string, string>, string[], string][] = [
  ["missing CNI_COMMAND", { ...add, CNI_COMMAND: "" }, ["CNI_COMMAND"], "missing"],
  ["unknown CNI_COMMAND", { ...add, CNI_COMMAND: "UP" }, ["CNI_COMMAND"], `got "UP"`],
  ["missing CNI_CONTAINERID", { ...add, CNI_CONTAINERID: "" }, ["CNI_CONTAINERID"], "missing"],
  [
    "container ID with a slash",
    { ...add, CNI_CONTAINERID: "a/b" },
    ["CNI_CONTAINERID"],
    "must match",
  ],
  [
    "container ID starting with a dot",
    { ...add, CNI_CONTAINERID: ".a" },
    ["CNI_CONTAINERID"],
    "must match",
  ],
  ["missing CNI_IFNAME", { ...add, CNI_IFNAME: "" }, ["CNI_IFNAME"], "missing"],
  [
    "16-character ifname",
    { ...add, CNI_IFNAME: "a234567890123456" },
    ["CNI_IFNAME"],
    "at most 15 bytes",
  ],
  ["ifname with a slash", { ...add, CNI_IFNAME: "eth/0" }, ["CNI_IFNAME"], "must not contain"],
  ["ifname with a colon", { ...add, CNI_IFNAME: "eth:0" }, ["CNI_IFNAME"], "must not contain"],
  ["ifname with a space", { ...add, CNI_IFNAME: "eth 0" }, ["CNI_IFNAME"], "must not contain"],
  // The kernel's limit is in bytes: 8 "é" are 16 bytes of UTF-8 (libcni counts bytes too).
  [
    "16-byte ifname of 8 characters",
    { ...add, CNI_IFNAME: "éééééééé" },
    ["CNI_IFNAME"],
    "15 bytes",
  ],
  // Go's unicode.IsSpace, which libcni applies, counts U+0085 (NEL); JavaScript's \s does not.
  ["ifname with a NEL", { ...add, CNI_IFNAME: "eth\u00850" }, ["CNI_IFNAME"], "must not contain"],
  [
    "CNI_NETNS with a NEL",
    { ...add, CNI_NETNS: "/run/netns/a\u0085b" },
    ["CNI_NETNS"],
    "without whitespace",
  ],
  ["ifname '.'", { ...add, CNI_IFNAME: "." }, ["CNI_IFNAME"], `must not be "." or ".."`],
  ["ifname '..'", { ...add, CNI_IFNAME: ".." }, ["CNI_IFNAME"], `must not be "." or ".."`],
  ["missing CNI_NETNS for ADD", { ...add, CNI_NETNS: "" }, ["CNI_NETNS"], "missing"],
  ["relative CNI_NETNS", { ...add, CNI_NETNS: "pod1" }, ["CNI_NETNS"], "absolute path"],
  [
    "missing CNI_NETNS for CHECK",
    { ...add, CNI_COMMAND: "CHECK", CNI_NETNS: "" },
    ["CNI_NETNS"],
    "missing",
  ],
  ["malformed CNI_ARGS", { ...add, CNI_ARGS: "K8S_POD_NAME" }, ["CNI_ARGS"], "not KEY=VALUE"],
  ["unknown CNI_ARGS key", { ...add, CNI_ARGS: "X=1" }, ["CNI_ARGS"], "unknown key X"],
  [
    "several bad variables",
    { CNI_COMMAND: "DEL", CNI_IFNAME: "a:b", CNI_ARGS: "oops" },
    ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_ARGS"],
    "CNI_CONTAINERID is missing",
  ],
];

for (const [what, env, names, detail] of invalid) {
  Deno.test(`parseEnv() rejects ${what} with code 4 naming the variable`, () => {
    const err = assertThrows(() => parseEnv(env, { netnsExists: exists }), CniError);
    assertEquals(err.code, 4);
    assertStringIncludes(err.message, `Invalid environment variables ${names.join(", ")}: `);
    assertStringIncludes(err.message, detail);
  });
}

Deno.test("parseEnv() requires ADD's netns to exist but not CHECK's", () => {
  const missing = () => false;
  const err = assertThrows(() => parseEnv(add, { netnsExists: missing }), CniError);
  assertEquals(err.code, 4);
  assertEquals(
    err.message,
    "Invalid environment variables CNI_NETNS: CNI_NETNS does not exist: /var/run/netns/pod1",
  );
  assertEquals(
    parseEnv({ ...add, CNI_COMMAND: "CHECK" }, { netnsExists: missing }).command,
    "CHECK",
  );
});

Deno.test("parseEnv() accepts a 15-character ifname and libcni's container ID characters", () => {
  const env = parseEnv(
    { ...add, CNI_IFNAME: "a23456789012345", CNI_CONTAINERID: "A0_b.c-d" },
    { netnsExists: exists },
  );
  assertEquals(env.command === "ADD" && [env.ifname, env.containerId], [
    "a23456789012345",
    "A0_b.c-d",
  ]);
});

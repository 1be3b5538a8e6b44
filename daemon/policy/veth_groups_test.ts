import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { Ip } from "../../src/ip.ts";
import { READY_GROUP } from "../../src/policy/render.ts";
import type { Runner } from "../../src/runner.ts";
import { groupChanges, IpVethGroups, NetlinkVethGroups, parseGroup } from "./veth_groups.ts";

Deno.test("groupChanges() marks ready veths without the mark and unmarks the others, skipping absent ones", () => {
  const have = new Map([
    ["terna", 0], // ready, not marked
    ["ternb", READY_GROUP], // ready, marked
    ["ternc", READY_GROUP], // not ready, marked
    ["ternd", 7], // not ready, someone's group: left alone
  ]);
  const ready = new Set(["terna", "ternb", "terngone"]);
  assertEquals(
    groupChanges(have, ready),
    new Map([["terna", READY_GROUP], ["ternc", 0]]),
  );
});

Deno.test("parseGroup() reads ip's spellings", () => {
  assertEquals(parseGroup("default"), 0);
  assertEquals(parseGroup(undefined), 0);
  assertEquals(parseGroup(String(READY_GROUP)), READY_GROUP);
  assertEquals(parseGroup(12), 12);
  assert(Number.isNaN(parseGroup("mygroup")), "a named group is not tern's mark");
});

Deno.test("IpVethGroups lists only tern's veths and sets groups in one forced batch; a gone veth is no failure", async () => {
  const calls: string[] = [];
  const runner: Runner = (argv, options) => {
    calls.push([argv.join(" "), options?.stdin ?? ""].join("|"));
    if (argv.includes("-json")) {
      return Promise.resolve({
        code: 0,
        stdout: JSON.stringify([
          { ifname: "tern1", group: String(READY_GROUP) },
          { ifname: "tern2", group: "default" },
          { ifname: "eth0", group: String(READY_GROUP) },
        ]),
        stderr: "",
      });
    }
    const failed = (options?.stdin ?? "").includes("ternbad");
    return Promise.resolve(
      failed ? { code: 1, stdout: "", stderr: "Operation not permitted\nCommand failed -:2\n" } : {
        code: 1,
        stdout: "",
        stderr: 'Cannot find device "terngone"\nCommand failed -:2\n',
      },
    );
  };
  const groups = new IpVethGroups(new Ip(runner), { netns: "/run/netns/n1" });
  assertEquals(await groups.list(), new Map([["tern1", READY_GROUP], ["tern2", 0]]));
  assertEquals(calls[0], "ip -n n1 -json link show type veth|");
  await groups.set(new Map([["tern2", READY_GROUP], ["terngone", READY_GROUP]]));
  assertEquals(
    calls[1],
    `ip -n n1 -force -batch -|link set dev tern2 group ${READY_GROUP}\nlink set dev terngone group ${READY_GROUP}\n`,
  );
  await assertRejects(
    () => groups.set(new Map([["tern2", 0], ["ternbad", 0]])),
    Error,
    "Cannot set the interface group of 1 veth(s): link set dev ternbad group 0: Operation not permitted",
  );
});

Deno.test("NetlinkVethGroups sets each group in-process, skips a gone veth, names a failure and lists through ip", async () => {
  const set: string[] = [];
  const netlink = {
    replaceHostRoute: () => {},
    linkMac: () => undefined,
    deleteLink: () => Promise.resolve(false),
    addVeth: () => Promise.resolve(),
    setGroup: (veth: string, group: number) => {
      if (veth === "terngone") return false;
      if (veth === "ternbusy") throw new Error("Cannot set the interface group of ternbusy: EBUSY");
      set.push(`${veth} ${group}`);
      return true;
    },
  };
  const lister = {
    list: () => Promise.resolve(new Map([["tern0", 0]])),
    set: () => Promise.reject(new Error("not used")),
  };
  const groups = new NetlinkVethGroups(lister, netlink);
  await groups.set(new Map([["tern0", READY_GROUP], ["terngone", READY_GROUP]]));
  assertEquals(set, [`tern0 ${READY_GROUP}`]);
  await assertRejects(
    () => groups.set(new Map([["ternbusy", 0], ["tern1", 0]])),
    Error,
    "Cannot set the interface group of 1 veth(s): link set dev ternbusy group 0: Cannot set the interface group of ternbusy: EBUSY",
  );
  assertEquals(set.at(-1), "tern1 0", "the others are still set");
  assertEquals(await groups.list(), new Map([["tern0", 0]]));
});

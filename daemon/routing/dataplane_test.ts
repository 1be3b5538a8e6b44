import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import type { Endpoint } from "../../src/api.ts";
import { Ip } from "../../src/ip.ts";
import { hostVethName } from "../../src/names.ts";
import type { Runner, RunResult } from "../../src/runner.ts";
import { Dataplane, renderEndpointRemoval, VethMissingError } from "./dataplane.ts";
import { LocalEndpoints } from "../../src/local_endpoints.ts";

function endpoint(ip: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    containerID: `c-${ip}`,
    ifname: "eth0",
    network: "tern",
    netns: `/var/run/netns/${ip}`,
    ip,
    podCIDR: "10.244.1.0/24",
    hostVeth: `tern${ip.split(".").join("").padEnd(11, "0")}`,
    podMac: "0a:58:00:00:00:01",
    state: "programmed",
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}

interface Call {
  argv: readonly string[];
  stdin: string | undefined;
}

/** A fake `ip`: answers by the joined argv (or by `stdin` for batches), records every call. */
function fakeRunner(answers: Record<string, Partial<RunResult>> = {}) {
  const calls: Call[] = [];
  const run: Runner = (argv, options) => {
    calls.push({ argv, stdin: options?.stdin });
    const answer = answers[options?.stdin ?? argv.join(" ")] ?? {};
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...answer });
  };
  return { run, calls };
}

Deno.test("programEndpoint() installs the /32 route with tern's protocol, and no rule unless rulesFor() gives some", async () => {
  const { run, calls } = fakeRunner();
  const ep = endpoint("10.244.1.7");
  const endpoints = new LocalEndpoints();
  await new Dataplane(new Ip(run), { routeProtocol: 116, endpoints }).programEndpoint(ep);
  assertEquals(calls, [{
    argv: ["ip", "-force", "-batch", "-"],
    stdin: `route replace 10.244.1.7/32 dev ${ep.hostVeth} scope link table 254 proto 116\n`,
  }]);
  assertEquals(endpoints.list().map((e) => e.ip), ["10.244.1.7"]);
});

Deno.test("programEndpoint() adds the rules rulesFor() gives in the same batch, and a rule that exists already is fine", async () => {
  const ep = endpoint("10.244.1.7");
  // A second bound pod's ADD meets its pod CIDR's rule already there.
  const stdin = `route replace 10.244.1.7/32 dev ${ep.hostVeth} scope link table 254 proto 116\n` +
    "rule add to 10.244.1.0/24 lookup 254 priority 512 proto 116\n" +
    "rule add from 10.244.1.7/32 lookup 100 priority 1536 proto 116\n";
  const { run, calls } = fakeRunner({
    [stdin]: { code: 1, stderr: "RTNETLINK answers: File exists\nCommand failed -:2\n" },
  });
  const dataplane = new Dataplane(new Ip(run), {
    routeProtocol: 116,
    rulesFor: (e) => [
      { priority: 512, dst: "10.244.1.0/24", table: 254 },
      { priority: 1536, src: `${e.ip}/32`, table: 100 },
    ],
  });
  await dataplane.programEndpoint(ep);
  assertEquals(calls.map((c) => c.stdin), [stdin]);
  assertEquals(dataplane.endpoints.size, 1);
});

Deno.test("programEndpoint() surfaces ip's error per line, rolls back what applied and forgets the endpoint", async () => {
  const ep = endpoint("10.2.4.4");
  const { run, calls } = fakeRunner({
    [
      `route replace 10.2.4.4/32 dev ${ep.hostVeth} scope link table 254 proto 116\n`
    ]: {
      code: 1,
      stderr: `Cannot find device "${ep.hostVeth}"\nCommand failed -:1\n`,
    },
  });
  const endpoints = new LocalEndpoints();
  await assertRejects(
    () => new Dataplane(new Ip(run), { routeProtocol: 116, endpoints }).programEndpoint(ep),
    Error,
    `Cannot program endpoint 10.2.4.4: route replace 10.2.4.4/32 dev ${ep.hostVeth} scope link table 254 proto 116: Cannot find device`,
  );
  assertEquals(endpoints.size, 0);
  assertEquals(calls[1]?.stdin, renderEndpointRemoval("10.2.4.4", 116).join("\n") + "\n");
});

Deno.test("programEndpoint() of an endpoint programmed before keeps its state when it fails", async () => {
  const ep = endpoint("10.2.4.5");
  const { run, calls } = fakeRunner({
    [
      `route replace 10.2.4.5/32 dev ternnew scope link table 254 proto 116\n`
    ]: { code: 1, stderr: `Cannot find device "ternnew"\nCommand failed -:1\n` },
  });
  const endpoints = new LocalEndpoints();
  endpoints.load([ep]);
  await assertRejects(
    () =>
      new Dataplane(new Ip(run), { routeProtocol: 116, endpoints }).programEndpoint({
        ...ep,
        hostVeth: "ternnew",
      }),
    Error,
    "Cannot find device",
  );
  assertEquals(endpoints.list().map((e) => e.hostVeth), [ep.hostVeth]);
  assertEquals(calls.length, 1, "no rollback of the earlier programming");
});

Deno.test("removeEndpoint() forgets the endpoint, deletes only tern's route and rules, then the veth; gone is success", async () => {
  const ep = endpoint("10.244.1.7");
  const removal = renderEndpointRemoval("10.244.1.7", 116).join("\n") + "\n";
  assertEquals(removal.split("\n").slice(0, 3), [
    "rule del to 10.244.1.7/32 priority 512 proto 116",
    "rule del from 10.244.1.7/32 priority 1536 proto 116",
    "route del 10.244.1.7/32 table 254 proto 116",
  ]);
  const { run, calls } = fakeRunner({
    [removal]: {
      code: 1,
      stderr: "RTNETLINK answers: No such file or directory\nCommand failed -:2\n" +
        "RTNETLINK answers: No such process\nCommand failed -:3\n",
    },
    [`ip link del dev ${ep.hostVeth}`]: { code: 1, stderr: `Cannot find device "${ep.hostVeth}"` },
  });
  const endpoints = new LocalEndpoints();
  endpoints.load([ep]);
  await new Dataplane(new Ip(run), { routeProtocol: 116, endpoints }).removeEndpoint(ep);
  assertEquals(calls.map((c) => c.stdin ?? c.argv.join(" ")), [
    removal,
    `ip link del dev ${ep.hostVeth}`,
  ]);
  assertEquals(endpoints.size, 0);
});

Deno.test("removeEndpoint() derives the veth name of an endpoint that was never programmed", async () => {
  const ep = endpoint("10.244.1.8", { state: "allocated", hostVeth: "", containerID: "abc" });
  const { run, calls } = fakeRunner();
  await new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(ep);
  assertEquals(calls[1]?.argv, ["ip", "link", "del", "dev", await hostVethName("abc", "eth0")]);
});

Deno.test("removeEndpoint() runs no link del for a veth whose sysctl directory is gone, one for a veth still there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { run, calls } = fakeRunner();
    const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116, rpFilterDir: dir });
    const gone = endpoint("10.244.1.7");
    await dataplane.removeEndpoint(gone);
    assertEquals(calls.length, 1, "the route and rules only: CNI DEL deleted the veth");
    const present = endpoint("10.244.1.8");
    await Deno.mkdir(`${dir}/${present.hostVeth}`);
    await dataplane.removeEndpoint(present);
    assertEquals(calls.at(-1)?.argv, ["ip", "link", "del", "dev", present.hostVeth]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("removeEndpoint() runs no ip at all for a veth that is gone when no pod can have rules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { run, calls } = fakeRunner();
    const dataplane = new Dataplane(new Ip(run), {
      routeProtocol: 116,
      rpFilterDir: dir,
      perPodRules: false,
    });
    await dataplane.removeEndpoint(endpoint("10.244.1.7"));
    assertEquals(calls.length, 0, "the kernel took the route with the veth");
    const present = endpoint("10.244.1.8");
    await Deno.mkdir(`${dir}/${present.hostVeth}`);
    await dataplane.removeEndpoint(present);
    assertEquals(calls.length, 2, "a veth still there: its route and rules, then the veth");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("removeEndpoint() deletes a veth still there over netlink, with no ip exec when no pod can have rules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const deleted: string[] = [];
    const netlink = {
      replaceHostRoute: () => {},
      setGroup: () => true,
      linkMac: () => undefined,
      deleteLink: (veth: string) => Promise.resolve(deleted.push(veth) > 0),
      addVeth: () => Promise.resolve(),
    };
    const { run, calls } = fakeRunner();
    const dataplane = new Dataplane(new Ip(run), {
      routeProtocol: 116,
      rpFilterDir: dir,
      perPodRules: false,
      netlink,
    });
    const present = endpoint("10.244.1.8");
    await Deno.mkdir(`${dir}/${present.hostVeth}`);
    await dataplane.removeEndpoint(present);
    assertEquals(deleted, [present.hostVeth]);
    assertEquals(calls.length, 0, "the kernel takes the route with the veth");

    await dataplane.removeEndpoint(present, { keepVeth: true });
    assertEquals(deleted.length, 1, "an ADD's undo keeps the plugin's veth");
    assertEquals(calls.length, 1, "its route goes through ip");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("removeEndpoint() removes an endpoint's rules through ip, then deletes its veth over netlink", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events: string[] = [];
    const netlink = {
      replaceHostRoute: () => {},
      setGroup: () => true,
      linkMac: () => undefined,
      deleteLink: (veth: string) => Promise.resolve(events.push(`netlink del ${veth}`) > 0),
      addVeth: () => Promise.resolve(),
    };
    const { run } = fakeRunner();
    const dataplane = new Dataplane(
      new Ip((argv, options) => (events.push(argv.join(" ")), run(argv, options))),
      { routeProtocol: 116, rpFilterDir: dir, netlink },
    );
    const present = endpoint("10.244.1.8");
    await Deno.mkdir(`${dir}/${present.hostVeth}`);
    await dataplane.removeEndpoint(present);
    assertEquals(events, ["ip -force -batch -", `netlink del ${present.hostVeth}`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("removeEndpoint() never deletes a link without tern's prefix", async () => {
  const { run, calls } = fakeRunner();
  await new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(
    endpoint("10.244.1.8", { hostVeth: "eth0" }),
  );
  assertEquals(calls.length, 1);
  assert(calls[0]!.stdin?.startsWith("rule del to 10.244.1.8/32"));
});

Deno.test("removeEndpoint() throws on a real failure", async () => {
  const { run } = fakeRunner({
    [renderEndpointRemoval("10.244.1.7", 116).join("\n") + "\n"]: {
      code: 2,
      stderr: "RTNETLINK answers: Operation not permitted\nCommand failed -:3\n",
    },
  });
  await assertRejects(
    () => new Dataplane(new Ip(run), { routeProtocol: 116 }).removeEndpoint(endpoint("10.244.1.7")),
    Error,
    "route del 10.244.1.7/32 table 254 proto 116: RTNETLINK answers: Operation not permitted",
  );
});

Deno.test("a change that fails tells unsettled(), one that succeeds does not", async () => {
  const ep = endpoint("10.2.4.4");
  const route = `route replace 10.2.4.4/32 dev ${ep.hostVeth} scope link table 254 proto 116\n`;
  const removal = renderEndpointRemoval("10.2.4.4", 116).join("\n") + "\n";
  let failing = true;
  const calls: string[] = [];
  const run: Runner = (argv, options) => {
    calls.push(options?.stdin ?? argv.join(" "));
    const fail = failing && (options?.stdin === route || options?.stdin === removal);
    return Promise.resolve(
      fail
        ? {
          code: 2,
          stdout: "",
          stderr: "RTNETLINK answers: Operation not permitted\nCommand failed -:1\n",
        }
        : { code: 0, stdout: "", stderr: "" },
    );
  };
  let told = 0;
  const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116, unsettled: () => told++ });
  await assertRejects(() => dataplane.programEndpoint(ep), Error, "Operation not permitted");
  assertEquals(told, 1, "its rollback failed too: the route may be left without an endpoint");
  await assertRejects(() => dataplane.removeEndpoint(ep), Error, "Operation not permitted");
  assertEquals(told, 2);
  failing = false;
  await dataplane.programEndpoint(ep);
  await dataplane.removeEndpoint(ep);
  assertEquals(told, 2, "what succeeded is settled by the dataplane itself");
  await assertRejects(
    () => dataplane.programEndpoint({ ...ep, hostVeth: "" }),
    TypeError,
    "no host veth",
  );
  assertEquals(told, 2, "refused before touching anything");
});

Deno.test("enableIpForward() writes 1 once and leaves an enabled switch alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ip_forward`;
    await Deno.writeTextFile(path, "0\n");
    const dataplane = new Dataplane(new Ip(fakeRunner().run), {
      routeProtocol: 116,
      ipForwardPath: path,
    });
    assertEquals(await dataplane.enableIpForward(), true);
    assertEquals(await Deno.readTextFile(path), "1\n");
    assertEquals(await dataplane.enableIpForward(), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("programEndpoint() turns on strict rp_filter on the host veth before its routes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ep = endpoint("10.244.1.7");
    await Deno.mkdir(`${dir}/${ep.hostVeth}`);
    await Deno.writeTextFile(`${dir}/${ep.hostVeth}/rp_filter`, "0\n");
    const { run, calls } = fakeRunner();
    const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116, rpFilterDir: dir });
    await dataplane.programEndpoint(ep);
    assertEquals(await Deno.readTextFile(`${dir}/${ep.hostVeth}/rp_filter`), "1\n");
    assertEquals(calls.length, 1);

    // A veth that does not exist: nothing is installed, the error names it (a 404 at the API).
    const gone = endpoint("10.244.1.8");
    await assertRejects(
      () => dataplane.programEndpoint(gone),
      VethMissingError,
      `Cannot program endpoint 10.244.1.8: no host veth ${gone.hostVeth} on this node`,
    );
    assertEquals(calls.length, 1);
    assertEquals(dataplane.endpoints.list().map((e) => e.ip), ["10.244.1.7"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setRpFilter() is false for a veth that is gone and leaves names without tern's prefix alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dataplane = new Dataplane(new Ip(fakeRunner().run), {
      routeProtocol: 116,
      rpFilterDir: dir,
    });
    assertEquals(await dataplane.setRpFilter("tern0123456789a"), false);
    await Deno.mkdir(`${dir}/eth0`);
    await Deno.writeTextFile(`${dir}/eth0/rp_filter`, "0\n");
    assertEquals(await dataplane.setRpFilter("eth0"), true);
    assertEquals(await Deno.readTextFile(`${dir}/eth0/rp_filter`), "0\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("programEndpoint() writes the route of an endpoint without rules over netlink, with the echo expected; a failure rolls back through ip", async () => {
  const written: string[] = [];
  let fail = false;
  const netlink = {
    replaceHostRoute: (ip: string, veth: string, protocol: number) => {
      if (fail) throw new Error(`Cannot replace the route to ${ip}/32 via ${veth}: ENODEV`);
      written.push(`${ip} ${veth} ${protocol}`);
    },
    setGroup: () => true,
    linkMac: () => undefined,
    deleteLink: () => Promise.resolve(true),
    addVeth: () => Promise.resolve(),
  };
  const { run, calls } = fakeRunner();
  const dataplane = new Dataplane(new Ip(run), { routeProtocol: 116, netlink });
  const ep = endpoint("10.244.1.7");
  await dataplane.programEndpoint(ep);
  assertEquals(written, [`10.244.1.7 ${ep.hostVeth} 116`]);
  assertEquals(calls.length, 0, "no ip exec");

  fail = true;
  const other = endpoint("10.244.1.8");
  await assertRejects(
    () => dataplane.programEndpoint(other),
    Error,
    `Cannot program endpoint 10.244.1.8: route replace 10.244.1.8/32 dev ${other.hostVeth} scope link table 254 proto 116: Cannot replace the route`,
  );
  assertEquals(calls.length, 1, "the rollback of what may have applied");
  assertEquals(dataplane.endpoints.list().map((e) => e.ip), ["10.244.1.7"]);
});

Deno.test("programEndpoint() goes through ip for an endpoint with rules, even with netlink", async () => {
  const netlink = {
    replaceHostRoute: () => {
      throw new Error("not for an endpoint with rules");
    },
    setGroup: () => true,
    linkMac: () => undefined,
    deleteLink: () => Promise.resolve(true),
    addVeth: () => Promise.resolve(),
  };
  const { run, calls } = fakeRunner();
  const dataplane = new Dataplane(new Ip(run), {
    routeProtocol: 116,
    netlink,
    rulesFor: (ep) => [{ priority: 1536, src: `${ep.ip}/32`, table: 100 }],
  });
  await dataplane.programEndpoint(endpoint("10.244.1.7"));
  assertEquals(calls.length, 1);
  assert(calls[0]!.stdin?.includes("rule add from 10.244.1.7/32"));
});

Deno.test("repairSysctls() turns forwarding and each programmed veth's rp_filter back on, and says what it repaired", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ip_forward`;
    await Deno.writeTextFile(path, "1\n");
    const a = endpoint("10.244.1.7");
    const b = endpoint("10.244.1.8");
    b.hostVeth = "tern0000000000b";
    for (const ep of [a, b]) {
      await Deno.mkdir(`${dir}/${ep.hostVeth}`);
      await Deno.writeTextFile(`${dir}/${ep.hostVeth}/rp_filter`, "1\n");
    }
    const dataplane = new Dataplane(new Ip(fakeRunner().run), {
      routeProtocol: 116,
      rpFilterDir: dir,
      ipForwardPath: path,
    });
    await dataplane.programEndpoint(a);
    await dataplane.programEndpoint(b);
    assertEquals(await dataplane.repairSysctls(), []);

    await Deno.writeTextFile(path, "0\n");
    await Deno.writeTextFile(`${dir}/${b.hostVeth}/rp_filter`, "0\n");
    assertEquals(await dataplane.repairSysctls(), [
      "net.ipv4.ip_forward",
      `net.ipv4.conf.${b.hostVeth}.rp_filter`,
    ]);
    assertEquals(await Deno.readTextFile(path), "1\n");
    assertEquals(await Deno.readTextFile(`${dir}/${b.hostVeth}/rp_filter`), "1\n");

    // A veth gone meanwhile is no repair and no error.
    await Deno.remove(`${dir}/${a.hostVeth}`, { recursive: true });
    assertEquals(await dataplane.repairSysctls(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

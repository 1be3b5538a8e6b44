import { assertEquals, assertThrows } from "../../test/assert.ts";
import { FakeClock } from "../../src/clock.ts";
import { recordingLogger } from "../../test/recording_logger.ts";
import { NetlinkError, NetnsStrandedError } from "../../src/rtnetlink.ts";
import { LocalEndpoints } from "../../src/local_endpoints.ts";
import { asAdded, FakePod, HOST_VETH, hostLinks, namespaces } from "./_fake_pod.ts";
import type { PodNamespaces } from "./pod_side.ts";
import type { HostLinks } from "./pod_side_guard.ts";
import { podSidePass, startPodSideGuard, STRANDED_EXIT_CODE } from "./pod_side_guard.ts";

Deno.test("podSidePass() checks each endpoint with a namespace, logs and counts each repair", () => {
  const sound = new FakePod(asAdded());
  const drifted = new FakePod(asAdded().filter((a) => a.kind !== "neighbour"));
  const opened: string[] = [];
  const lines: string[] = [];
  const counted: string[] = [];
  const base = { ip: "10.244.1.5", hostVeth: HOST_VETH, ifname: "eth0" };
  const pass = podSidePass(namespaces({ "/ns/a": sound, "/ns/b": drifted }, opened), hostLinks(), [
    { ...base, containerID: "a", netns: "/ns/a" },
    { ...base, containerID: "b", netns: "/ns/b" },
    { ...base, containerID: "c", netns: "/ns/gone" },
    { ...base, containerID: "d" },
  ], { log: recordingLogger(lines), onRepair: (o) => counted.push(o) });
  assertEquals(opened, ["/ns/a", "/ns/b", "/ns/gone"]);
  assertEquals([pass.checked, pass.gone, pass.failed, pass.repaired], [2, 1, 0, {
    pod_neighbour: 1,
  }]);
  assertEquals(counted, ["pod_neighbour"]);
  assertEquals(lines.length, 1);
  assertEquals(lines[0]!.startsWith("warn Repaired the pod side of an endpoint"), true);
  assertEquals(lines[0]!.includes('"netns":"/ns/b"'), true);
});

Deno.test("podSidePass() ends the process at once when the thread is stranded in a pod's namespace", () => {
  const lines: string[] = [];
  const stranded: PodNamespaces = {
    withSocket: () => {
      throw new NetnsStrandedError("/ns/a", 1);
    },
  };
  const ep = {
    containerID: "a",
    ifname: "eth0",
    ip: "10.244.1.5",
    hostVeth: HOST_VETH,
    netns: "/ns/a",
  };
  class Exited extends Error {}
  let code: number | undefined;
  assertThrows(() =>
    podSidePass(stranded, hostLinks(), [ep, { ...ep, containerID: "b" }], {
      log: recordingLogger(lines),
      exit: (c) => {
        code = c;
        throw new Exited();
      },
    }), Exited);
  assertEquals(code, STRANDED_EXIT_CODE);
  assertEquals(lines.length, 1);
  assertEquals(lines[0]!.startsWith("error Stranded in a pod's network namespace"), true);
});

Deno.test("startPodSideGuard() checks at start-up, then every interval, until stopped", async () => {
  const clock = new FakeClock(0);
  const pod = new FakePod(asAdded());
  const opened: string[] = [];
  const passes: number[] = [];
  const ep = {
    containerID: "a",
    ifname: "eth0",
    ip: "10.244.1.5",
    hostVeth: HOST_VETH,
    netns: "/ns/a",
  };
  const guard = startPodSideGuard(namespaces({ "/ns/a": pod }, opened), hostLinks(), () => [ep], {
    intervalMs: 10_000,
    clock,
    onPass: (pass) => passes.push(pass.checked),
  });
  await clock.tick(0);
  assertEquals(passes, [1], "the start-up pass");
  pod.objects = pod.objects.filter((o) => o.kind !== "neighbour");
  await clock.tick(9_999);
  assertEquals(passes, [1]);
  await clock.tick(1);
  assertEquals(passes, [1, 1]);
  assertEquals(pod.requests.length, 1, "the deleted entry put back");
  await guard.stop();
  await clock.tick(60_000);
  assertEquals(opened.length, 2);
});

Deno.test("podSidePass() leaves an endpoint its ADD is still setting up to the ADD", () => {
  const half = new FakePod([]); // the daemon answered; the plugin has not set the pod side yet
  const opened: string[] = [];
  const ep = { containerID: "a", ifname: "eth0", ip: "10.244.1.5", hostVeth: HOST_VETH };
  const pass = podSidePass(namespaces({ "/ns/a": half }, opened), hostLinks(), [
    { ...ep, netns: "/ns/a" },
  ], { settling: (e) => e.containerID === "a" });
  assertEquals([pass.checked, pass.settling, pass.repaired], [0, 1, {}]);
  assertEquals(opened, [], "its namespace not even opened");
  assertEquals(half.requests, []);
});

Deno.test("podSidePass() counts a check that fails as its host veth goes as gone, not failed", () => {
  let vethThere = true;
  const links: HostLinks = { linkMac: (name) => vethThere ? hostLinks().linkMac(name) : undefined };
  const deleting: PodNamespaces = {
    withSocket: () => {
      vethThere = false; // the DEL deletes the pair while the check runs
      throw new NetlinkError("Cannot route add 169.254.1.1/32 dev eth0: errno 100", 100);
    },
  };
  const lines: string[] = [];
  const ep = { containerID: "a", ifname: "eth0", ip: "10.244.1.5", hostVeth: HOST_VETH };
  const pass = podSidePass(deleting, links, [{ ...ep, netns: "/ns/a" }], {
    log: recordingLogger(lines),
  });
  assertEquals([pass.gone, pass.failed], [1, 0]);
  assertEquals(lines, []);
  vethThere = true; // the same failure with the veth still there is a warning
  const kept: PodNamespaces = {
    withSocket: () => {
      throw new NetlinkError("Cannot route add 169.254.1.1/32 dev eth0: errno 100", 100);
    },
  };
  const failed = podSidePass(kept, links, [{ ...ep, netns: "/ns/a" }], {
    log: recordingLogger(lines),
  });
  assertEquals(failed.failed, 1);
  assertEquals(lines.length, 1);
});

Deno.test("startPodSideGuard() checks an endpoint once it has settled after its last change", async () => {
  const clock = new FakeClock(100_000);
  const endpoints = new LocalEndpoints({ now: () => clock.now() });
  const pod = new FakePod([]);
  const passes: { checked: number; settling: number }[] = [];
  const guard = startPodSideGuard(
    namespaces({ "/ns/a": pod }),
    hostLinks(),
    () => endpoints.list(),
    {
      intervalMs: 2_000,
      clock,
      settleMs: 3_000,
      changedAt: (ep) => endpoints.changedAt(ep),
      onPass: (p) => passes.push({ checked: p.checked, settling: p.settling }),
    },
  );
  await clock.tick(0);
  endpoints.upsert({
    containerID: "a",
    ifname: "eth0",
    ip: "10.244.1.5",
    hostVeth: HOST_VETH,
    netns: "/ns/a",
  });
  await clock.tick(2_000); // 2 s after the ADD: left to it
  assertEquals(passes.at(-1), { checked: 0, settling: 1 });
  assertEquals(pod.requests, []);
  await clock.tick(2_000); // 4 s: settled, checked, and its missing pod side put back
  assertEquals(passes.at(-1), { checked: 1, settling: 0 });
  assertEquals(pod.requests.length > 0, true);
  await guard.stop();
});
